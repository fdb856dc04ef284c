"""Generators of the canonical example PDEs, with a known answer for tests and benchmarks.

Each generator returns a canonical :class:`xarray.Dataset` (coordinates ``t`` then space, one
variable per field) whose ``attrs["equation"]`` holds the true equation in the result grammar.
Noise is additive Gaussian with standard deviation ``noise × std(field)``, as in PDE-FIND.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # xarray and scipy are imported where used: `physforge --help` lists the
    import xarray as xr  # examples without paying for them

from physforge.discovery.spectral import etdrk4
from physforge.errors import ConfigError

__all__ = ["EXAMPLES", "make_example", "add_noise", "burgers", "irregular_subgrid"]


def _wavenumbers(n: int, length: float) -> np.ndarray:
    return 2.0 * np.pi * np.fft.fftfreq(n, d=length / n)


def _dataset(
    fields: dict[str, np.ndarray],
    coords: dict[str, np.ndarray],
    equation: dict[str, str],
    name: str,
) -> xr.Dataset:
    dims = list(coords)
    import xarray as xr

    ds = xr.Dataset(
        {
            k: (dims, v.astype(np.complex128 if np.iscomplexobj(v) else np.float64))
            for k, v in fields.items()
        },
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
    from scipy.integrate import solve_ivp

    sol = solve_ivp(
        rhs,
        (0.0, t_end),
        np.concatenate([uh0.real, uh0.imag]),
        t_eval=t,
        method="DOP853",
        rtol=1e-10,
        atol=1e-12,
    )
    uh = sol.y[:nx] + 1j * sol.y[nx:]
    u = np.fft.ifft(uh, axis=0).real.T  # (t, x)
    return _dataset({"u": u}, {"t": t, "x": x}, {"u_t": f"-1.0*u*u_x + {nu}*u_xx"}, "burgers")


def _spectral_1d(
    name: str,
    length: float,
    x0: float,
    nx: int,
    t_end: float,
    nt: int,
    lin_k: Callable[[np.ndarray], np.ndarray],
    u0: Callable[[np.ndarray], np.ndarray],
    dt: float,
    nonlinear_coef: float,
    equation: str,
) -> xr.Dataset:
    """u_t = L u - nonlinear_coef * (u^2/2)_x, solved with ETDRK4 and 2/3 de-aliasing."""
    x = x0 + length * np.arange(nx) / nx
    k = _wavenumbers(nx, length)
    dealias = np.abs(k) < (2.0 / 3.0) * np.abs(k).max()
    save_dt = t_end / (nt - 1)
    save_every = max(1, int(round(save_dt / dt)))
    dt = save_dt / save_every

    def nonlinear(vh: np.ndarray) -> np.ndarray:
        u = np.fft.ifft(vh).real
        return -nonlinear_coef * 0.5j * k * np.fft.fft(u * u) * dealias

    vh = etdrk4(lin_k(k), nonlinear, np.fft.fft(u0(x)), dt, (nt - 1) * save_every, save_every)
    u = np.fft.ifft(vh, axis=1).real
    t = np.linspace(0.0, t_end, nt)
    return _dataset({"u": u}, {"t": t, "x": x}, {"u_t": equation}, name)


def kdv(nx: int = 256, nt: int = 201, t_end: float = 20.0) -> xr.Dataset:
    """Korteweg–de Vries u_t = -6 u u_x - u_xxx on [-30, 30), periodic: two solitons that
    collide (PDE-FIND's set-up)."""

    def u0(x):
        c1, c2 = 5.0, 1.0
        return (
            c1 / 2 / np.cosh(np.sqrt(c1) / 2 * (x + 20)) ** 2
            + c2 / 2 / np.cosh(np.sqrt(c2) / 2 * (x + 5)) ** 2
        )

    return _spectral_1d(
        "kdv",
        60.0,
        -30.0,
        nx,
        t_end,
        nt,
        lambda k: 1j * k**3,
        u0,
        1e-4 * 5,
        6.0,
        "-6.0*u*u_x - 1.0*u_xxx",
    )


def kuramoto_sivashinsky(nx: int = 256, nt: int = 251, t_end: float = 100.0) -> xr.Dataset:
    """Kuramoto–Sivashinsky u_t = -u u_x - u_xx - u_xxxx on [0, 32π), periodic, from
    u0 = cos(x/16)(1 + sin(x/16)) (Kassam & Trefethen's set-up, as PDE-FIND)."""
    return _spectral_1d(
        "kuramoto_sivashinsky",
        32 * np.pi,
        0.0,
        nx,
        t_end,
        nt,
        lambda k: k**2 - k**4,
        lambda x: np.cos(x / 16) * (1 + np.sin(x / 16)),
        0.05,
        1.0,
        "-1.0*u*u_x - 1.0*u_xx - 1.0*u_xxxx",
    )


def reaction_diffusion(
    nx: int = 256,
    nt: int = 201,
    t_end: float = 6.0,
    d: float = 0.1,
    beta: float = 1.0,
    seed: int = 2,
) -> xr.Dataset:
    """A λ–ω reaction–diffusion system of two fields (PDE-FIND's, in 1-D, periodic):
    u_t = d u_xx + (1 - A²) u + β A² v,  v_t = d v_xx - β A² u + (1 - A²) v,  A² = u² + v²."""
    length = 20.0
    x = -10.0 + length * np.arange(nx) / nx
    k = _wavenumbers(nx, length)
    lin = np.concatenate([1.0 - d * k**2, 1.0 - d * k**2])
    # small smooth random start: the growth phase (A from ~0.1 to 1) keeps the cubic terms
    # distinguishable from the linear ones, which they are not on the limit cycle A = 1
    rng = np.random.default_rng(seed)
    smooth = np.exp(-(k**2) / 2.0)
    u0 = np.fft.ifft(np.fft.fft(rng.standard_normal(nx)) * smooth).real
    v0 = np.fft.ifft(np.fft.fft(rng.standard_normal(nx)) * smooth).real
    scale = 0.6 / max(np.abs(u0).max(), np.abs(v0).max())
    u0, v0 = u0 * scale, v0 * scale

    def nonlinear(vh: np.ndarray) -> np.ndarray:
        u, v = np.fft.ifft(vh[:nx]).real, np.fft.ifft(vh[nx:]).real
        a2 = u * u + v * v
        return np.concatenate(
            [np.fft.fft(-a2 * u + beta * a2 * v), np.fft.fft(-beta * a2 * u - a2 * v)]
        )

    save_every = 20
    dt = t_end / (nt - 1) / save_every
    vh = etdrk4(
        lin,
        nonlinear,
        np.concatenate([np.fft.fft(u0), np.fft.fft(v0)]),
        dt,
        (nt - 1) * save_every,
        save_every,
    )
    u, v = np.fft.ifft(vh[:, :nx], axis=1).real, np.fft.ifft(vh[:, nx:], axis=1).real
    t = np.linspace(0.0, t_end, nt)
    b = f"{beta}"
    return _dataset(
        {"u": u, "v": v},
        {"t": t, "x": x},
        {
            "u_t": f"{d}*u_xx + 1.0*u - 1.0*u**3 - 1.0*u*v**2 + {b}*u**2*v + {b}*v**3",
            "v_t": f"{d}*v_xx + 1.0*v - 1.0*u**2*v - 1.0*v**3 - {b}*u**3 - {b}*u*v**2",
        },
        "reaction_diffusion",
    )


def heat2d(
    n: int = 64, nt: int = 51, t_end: float = 2.0, kappa: float = 0.1, seed: int = 1
) -> xr.Dataset:
    """2-D heat equation u_t = κ (u_xx + u_yy) on [0, 2π)², periodic, exact in Fourier space
    from a smooth random initial field."""
    rng = np.random.default_rng(seed)
    x = 2 * np.pi * np.arange(n) / n
    k = np.fft.fftfreq(n, d=1.0 / n)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    k2 = kx**2 + ky**2
    spectrum = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))) * np.exp(-k2 / 8)
    u0h = np.fft.fft2(np.fft.ifft2(spectrum).real)
    t = np.linspace(0.0, t_end, nt)
    u = np.stack([np.fft.ifft2(u0h * np.exp(-kappa * k2 * ti)).real for ti in t])
    u /= np.abs(u).max()
    return _dataset(
        {"u": u}, {"t": t, "x": x, "y": x}, {"u_t": f"{kappa}*u_xx + {kappa}*u_yy"}, "heat2d"
    )


def schrodinger(
    nx: int = 256,
    nt: int = 201,
    t_end: float = 2 * np.pi,
    omega: float = 1.0,
    cubic: float = 0.0,
    given: bool = False,
) -> xr.Dataset:
    """Schrödinger in a harmonic potential, u_t = 0.5i u_xx - i V u + i·cubic·|u|²u with
    V = ½ ω² x², on x in [-8, 8) (periodic; the packet stays far from the edges): a displaced,
    squeezed Gaussian packet that oscillates and breathes. Split into the diagonal i k² part
    and the rest, solved with ETDRK4. ``given``: V is a variable of the dataset and the
    equation reads ``-1.0*I*V*u``; otherwise the potential is the coordinate term
    ``-0.5ω²*I*u*x**2``."""
    length = 16.0
    x = -8.0 + length * np.arange(nx) / nx
    k = _wavenumbers(nx, length)
    potential = 0.5 * omega**2 * x**2

    def nonlinear(vh: np.ndarray) -> np.ndarray:
        u = np.fft.ifft(vh)
        return np.fft.fft(-1j * potential * u + 1j * cubic * np.abs(u) ** 2 * u)

    u0 = np.exp(-((x - 1.5) ** 2)) * np.exp(0.5j * x)
    save_every = 40
    dt = t_end / (nt - 1) / save_every
    vh = etdrk4(-0.5j * k**2, nonlinear, np.fft.fft(u0), dt, (nt - 1) * save_every, save_every)
    u = np.fft.ifft(vh, axis=1)
    t = np.linspace(0.0, t_end, nt)
    rhs = "0.5*I*u_xx - 1.0*I*V*u" if given else f"0.5*I*u_xx - {0.5 * omega**2}*I*u*x**2"
    if cubic:
        rhs += f" + {cubic}*I*u*abs(u)**2"
    fields = {"u": u}
    if given:
        fields["V"] = np.broadcast_to(potential, u.shape)
    ds = _dataset(fields, {"t": t, "x": x}, {"u_t": rhs}, "schrodinger")
    if given:
        ds.attrs["given"] = "V"
    return ds


def fisher_kpp(
    nx: int = 256, nt: int = 101, t_end: float = 8.0, d: float = 0.5, r: float = 1.0
) -> xr.Dataset:
    """Fisher–KPP u_t = d u_xx + r u - r u² on [-20, 20), periodic: a plateau u = 1 whose two
    fronts invade the unstable state u = 0 (u stays in [0, 1])."""
    length = 40.0
    x = -20.0 + length * np.arange(nx) / nx
    k = _wavenumbers(nx, length)
    save_every = 20
    dt = t_end / (nt - 1) / save_every

    def nonlinear(vh: np.ndarray) -> np.ndarray:
        u = np.fft.ifft(vh).real
        return np.fft.fft(-r * u * u)

    u0 = 0.5 * (np.tanh(x + 5.0) - np.tanh(x - 5.0))
    vh = etdrk4(r - d * k**2, nonlinear, np.fft.fft(u0), dt, (nt - 1) * save_every, save_every)
    u = np.fft.ifft(vh, axis=1).real
    t = np.linspace(0.0, t_end, nt)
    return _dataset(
        {"u": u}, {"t": t, "x": x}, {"u_t": f"{d}*u_xx + {r}*u - {r}*u**2"}, "fisher_kpp"
    )


def gray_scott2d(
    n: int = 48,
    nt: int = 41,
    t_end: float = 400.0,
    du: float = 0.2,
    dv: float = 0.1,
    feed: float = 0.04,
    kill: float = 0.06,
    seed: int = 3,
) -> xr.Dataset:
    """2-D Gray–Scott system on [0, 40)², periodic: u_t = du Δu - u v² + F - F u,
    v_t = dv Δv + u v² - (F + k) v, a constant feed term F, spots growing from random seeds."""
    length = 40.0
    x = length * np.arange(n) / n
    k1 = _wavenumbers(n, length)
    kx, ky = np.meshgrid(k1, k1, indexing="ij")
    k2 = kx**2 + ky**2
    rng = np.random.default_rng(seed)
    u0, v0 = np.ones((n, n)), np.zeros((n, n))
    for cx, cy in rng.uniform(0, length, size=(6, 2)):
        d2 = (
            np.minimum(np.abs(x[:, None] - cx), length - np.abs(x[:, None] - cx)) ** 2
            + np.minimum(np.abs(x[None, :] - cy), length - np.abs(x[None, :] - cy)) ** 2
        )
        bump = np.exp(-d2 / 4.0)
        u0 -= 0.5 * bump
        v0 += 0.25 * bump
    lin = np.stack([-du * k2 - feed, -dv * k2 - (feed + kill)])

    def nonlinear(vh: np.ndarray) -> np.ndarray:
        u, v = np.fft.ifft2(vh[0]).real, np.fft.ifft2(vh[1]).real
        uvv = u * v * v
        const = np.zeros((n, n))
        const[0, 0] = feed * n * n  # the constant feed F in Fourier space
        return np.stack([np.fft.fft2(-uvv) + const, np.fft.fft2(uvv)])

    save_every = 20
    dt = t_end / (nt - 1) / save_every
    vh = etdrk4(
        lin,
        nonlinear,
        np.stack([np.fft.fft2(u0), np.fft.fft2(v0)]),
        dt,
        (nt - 1) * save_every,
        save_every,
    )
    u, v = np.fft.ifft2(vh[:, 0]).real, np.fft.ifft2(vh[:, 1]).real
    t = np.linspace(0.0, t_end, nt)
    return _dataset(
        {"u": u, "v": v},
        {"t": t, "x": x, "y": x},
        {
            "u_t": f"{du}*u_xx + {du}*u_yy - 1.0*u*v**2 + {feed} - {feed}*u",
            "v_t": f"{dv}*v_xx + {dv}*v_yy + 1.0*u*v**2 - {feed + kill}*v",
        },
        "gray_scott2d",
    )


EXAMPLES: dict[str, Callable[..., xr.Dataset]] = {
    "schrodinger": schrodinger,
    "burgers": burgers,
    "kdv": kdv,
    "kuramoto_sivashinsky": kuramoto_sivashinsky,
    "reaction_diffusion": reaction_diffusion,
    "heat2d": heat2d,
    "fisher_kpp": fisher_kpp,
    "gray_scott2d": gray_scott2d,
}


def add_noise(ds: xr.Dataset, noise: float, seed: int = 0) -> xr.Dataset:
    """Additive Gaussian noise of ``noise × std`` per field; coordinates stay exact. A complex
    field gets noise of ``noise × std / √2`` on its real and its imaginary part, each with the
    std of that part (PDE-FIND's convention); given variables (``attrs["given"]``) none."""
    if noise < 0:
        raise ConfigError(f"noise must be >= 0 (a fraction of the field's std), got {noise}")
    if noise == 0:
        return ds
    rng = np.random.default_rng(seed)
    out = ds.copy()
    given = str(ds.attrs.get("given", "")).split(",")
    for name, da in ds.data_vars.items():
        if name in given:
            continue
        if np.iscomplexobj(da.values):
            scale = noise / np.sqrt(2.0)
            out[name] = da + scale * (
                float(da.real.std()) * rng.standard_normal(da.shape)
                + 1j * float(da.imag.std()) * rng.standard_normal(da.shape)
            )
        else:
            out[name] = da + noise * float(da.std()) * rng.standard_normal(da.shape)
    out.attrs["noise"] = noise
    return out


def irregular_subgrid(ds: xr.Dataset, sizes: dict[str, int], seed: int = 0) -> xr.Dataset:
    """A non-uniform grid without interpolation: per axis in ``sizes``, a random sorted subset
    of ``sizes[axis]`` of its samples (both ends kept), so every value stays exact. Sampled
    from a fine solution, the steps vary by integer factors, as in uneven sensor spacing or
    adaptive output times."""
    rng = np.random.default_rng(seed)
    picks = {}
    for dim, n in sizes.items():
        size = ds.sizes[dim]
        if not 2 <= n <= size:
            raise ConfigError(
                f"irregular_subgrid: {dim}={n} samples; the axis has {size}, need 2 <= n <= that"
            )
        inner = rng.choice(np.arange(1, size - 1), n - 2, replace=False)
        picks[dim] = np.sort(np.concatenate([[0, size - 1], inner]))
    out = ds.isel(picks)
    out.attrs["periodic"] = ",".join(
        d for d in str(ds.attrs.get("periodic", "")).split(",") if d and d not in sizes
    )
    return out


def make_example(name: str, noise: float = 0.0, seed: int = 0, **kwargs) -> xr.Dataset:
    try:
        gen = EXAMPLES[name]
    except KeyError:
        raise ConfigError(
            f"unknown example {name!r}; choose one of: {', '.join(sorted(EXAMPLES))}"
        ) from None
    return add_noise(gen(**kwargs), noise, seed)
