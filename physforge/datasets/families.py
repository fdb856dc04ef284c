"""PDE families with random coefficients, initial conditions, domains and sampling: the
instances of the generalization benchmark (``benchmarks/generalization.py``).

Every family is a pair of plain functions: ``draw(rng)`` picks the physics (coefficients,
domain, horizon, initial-condition seed) and returns JSON-able parameters; ``simulate(p, n, m)``
integrates on a fine periodic grid and returns a :class:`Simulation` with the true equation.
Periodic problems are solved pseudo-spectrally with the ETDRK4 integrator of
:mod:`physforge.discovery.design.solver` (2/3 de-aliasing, any number of space dimensions,
systems and complex fields), on a grid and a step that resolve the solution far below the
smallest noise level; :func:`observe` then subsamples that solution the way an experiment
would: a uniform or irregular (jittered) grid, a crop of the domain, scattered points, and
additive Gaussian noise of ``noise × std`` per field.

True equations are ``{lhs: {term: coefficient}}`` in the result grammar; a complex coefficient
is a Python ``complex``, complex-field terms use ``abs(u)**2*u``, a coordinate factor ``x**2*u``
and a given (not modelled) variable ``V*u``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from physforge.discovery.spectral import etdrk4
from physforge.errors import ConfigError

__all__ = [
    "FAMILIES",
    "Simulation",
    "periodic_solve",
    "simulate_family",
    "observe",
    "add_field_noise",
    "write_dataset",
    "FORMATS",
]

SPACE = ("x", "y", "z")


@dataclass
class Simulation:
    """A fine-grid solution: ``fields[name]`` over (t, space…); ``given`` are variables that
    are data, not modelled (a potential); ``truth`` the equation per lhs."""

    t: np.ndarray
    coords: dict[str, np.ndarray]
    fields: dict[str, np.ndarray]
    truth: dict[str, dict[str, complex | float]]
    given: dict[str, np.ndarray] = field(default_factory=dict)
    resolution: dict[str, int] = field(default_factory=dict)  # fine points per output point


# --- the integrator --------------------------------------------------------------------------
def periodic_solve(
    lengths: list[float],
    origins: list[float],
    n: list[int],
    lin: Callable[[list[np.ndarray]], np.ndarray],
    nonlinear: Callable[[np.ndarray, Callable], np.ndarray],
    u0: np.ndarray,
    t_end: float,
    n_saves: int,
    dt_max: float,
    complex_field: bool = False,
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Integrate ``u_t = L u + N(u)`` on a periodic box with ETDRK4.

    ``u0`` is (fields, *n); ``lin(k)`` gives the diagonal Fourier symbol of L, broadcastable
    to (fields, *n), from the wavenumber arrays ``k`` (one per axis, meshed); ``nonlinear(u, d)``
    gets the physical fields and ``d(i, orders)``, the spectral derivative of field ``i`` with
    ``orders`` per axis, and returns N(u) in physical space. Returns (t, grids, u) with ``u``
    of shape (n_saves, fields, *n), saved at ``n_saves`` equal intervals over [0, t_end].
    """
    dims = len(n)
    grids = [o + length * np.arange(m) / m for o, length, m in zip(origins, lengths, n)]
    ks = [2.0 * np.pi * np.fft.fftfreq(m, d=length / m) for length, m in zip(lengths, n)]
    kmesh = np.meshgrid(*ks, indexing="ij")
    dealias = np.ones(n, dtype=bool)
    for k in kmesh:
        dealias &= np.abs(k) < (2.0 / 3.0) * np.abs(k).max()
    axes = tuple(range(1, dims + 1))
    symbol = np.broadcast_to(lin(list(kmesh)), u0.shape).astype(complex)
    ik = [1j * k for k in kmesh]

    def to_phys(vh: np.ndarray) -> np.ndarray:
        u = np.fft.ifftn(vh, axes=axes)
        return u if complex_field else u.real

    def rhs(vh: np.ndarray) -> np.ndarray:
        cache: dict[tuple, np.ndarray] = {}

        def d(i: int, orders: tuple[int, ...]) -> np.ndarray:
            if (i, orders) not in cache:
                mult = np.ones(n, dtype=complex)
                for a, o in enumerate(orders):
                    if o:
                        mult = mult * ik[a] ** o
                u = np.fft.ifftn(vh[i] * mult)
                cache[(i, orders)] = u if complex_field else u.real
            return cache[(i, orders)]

        return np.fft.fftn(nonlinear(to_phys(vh), d), axes=axes) * dealias

    save_dt = t_end / (n_saves - 1)
    save_every = max(1, int(np.ceil(save_dt / dt_max)))
    # the initial condition band-limited to the de-aliased modes: unresolved modes would
    # otherwise rotate at the dispersion's frequencies and swamp u_t
    vh = etdrk4(
        symbol,
        rhs,
        np.fft.fftn(u0, axes=axes) * dealias,
        save_dt / save_every,
        (n_saves - 1) * save_every,
        save_every,
    )
    if not np.all(np.isfinite(vh)):
        raise ConfigError("periodic_solve: the solution diverged; reduce dt_max")
    u = np.fft.ifftn(vh, axes=tuple(a + 1 for a in axes))
    return np.linspace(0.0, t_end, n_saves), grids, (u if complex_field else u.real)


def _smooth_random(
    rng: np.random.Generator,
    lengths: list[float],
    n: list[int],
    modes: float,
    complex_field: bool = False,
) -> np.ndarray:
    """A random smooth periodic field: Gaussian spectrum of width ``modes`` wavelengths per
    domain, scaled to max |u| = 1."""
    kmesh = np.meshgrid(*[np.fft.fftfreq(m, d=1.0 / m) for m in n], indexing="ij")
    k2 = sum(k**2 for k in kmesh)
    spec = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * np.exp(-k2 / (2 * modes**2))
    spec.flat[0] = 0.0
    u: np.ndarray = np.fft.ifftn(spec)
    u = u if complex_field else u.real
    return u / np.abs(u).max()


def _unif(rng, lo, hi) -> float:
    return float(rng.uniform(lo, hi))


def _logu(rng, lo, hi) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _lap(field: str, dims: int, coef) -> dict:
    return {f"{field}_{a}{a}": coef for a in SPACE[:dims]}


def _fine(n_out: int, need: int) -> tuple[int, int]:
    """(fine points, stride): at least ``need`` fine points, a multiple of ``n_out``."""
    s = max(2, int(np.ceil(need / n_out)))
    return n_out * s, s


# --- the families ----------------------------------------------------------------------------
# Each: draw(rng, dims) -> params; simulate(p, n_out per axis, n_saves) -> Simulation.


def _draw_advection_diffusion(rng, dims):
    length = _unif(rng, 5.0, 20.0)
    modes = int(rng.integers(2, 6))
    d = _logu(rng, 0.01, 0.2) * (length / 10.0) ** 2
    k0 = 2 * np.pi * modes / length
    return {
        "length": length,
        "modes": modes,
        "D": d,
        "c": [float(rng.choice([-1, 1]) * rng.uniform(0.2, 2.0)) for _ in range(dims)],
        "t_end": _unif(rng, 0.3, 1.0) / (d * k0**2),
    }


def _sim_advection_diffusion(p, n_out, n_saves, rng):
    dims = len(n_out)
    fine = [_fine(m, 2 * m) for m in n_out]
    c, d = p["c"], p["D"]

    def lin(k):
        return sum(-1j * ci * ki - d * ki**2 for ci, ki in zip(c, k))[None]

    u0 = _smooth_random(rng, [p["length"]] * dims, [f for f, _ in fine], p["modes"])[None]
    t, grids, u = periodic_solve(
        [p["length"]] * dims,
        [0.0] * dims,
        [f for f, _ in fine],
        lin,
        lambda u, _d: np.zeros_like(u),
        u0,
        p["t_end"],
        n_saves,
        p["t_end"] / (n_saves - 1),
    )
    truth = {f"u_{a}": -ci for a, ci in zip(SPACE, c)} | _lap("u", dims, d)
    return Simulation(
        t,
        dict(zip(SPACE, grids)),
        {"u": u[:, 0]},
        {"u_t": truth},
        resolution={a: s for a, (_, s) in zip(SPACE, fine)},
    )


def _draw_heat(rng, dims):
    p = _draw_advection_diffusion(rng, dims)
    p["c"] = [0.0] * dims
    return p


def _sim_heat(p, n_out, n_saves, rng):
    sim = _sim_advection_diffusion(p, n_out, n_saves, rng)
    sim.truth = {"u_t": _lap("u", len(n_out), p["D"])}
    return sim


def _draw_burgers(rng, dims):
    modes = int(rng.integers(1, 4))
    length = _unif(rng, 10.0, 30.0)
    amp = _unif(rng, 0.5, 2.0)
    re = _unif(rng, 4.0, 16.0)  # amplitude × wavelength / ν
    nu = amp * length / (2 * np.pi * modes) / re
    return {
        "length": length,
        "modes": modes,
        "amplitude": amp,
        "nu": nu,
        "offset": _unif(rng, -0.5, 0.5),
        "t_end": _unif(rng, 1.0, 3.0) * length / (2 * np.pi * modes) / amp,
    }


def _sim_burgers(p, n_out, n_saves, rng):
    (m,) = n_out
    nf, s = _fine(m, 1024)
    length, nu = p["length"], p["nu"]
    u0 = p["offset"] + p["amplitude"] * _smooth_random(rng, [length], [nf], p["modes"])[None]
    dx = length / nf
    t, (x,), u = periodic_solve(
        [length],
        [-length / 2],
        [nf],
        lambda k: -nu * k[0] ** 2,
        lambda u, d: -u * d(0, (1,))[None],
        u0,
        p["t_end"],
        n_saves,
        0.2 * dx / (abs(p["offset"]) + p["amplitude"] * 2),
    )
    return Simulation(
        t, {"x": x}, {"u": u[:, 0]}, {"u_t": {"u*u_x": -1.0, "u_xx": nu}}, resolution={"x": s}
    )


def _draw_kdv(rng, dims):
    a, b = _unif(rng, 1.0, 6.0), _unif(rng, 0.5, 2.0)
    c = sorted([_unif(rng, 0.5, 3.0), _unif(rng, 0.5, 3.0)], reverse=True)
    width = 2 * np.sqrt(b / min(c))
    length = _unif(rng, 12.0, 20.0) * width
    return {
        "a": a,
        "b": b,
        "speeds": c,
        "length": length,
        "positions": [_unif(rng, -0.4, -0.2) * length, _unif(rng, -0.1, 0.2) * length],
        "t_end": _unif(rng, 0.3, 0.6) * length / c[0],
    }


def _sim_kdv(p, n_out, n_saves, rng):
    (m,) = n_out
    nf, s = _fine(m, 768)
    a, b, length = p["a"], p["b"], p["length"]
    x = -length / 2 + length * np.arange(nf) / nf
    u0 = sum(
        3 * c / a / np.cosh(np.sqrt(c / b) / 2 * (x - x0 + j * length)) ** 2
        for c, x0 in zip(p["speeds"], p["positions"])
        for j in (-2, -1, 0, 1, 2)
    )[None]
    t, (x,), u = periodic_solve(
        [length],
        [-length / 2],
        [nf],
        lambda k: 1j * b * k[0] ** 3,
        lambda u, d: -a * u * d(0, (1,))[None],
        u0,
        p["t_end"],
        n_saves,
        0.4 * (length / nf) / (3 * max(p["speeds"])),
    )
    return Simulation(
        t, {"x": x}, {"u": u[:, 0]}, {"u_t": {"u*u_x": -a, "u_xxx": -b}}, resolution={"x": s}
    )


def _draw_kuramoto_sivashinsky(rng, dims):
    b, c = _unif(rng, 0.5, 2.0), _unif(rng, 0.5, 2.0)
    cell = 2 * np.pi * np.sqrt(2 * c / b)  # fastest-growing wavelength
    return {
        "a": _unif(rng, 0.5, 2.0),
        "b": b,
        "c": c,
        "length": _unif(rng, 5.0, 12.0) * cell,
        "modes": int(rng.integers(1, 4)),
        "amplitude": _unif(rng, 0.5, 2.0),
        "t_end": _unif(rng, 20.0, 60.0) * c / b**2,
    }


def _sim_kuramoto_sivashinsky(p, n_out, n_saves, rng):
    (m,) = n_out
    nf, s = _fine(m, 512)
    a, b, c, length = p["a"], p["b"], p["c"], p["length"]
    u0 = (
        p["amplitude"]
        * b
        / a
        * np.sqrt(b / c)
        * _smooth_random(rng, [length], [nf], p["modes"] + 2)[None]
    )
    t, (x,), u = periodic_solve(
        [length],
        [0.0],
        [nf],
        lambda k: b * k[0] ** 2 - c * k[0] ** 4,
        lambda u, d: -a * u * d(0, (1,))[None],
        u0,
        p["t_end"],
        n_saves,
        0.01 * c / b**2,
    )
    return Simulation(
        t,
        {"x": x},
        {"u": u[:, 0]},
        {"u_t": {"u*u_x": -a, "u_xx": -b, "u_xxxx": -c}},
        resolution={"x": s},
    )


def _front_scale(rng, dims):
    d, r = _logu(rng, 0.05, 1.0), _unif(rng, 0.5, 2.0)
    width = np.sqrt(d / r)
    length = width * (_unif(rng, 20.0, 50.0) if dims == 1 else _unif(rng, 10.0, 20.0))
    return d, r, length


def _draw_fisher_kpp(rng, dims):
    d, r, length = _front_scale(rng, dims)
    return {
        "D": d,
        "r": r,
        "length": length,
        "bumps": int(rng.integers(1, 4)),
        "t_end": _unif(rng, 0.15, 0.35) * length / (2 * np.sqrt(d * r)),
    }


def _bumps(rng, grids, count, length, width):
    mesh = np.meshgrid(*grids, indexing="ij")
    out = np.zeros(mesh[0].shape)
    for _ in range(count):
        centre = [rng.uniform(0, length) for _ in grids]
        r2 = sum(
            np.minimum(np.abs(g - c0), length - np.abs(g - c0)) ** 2 for g, c0 in zip(mesh, centre)
        )
        out += rng.uniform(0.3, 1.0) * np.exp(-r2 / (2 * (width * rng.uniform(1, 3)) ** 2))
    return out / max(1.0, float(out.max()))  # smooth, in [0, 1]


def _sim_fisher_kpp(p, n_out, n_saves, rng):
    dims = len(n_out)
    fine = [_fine(m, 512 if dims == 1 else 128) for m in n_out]
    nf = [f for f, _ in fine]
    d, r, length = p["D"], p["r"], p["length"]
    grids = [length * np.arange(f) / f for f in nf]
    u0 = _bumps(rng, grids, p["bumps"], length, np.sqrt(d / r))[None]
    t, grids, u = periodic_solve(
        [length] * dims,
        [0.0] * dims,
        nf,
        lambda k: r - d * sum(ki**2 for ki in k),
        lambda u, _d: -r * u**2,
        u0,
        p["t_end"],
        n_saves,
        0.05 / r,
    )
    truth = _lap("u", dims, d) | {"u": r, "u**2": -r}
    return Simulation(
        t,
        dict(zip(SPACE, grids)),
        {"u": u[:, 0]},
        {"u_t": truth},
        resolution={a: s for a, (_, s) in zip(SPACE, fine)},
    )


def _draw_allen_cahn(rng, dims):
    d, r, length = _front_scale(rng, dims)
    return {
        "D": d,
        "a": r,
        "length": length,
        "modes": int(rng.integers(2, 6)),
        "amplitude": _unif(rng, 0.2, 0.9),
        "t_end": _unif(rng, 2.0, 8.0) / r,
    }


def _sim_allen_cahn(p, n_out, n_saves, rng):
    dims = len(n_out)
    fine = [_fine(m, 512 if dims == 1 else 128) for m in n_out]
    nf = [f for f, _ in fine]
    d, a, length = p["D"], p["a"], p["length"]
    u0 = p["amplitude"] * _smooth_random(rng, [length] * dims, nf, p["modes"])[None]
    t, grids, u = periodic_solve(
        [length] * dims,
        [0.0] * dims,
        nf,
        lambda k: a - d * sum(ki**2 for ki in k),
        lambda u, _d: -a * u**3,
        u0,
        p["t_end"],
        n_saves,
        0.05 / a,
    )
    truth = _lap("u", dims, d) | {"u": a, "u**3": -a}
    return Simulation(
        t,
        dict(zip(SPACE, grids)),
        {"u": u[:, 0]},
        {"u_t": truth},
        resolution={a_: s for a_, (_, s) in zip(SPACE, fine)},
    )


def _draw_nls(rng, dims):
    a, b = _unif(rng, 0.3, 1.0), float(rng.choice([-1, 1]) * rng.uniform(0.5, 2.0))
    width = _unif(rng, 0.7, 1.5)
    return {
        "a": a,
        "b": b,
        "amplitude": _unif(rng, 1.0, 2.5) * np.sqrt(a) / width,
        "width": width,
        "momentum": _unif(rng, -1.0, 1.0),
        "length": _unif(rng, 12.0, 24.0),
        "t_end": _unif(rng, 0.5, 2.0),
    }


def _sim_nls(p, n_out, n_saves, rng):
    (m,) = n_out
    nf, s = _fine(m, 1024)
    a, b, length = p["a"], p["b"], p["length"]
    x = -length / 2 + length * np.arange(nf) / nf
    envelope = sum(1 / np.cosh((x + j * length) / p["width"]) for j in (-2, -1, 0, 1, 2))
    momentum = 2 * np.pi / length * round(p["momentum"] * length / (2 * np.pi))  # periodic
    u0 = (p["amplitude"] * envelope * np.exp(1j * momentum * x))[None]
    t, (x,), u = periodic_solve(
        [length],
        [-length / 2],
        [nf],
        lambda k: -1j * a * k[0] ** 2,
        lambda u, _d: 1j * b * np.abs(u) ** 2 * u,
        u0,
        p["t_end"],
        n_saves,
        0.02 / (abs(b) * p["amplitude"] ** 2),
        complex_field=True,
    )
    return Simulation(
        t,
        {"x": x},
        {"u": u[:, 0]},
        {"u_t": {"u_xx": 1j * a, "abs(u)**2*u": 1j * b}},
        resolution={"x": s},
    )


def _draw_nls_harmonic(rng, dims):
    a, q = _unif(rng, 0.3, 1.0), _unif(rng, 0.1, 1.0)
    sigma = (a / q) ** 0.25  # ground-state width of i u_t = -a u_xx + q x² u
    shift = _unif(rng, 0.5, 2.0) * sigma
    return {
        "a": a,
        "q": q,
        "b": float(rng.choice([0.0, _unif(rng, -1.0, 1.0)])),
        "width": sigma * _unif(rng, 0.7, 1.4),
        "shift": shift,
        "momentum": _unif(rng, -1.0, 1.0) / sigma,
        "length": 2 * (shift + 10 * sigma),
        "mode": str(rng.choice(["coordinate", "given"])),
        "t_end": _unif(rng, 0.5, 1.5) * np.pi / np.sqrt(a * q),
    }


def _sim_nls_harmonic(p, n_out, n_saves, rng):
    (m,) = n_out
    nf, s = _fine(m, 512)
    a, q, b, length = p["a"], p["q"], p["b"], p["length"]
    x = -length / 2 + length * np.arange(nf) / nf
    potential = q * x**2
    u0 = (
        np.exp(-((x - p["shift"]) ** 2) / (2 * p["width"] ** 2))
        * np.exp(1j * p["momentum"] * x)
        / (np.pi * p["width"] ** 2) ** 0.25
    )[None]
    t, (x,), u = periodic_solve(
        [length],
        [-length / 2],
        [nf],
        lambda k: -1j * a * k[0] ** 2,
        lambda u, _d: -1j * potential * u + 1j * b * np.abs(u) ** 2 * u,
        u0,
        p["t_end"],
        n_saves,
        0.05 / (q * (length / 2) ** 2),
        complex_field=True,
    )
    truth: dict = {"u_xx": 1j * a}
    given = {}
    if p["mode"] == "given":
        truth["V*u"] = -1j
        given["V"] = np.broadcast_to(potential, u[:, 0].shape).copy()
    else:
        truth["x**2*u"] = -1j * q
    if b:
        truth["abs(u)**2*u"] = 1j * b
    return Simulation(t, {"x": x}, {"u": u[:, 0]}, {"u_t": truth}, given, resolution={"x": s})


def _draw_ginzburg_landau(rng, dims):
    return {
        "d": _unif(rng, 0.5, 2.0),
        "alpha": _unif(rng, -2.0, 2.0),
        "beta": _unif(rng, -2.0, 2.0),
        "r": _unif(rng, 0.5, 2.0),
        "length": _unif(rng, 30.0, 80.0),
        "modes": int(rng.integers(3, 10)),
        "amplitude": _unif(rng, 0.2, 0.8),
        "t_end": _unif(rng, 5.0, 20.0),
    }


def _sim_ginzburg_landau(p, n_out, n_saves, rng):
    (m,) = n_out
    nf, s = _fine(m, 512)
    d, alpha, beta, r, length = p["d"], p["alpha"], p["beta"], p["r"], p["length"]
    u0 = (
        p["amplitude"]
        * np.sqrt(r)
        * _smooth_random(rng, [length], [nf], p["modes"], complex_field=True)[None]
    )
    t, (x,), u = periodic_solve(
        [length],
        [0.0],
        [nf],
        lambda k: r - (d + 1j * alpha) * k[0] ** 2,
        lambda u, _d: -r * (1 + 1j * beta) * np.abs(u) ** 2 * u,
        u0,
        p["t_end"],
        n_saves,
        0.01 / r,
        complex_field=True,
    )
    truth = {"u": r, "u_xx": d + 1j * alpha, "abs(u)**2*u": -r * (1 + 1j * beta)}
    return Simulation(t, {"x": x}, {"u": u[:, 0]}, {"u_t": truth}, resolution={"x": s})


def _draw_swift_hohenberg(rng, dims):
    q, r = _unif(rng, 0.5, 1.5), _unif(rng, 0.1, 0.5)
    return {
        "q": q,
        "r": r,
        "g": _unif(rng, 0.0, 1.5),
        "length": 2 * np.pi / q * int(rng.integers(8, 17)),
        "amplitude": _unif(rng, 0.1, 0.5),
        "t_end": _unif(rng, 3.0, 10.0) / r,
    }


def _sim_swift_hohenberg(p, n_out, n_saves, rng):
    (m,) = n_out
    nf, s = _fine(m, 512)
    q, r, g, length = p["q"], p["r"], p["g"], p["length"]
    modes = length * q / (2 * np.pi)
    u0 = p["amplitude"] * _smooth_random(rng, [length], [nf], 1.5 * modes)[None]
    t, (x,), u = periodic_solve(
        [length],
        [0.0],
        [nf],
        lambda k: r - (q**2 - k[0] ** 2) ** 2,
        lambda u, _d: g * u**2 - u**3,
        u0,
        p["t_end"],
        n_saves,
        0.02,
    )
    truth = {"u": r - q**4, "u_xx": -2 * q**2, "u_xxxx": -1.0, "u**3": -1.0}
    if g:
        truth["u**2"] = g
    return Simulation(t, {"x": x}, {"u": u[:, 0]}, {"u_t": truth}, resolution={"x": s})


def _draw_gray_scott(rng, dims):
    du = _unif(rng, 0.8, 1.2)
    return {
        "Du": du,
        "Dv": du * _unif(rng, 0.4, 0.6),
        "F": _unif(rng, 0.025, 0.055),
        "k": _unif(rng, 0.055, 0.065),
        "length": _unif(rng, 40.0, 60.0),
        "patches": int(rng.integers(2, 6)),
        "t_end": _unif(rng, 200.0, 400.0),
    }


def _sim_gray_scott(p, n_out, n_saves, rng):
    fine = [_fine(m, 128) for m in n_out]
    nf = [f for f, _ in fine]
    du, dv, f, k_, length = p["Du"], p["Dv"], p["F"], p["k"], p["length"]
    grids = [length * np.arange(m) / m for m in nf]
    seed = _bumps(rng, grids, p["patches"], length, length / 30)
    seed = seed / seed.max()
    u0 = np.stack(
        [1.0 - 0.5 * seed, 0.25 * seed + 0.01 * np.abs(_smooth_random(rng, [length] * 2, nf, 8))]
    )
    diff = np.array([du, dv]).reshape(2, 1, 1)

    def nonlinear(u, _d):
        uvv = u[0] * u[1] ** 2
        return np.stack([-uvv + f * (1 - u[0]), uvv - (f + k_) * u[1]])

    t, grids, u = periodic_solve(
        [length] * 2,
        [0.0] * 2,
        nf,
        lambda k: -diff * (k[0] ** 2 + k[1] ** 2)[None],
        nonlinear,
        u0,
        p["t_end"],
        n_saves,
        0.5,
    )
    truth = {
        "u_t": _lap("u", 2, du) | {"u*v**2": -1.0, "1": f, "u": -f},
        "v_t": _lap("v", 2, dv) | {"u*v**2": 1.0, "v": -(f + k_)},
    }
    return Simulation(
        t,
        dict(zip(SPACE, grids)),
        {"u": u[:, 0], "v": u[:, 1]},
        truth,
        resolution={a: s for a, (_, s) in zip(SPACE, fine)},
    )


def _draw_fitzhugh_nagumo(rng, dims):
    return {
        "Du": _unif(rng, 0.5, 1.5),
        "Dv": _unif(rng, 5.0, 15.0),
        "eps": _unif(rng, 0.2, 1.0),
        "b": _unif(rng, 0.5, 1.5),
        "feed": _unif(rng, 0.02, 0.2),
        "length": _unif(rng, 10.0, 20.0),
        "modes": int(rng.integers(2, 5)),
        "t_end": _unif(rng, 10.0, 30.0),
    }


def _sim_fitzhugh_nagumo(p, n_out, n_saves, rng):
    fine = [_fine(m, 128) for m in n_out]
    nf = [f for f, _ in fine]
    du, dv, eps, b, feed, length = p["Du"], p["Dv"], p["eps"], p["b"], p["feed"], p["length"]
    u0 = np.stack(
        [
            _smooth_random(rng, [length] * 2, nf, p["modes"]),
            0.5 * _smooth_random(rng, [length] * 2, nf, p["modes"]),
        ]
    )
    lin = np.array([[1.0], [-eps * b]]).reshape(2, 1, 1)
    diff = np.array([du, dv]).reshape(2, 1, 1)

    def nonlinear(u, _d):
        return np.stack([-(u[0] ** 3) - u[1] + feed, eps * u[0]])

    t, grids, u = periodic_solve(
        [length] * 2,
        [0.0] * 2,
        nf,
        lambda k: lin - diff * (k[0] ** 2 + k[1] ** 2)[None],
        nonlinear,
        u0,
        p["t_end"],
        n_saves,
        0.02,
    )
    truth = {
        "u_t": _lap("u", 2, du) | {"u": 1.0, "u**3": -1.0, "v": -1.0, "1": feed},
        "v_t": _lap("v", 2, dv) | {"u": eps, "v": -eps * b},
    }
    return Simulation(
        t,
        dict(zip(SPACE, grids)),
        {"u": u[:, 0], "v": u[:, 1]},
        truth,
        resolution={a: s for a, (_, s) in zip(SPACE, fine)},
    )


@dataclass(frozen=True)
class Family:
    draw: Callable
    simulate: Callable
    dims: tuple[int, ...]  # space dimensions it is drawn in
    complex_field: bool = False
    sizes: dict = field(default_factory=dict)  # dims -> (n range, nt range) of the output


_S1 = {1: ((96, 256), (51, 151))}
FAMILIES: dict[str, Family] = {
    "advection_diffusion": Family(
        _draw_advection_diffusion,
        _sim_advection_diffusion,
        (1, 2, 3),
        sizes={1: ((64, 256), (41, 121)), 2: ((32, 64), (21, 41)), 3: ((20, 28), (17, 25))},
    ),
    "heat": Family(
        _draw_heat,
        _sim_heat,
        (1, 2, 3),
        sizes={1: ((64, 256), (41, 121)), 2: ((32, 64), (21, 41)), 3: ((20, 28), (17, 25))},
    ),
    "burgers": Family(_draw_burgers, _sim_burgers, (1,), sizes={1: ((128, 256), (51, 151))}),
    "kdv": Family(_draw_kdv, _sim_kdv, (1,), sizes={1: ((128, 256), (51, 151))}),
    "kuramoto_sivashinsky": Family(
        _draw_kuramoto_sivashinsky,
        _sim_kuramoto_sivashinsky,
        (1,),
        sizes={1: ((128, 256), (51, 151))},
    ),
    "fisher_kpp": Family(
        _draw_fisher_kpp,
        _sim_fisher_kpp,
        (1, 2),
        sizes={1: ((128, 256), (51, 121)), 2: ((40, 64), (21, 41))},
    ),
    "allen_cahn": Family(
        _draw_allen_cahn,
        _sim_allen_cahn,
        (1, 2),
        sizes={1: ((128, 256), (51, 121)), 2: ((40, 64), (21, 41))},
    ),
    "nls": Family(_draw_nls, _sim_nls, (1,), True, sizes={1: ((128, 256), (51, 151))}),
    "nls_harmonic": Family(
        _draw_nls_harmonic, _sim_nls_harmonic, (1,), True, sizes={1: ((128, 256), (51, 151))}
    ),
    "ginzburg_landau": Family(_draw_ginzburg_landau, _sim_ginzburg_landau, (1,), True, sizes=_S1),
    "swift_hohenberg": Family(_draw_swift_hohenberg, _sim_swift_hohenberg, (1,), sizes=_S1),
    "gray_scott": Family(_draw_gray_scott, _sim_gray_scott, (2,), sizes={2: ((40, 64), (21, 41))}),
    "fitzhugh_nagumo": Family(
        _draw_fitzhugh_nagumo, _sim_fitzhugh_nagumo, (2,), sizes={2: ((40, 64), (21, 41))}
    ),
}


def simulate_family(
    name: str, physics: dict, n_out: list[int], n_saves: int, seed: int
) -> Simulation:
    """The fine solution of one instance (deterministic in its parameters and ``seed``)."""
    try:
        fam = FAMILIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown PDE family {name!r}; choose one of {', '.join(sorted(FAMILIES))}"
        ) from None
    return fam.simulate(physics, list(n_out), n_saves, np.random.default_rng(seed))


# --- observation -----------------------------------------------------------------------------
def observe(
    sim: Simulation,
    *,
    time_stride: int,
    irregular: bool,
    crop: list[float],
    offset: list[float],
    scattered: float | None,
    rng: np.random.Generator,
) -> xr.Dataset:
    """What an experiment records from the fine solution.

    Space: every ``resolution[axis]``-th fine point (a uniform grid), or with ``irregular`` one
    point drawn at random inside each such cell (a non-uniform grid); ``crop[i]`` keeps that
    fraction of axis i from ``offset[i]`` (fractions of the free length). Time: every
    ``time_stride``-th saved step, or one drawn inside each run with ``irregular``. With
    ``scattered`` (a fraction), that fraction of the grid's points at random, as a table over
    ``point``. Exact values: noise is added separately (:func:`add_field_noise`).
    """
    space = list(sim.coords)
    index: dict[str, np.ndarray] = {}
    nt = sim.t.size
    starts = np.arange(0, nt - 1, time_stride)
    if irregular:
        it = starts + rng.integers(0, time_stride, starts.size)
        it[0] = 0
        index["t"] = np.append(it, nt - 1)
    else:
        index["t"] = np.append(starts, nt - 1)
    for i, a in enumerate(space):
        s = sim.resolution[a]
        n_fine = sim.coords[a].size
        n_out = n_fine // s
        keep = max(1, int(round(crop[i] * n_out)))
        first = int(round(offset[i] * (n_out - keep)))
        cells = np.arange(first, first + keep) * s
        index[a] = cells + (rng.integers(0, s, keep) if irregular else 0)
    coords = {"t": sim.t[index["t"]]} | {a: sim.coords[a][index[a]] for a in space}
    sel = np.ix_(*[index[d] for d in ["t", *space]])
    data = {name: arr[sel] for name, arr in (sim.fields | sim.given).items()}
    ds = xr.Dataset({k: (["t", *space], v) for k, v in data.items()}, coords=coords)
    if scattered is None:
        return ds
    flat = ds.stack(point=["t", *space]).reset_index("point")
    n = flat.sizes["point"]
    pick = np.sort(rng.choice(n, size=max(1, int(round(scattered * n))), replace=False))
    flat = flat.isel(point=pick).drop_vars("point", errors="ignore")
    return flat


def add_field_noise(
    ds: xr.Dataset, fields: list[str], noise: float, rng: np.random.Generator
) -> xr.Dataset:
    """Gaussian noise of ``noise × std`` on each of ``fields`` (complex: std of |u - mean|,
    split equally between real and imaginary parts); coordinates and given variables exact."""
    out = ds.copy()
    if noise == 0:
        return out
    for f in fields:
        v = ds[f].values
        std = float(np.sqrt(np.mean(np.abs(v - v.mean()) ** 2)))
        if np.iscomplexobj(v):
            e = (rng.standard_normal(v.shape) + 1j * rng.standard_normal(v.shape)) / np.sqrt(2)
        else:
            e = rng.standard_normal(v.shape)
        out[f] = (ds[f].dims, v + noise * std * e)
    return out


# --- files -----------------------------------------------------------------------------------
FORMATS = {
    "grid": (".nc", ".npz", ".mat", ".zarr"),
    "complex": (".npz", ".mat", ".zarr"),
    "scattered": (".csv", ".parquet"),
}


def write_dataset(ds: xr.Dataset, path: str) -> None:
    """Write a grid (.nc, .npz, .mat, .zarr) or scattered table (.csv, .parquet) the way a user
    would: arrays as (t, x, …) with coordinate vectors, tables as one column per variable."""
    suffix = path[path.rfind(".") :]
    if suffix in (".csv", ".parquet"):
        frame = pd.DataFrame(
            {k: ds[k].values for k in [*ds.coords, *ds.data_vars] if ds[k].dims == ("point",)}
        )
        if suffix == ".csv":
            frame.to_csv(path, index=False, float_format="%.17g")
        else:
            frame.to_parquet(path, index=False)
    elif suffix == ".nc":
        ds.to_netcdf(path)
    elif suffix == ".zarr":
        ds.to_zarr(path, mode="w")
    elif suffix in (".npz", ".mat"):
        arrays = {str(k): np.asarray(ds[k].values) for k in [*ds.coords, *ds.data_vars]}
        if suffix == ".npz":
            np.savez(path, allow_pickle=False, **arrays)
        else:
            from scipy.io import savemat

            savemat(path, arrays)
    else:
        raise ConfigError(
            f"{path}: unknown format {suffix!r}; expected one of "
            f"{sorted({s for v in FORMATS.values() for s in v})}"
        )
