"""Generators of the canonical example PDEs, with a known answer for tests and benchmarks.

Each generator returns a canonical :class:`xarray.Dataset` (coordinates ``t`` then space, one
variable per field) whose ``attrs["equation"]`` holds the true equation in the result grammar.
Noise is additive Gaussian with standard deviation ``noise × std(field)``, as in PDE-FIND.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr
from scipy.integrate import solve_ivp

from physforge.errors import ConfigError

__all__ = ["EXAMPLES", "make_example", "add_noise", "burgers"]


def _wavenumbers(n: int, length: float) -> np.ndarray:
    return 2.0 * np.pi * np.fft.fftfreq(n, d=length / n)


def _dataset(fields: dict[str, np.ndarray], coords: dict[str, np.ndarray], equation: dict[str, str],
             name: str) -> xr.Dataset:
    dims = list(coords)
    ds = xr.Dataset(
        {k: (dims, v.astype(np.float64)) for k, v in fields.items()},
        coords={k: v.astype(np.float64) for k, v in coords.items()},
    )
    ds.attrs.update(
        source=f"physforge example {name}",
        equation="; ".join(f"{lhs} = {rhs}" for lhs, rhs in equation.items()),
        periodic=",".join(d for d in dims if d != "t"),
    )
    return ds


def burgers(nx: int = 256, nt: int = 101, t_end: float = 10.0, nu: float = 0.1) -> xr.Dataset:
    """Viscous Burgers u_t = -u u_x + nu u_xx on x in [-8, 8), periodic, pseudo-spectral.

    The set-up of PDE-FIND's burgers.mat (u0 = exp(-(x+2)^2)), integrated in Fourier space
    with 2/3 de-aliasing and an adaptive 8th-order Runge–Kutta method.
    """
    length = 16.0
    x = -8.0 + length * np.arange(nx) / nx
    t = np.linspace(0.0, t_end, nt)
    k = _wavenumbers(nx, length)
    dealias = np.abs(k) < (2.0 / 3.0) * np.abs(k).max()

    def rhs(_t: float, uh_ri: np.ndarray) -> np.ndarray:
        uh = uh_ri[:nx] + 1j * uh_ri[nx:]
        u = np.fft.ifft(uh).real
        nonlinear = -0.5 * 1j * k * np.fft.fft(u * u) * dealias
        duh = nonlinear - nu * k**2 * uh
        return np.concatenate([duh.real, duh.imag])

    uh0 = np.fft.fft(np.exp(-((x + 2.0) ** 2)))
    sol = solve_ivp(rhs, (0.0, t_end), np.concatenate([uh0.real, uh0.imag]), t_eval=t,
                    method="DOP853", rtol=1e-10, atol=1e-12)
    uh = sol.y[:nx] + 1j * sol.y[nx:]
    u = np.fft.ifft(uh, axis=0).real.T  # (t, x)
    return _dataset({"u": u}, {"t": t, "x": x}, {"u_t": f"-1.0*u*u_x + {nu}*u_xx"}, "burgers")


EXAMPLES: dict[str, Callable[..., xr.Dataset]] = {"burgers": burgers}


def add_noise(ds: xr.Dataset, noise: float, seed: int = 0) -> xr.Dataset:
    """Additive Gaussian noise of ``noise × std`` per field; coordinates stay exact."""
    if noise < 0:
        raise ConfigError(f"noise must be >= 0 (a fraction of the field's std), got {noise}")
    if noise == 0:
        return ds
    rng = np.random.default_rng(seed)
    out = ds.copy()
    for name, da in ds.data_vars.items():
        out[name] = da + noise * float(da.std()) * rng.standard_normal(da.shape)
    out.attrs["noise"] = noise
    return out


def make_example(name: str, noise: float = 0.0, seed: int = 0, **kwargs) -> xr.Dataset:
    try:
        gen = EXAMPLES[name]
    except KeyError:
        raise ConfigError(
            f"unknown example {name!r}; choose one of: {', '.join(sorted(EXAMPLES))}"
        ) from None
    return add_noise(gen(**kwargs), noise, seed)
