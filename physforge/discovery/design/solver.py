"""Forward integration of candidate equations: method of lines on a periodic grid.

Each candidate is a set of right-hand sides in the result grammar (``{"u_t": {"u*u_x": -1.0,
"u_xx": 0.1}}``). Terms that are a single derivative (or the field itself) of the lhs field form
a linear operator diagonal in Fourier space; everything else is evaluated pseudo-spectrally
with 2/3 de-aliasing. Time stepping is exponential time differencing RK4, so stiff linear
high-order terms (diffusion, dispersion, hyper-diffusion) cost no step-size restriction.
A model that blows up (wrong-sign diffusion, an unstable nonlinearity) yields NaN from that
time on rather than an error: a diverging candidate is still an answer.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from physforge.discovery.spectral import etdrk4
from physforge.errors import ConfigError

__all__ = ["integrate", "parse_term", "etdrk4", "rates"]


def parse_term(term: str) -> list[tuple[str, str, int]]:
    """``"u**2*u_xx"`` → ``[("u", "", 2), ("u", "xx", 1)]`` (field, derivative axes, power)."""
    if term == "1":
        return []
    out = []
    for factor in term.replace("**", "^").split("*"):
        base, _, power = factor.partition("^")
        field, _, axes = base.partition("_")
        out.append((field, axes, int(power or 1)))
    return out


def integrate(
    equations: Mapping[str, Mapping[str, float]],
    state: xr.Dataset,
    times: np.ndarray,
    max_points: int = 128,
    blowup: float = 1e3,
    max_step: float | None = None,
    stabilise: bool = False,
) -> xr.Dataset:
    """Integrate ``equations`` (lhs → terms) from ``state`` (one snapshot, 1-D periodic space).

    Returns a Dataset over (t, x) on ``times`` and the state's grid, sub-sampled to at most
    ``max_points`` in space (the prediction only has to resolve where models disagree).
    The step is at most ``max_step``, and small enough for ~4 steps per e-fold of the
    nonlinear terms.
    Values after a blow-up (non-finite, or ``blowup`` × the initial amplitude) are NaN.
    With ``stabilise``, linear modes that would grow (anti-diffusion, ``-c u_xx``) are held
    at their size instead: the forecast is then only a plausible field (where the model's
    dominant terms carry the fronts and solitons), not the model's own answer.
    """
    space = [d for d in state.dims]
    if len(space) != 1:
        raise ConfigError(f"forward integration supports one space dimension, got {space}")
    (xd,) = space
    fields = sorted(state.data_vars)
    stride = max(1, int(np.ceil(state.sizes[xd] / max_points)))
    state = state.isel({xd: slice(None, None, stride)})
    x = state[xd].values
    n = x.size
    length = float(x[1] - x[0]) * n
    k = 2.0 * np.pi * np.fft.fftfreq(n, d=length / n)
    dealias = np.abs(k) < (2.0 / 3.0) * np.abs(k).max()
    lin = np.zeros(len(fields) * n, dtype=complex)
    nonlinear_terms: dict[str, dict[str, float]] = {f: {} for f in fields}
    for lhs, terms in equations.items():
        f = lhs.split("_")[0]
        if f not in fields:
            raise ConfigError(f"equation for {lhs!r}: field {f!r} is not in the state {fields}")
        i = fields.index(f)
        for term, c in terms.items():
            factors = parse_term(term)
            if len(factors) == 1 and factors[0][0] == f and factors[0][2] == 1:
                lin[i * n : (i + 1) * n] += c * (1j * k) ** len(factors[0][1])
            else:
                nonlinear_terms[f][term] = c
    if stabilise:
        lin = np.minimum(lin.real, 0.0) + 1j * lin.imag

    def nonlinear(vh: np.ndarray) -> np.ndarray:
        phys = {f: vh[i * n : (i + 1) * n] for i, f in enumerate(fields)}
        cache: dict[tuple[str, str], np.ndarray] = {}

        def value(field: str, axes: str) -> np.ndarray:
            if (field, axes) not in cache:
                cache[(field, axes)] = np.fft.ifft(phys[field] * (1j * k) ** len(axes)).real
            return cache[(field, axes)]

        out = []
        for f in fields:
            acc = np.zeros(n)
            for term, c in nonlinear_terms[f].items():
                col = np.ones(n)
                for field, axes, p in parse_term(term):
                    col = col * value(field, axes) ** p
                acc = acc + c * col
            out.append(np.fft.fft(acc) * dealias)
        return np.concatenate(out)

    times = np.asarray(times, dtype=float)
    save_dt = float(np.min(np.diff(times))) if times.size > 1 else 1.0
    amplitude = max(float(np.abs(state[f].values).max()) for f in fields) or 1.0
    v0 = np.concatenate([np.fft.fft(state[f].values) for f in fields])
    with np.errstate(all="ignore"):  # the nonlinear rate sets the step: ~4 steps per e-fold
        rate = float(np.abs(np.fft.ifft(nonlinear(v0).reshape(len(fields), n))).max()) / amplitude
    dt_target = min(save_dt, 0.25 / rate) if rate > 0 and np.isfinite(rate) else save_dt
    dt_target = min(dt_target, max_step or dt_target)
    save_every = max(1, int(np.ceil(save_dt / dt_target)))
    steps = int(round((times[-1] - times[0]) / save_dt))
    with np.errstate(all="ignore"):
        vh = etdrk4(lin, nonlinear, v0, save_dt / save_every, steps * save_every, save_every)
        u = np.fft.ifft(vh.reshape(vh.shape[0], len(fields), n), axis=2).real
    bad = ~np.isfinite(u) | (np.abs(u) > blowup * amplitude)
    bad = np.maximum.accumulate(bad.any(axis=(1, 2)))
    u[bad] = np.nan
    grid_t = times[0] + save_dt * np.arange(steps + 1)
    out = xr.Dataset(
        {f: (("t", xd), u[:, i]) for i, f in enumerate(fields)}, coords={"t": grid_t, xd: x}
    )
    if grid_t.size == times.size and np.allclose(grid_t, times):
        return out.assign_coords(t=times)
    return out.interp(t=times)


def rates(equations: Mapping[str, Mapping[str, float]], solution: xr.Dataset) -> xr.Dataset:
    """Each lhs's right-hand side evaluated on a periodic 1-D ``solution`` over (t, space):
    what the model says the time derivative is, at every point, for that same field.

    Derivatives are spectral along the space axis; a non-finite state gives NaN. Two models
    compared on one field disagree only where their terms differ in value, whatever the
    positions their own forecasts would drift to.
    """
    t_name, xd = solution[sorted(solution.data_vars)[0]].dims
    x = solution[xd].values
    n = x.size
    k = 2.0 * np.pi * np.fft.fftfreq(n, d=float(x[1] - x[0]))
    cache: dict[tuple[str, str], np.ndarray] = {}

    def value(field: str, axes: str) -> np.ndarray:
        if (field, axes) not in cache:
            u = solution[field].transpose(t_name, xd).values
            if axes.strip(xd):
                raise ConfigError(
                    f"term derivative {field}_{axes}: only {xd!r} is a space axis of the solution"
                )
            good = np.all(np.isfinite(u), axis=1)
            out = np.full(u.shape, np.nan)
            out[good] = (
                np.fft.ifft(np.fft.fft(u[good], axis=1) * (1j * k) ** len(axes), axis=1).real
                if axes
                else u[good]
            )
            cache[(field, axes)] = out
        return cache[(field, axes)]

    out = {}
    for lhs, terms in equations.items():
        acc = np.zeros((solution.sizes[t_name], n))
        for term, c in terms.items():
            col = np.ones_like(acc)
            for field, axes, p in parse_term(term):
                col = col * value(field, axes) ** p
            acc = acc + c * col
        out[lhs] = ((t_name, xd), acc)
    return xr.Dataset(out, coords={t_name: solution[t_name].values, xd: x})
