"""Derivatives of gridded fields along one axis, one small protocol and a registry by name.

Every method differentiates a NumPy array along ``axis`` and says how many points at each edge
it cannot trust (``margin``); strong-form features drop those rows. ``step`` is the grid step
of a uniform axis or the axis's coordinates; on a non-uniform axis finite differences and local
polynomials use stencils on the actual offsets (Fornberg weights, least squares), and the
spectral method, which needs a uniform periodic grid, falls back to finite differences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from physforge.errors import ConfigError, DataValidationError

__all__ = [
    "DerivativeMethod",
    "DERIVATIVES",
    "ROUTES",
    "derivative_choices",
    "FiniteDifference",
    "Spectral",
    "LocalPolynomial",
    "fornberg_weights",
    "get_derivative_method",
    "is_uniform",
]


class DerivativeMethod(Protocol):
    name: str

    def differentiate(
        self,
        values: np.ndarray,
        step: float | np.ndarray,
        axis: int,
        order: int,
        periodic: bool = False,
    ) -> np.ndarray: ...

    def margin(self, order: int, periodic: bool = False) -> int: ...


def fornberg_weights(offsets: np.ndarray, order: int) -> np.ndarray:
    """Weights of the ``order``-th derivative at 0 from samples at ``offsets`` (Fornberg 1988)."""
    n = len(offsets)
    c = np.zeros((n, order + 1))
    c1, c4 = 1.0, offsets[0]
    c[0, 0] = 1.0
    for i in range(1, n):
        mn = min(i, order)
        c2, c5, c4 = 1.0, c4, offsets[i]
        for j in range(i):
            c3 = offsets[i] - offsets[j]
            c2 *= c3
            if j == i - 1:
                for k in range(mn, 0, -1):
                    c[i, k] = c1 * (k * c[i - 1, k - 1] - c5 * c[i - 1, k]) / c2
                c[i, 0] = -c1 * c5 * c[i - 1, 0] / c2
            for k in range(mn, 0, -1):
                c[j, k] = (c4 * c[j, k] - k * c[j, k - 1]) / c3
            c[j, 0] = c4 * c[j, 0] / c3
        c1 = c2
    return c[:, order]


def is_uniform(coord: np.ndarray) -> bool:
    """Whether the samples of a coordinate are equally spaced (relative spread below 1e-6)."""
    d = np.diff(np.asarray(coord, dtype=float))
    return d.size > 0 and bool(np.allclose(d, d[0], rtol=1e-6, atol=0))


def _as_grid(step: float | np.ndarray) -> tuple[float | None, np.ndarray | None]:
    """(uniform step, None) or (None, coordinates of a non-uniform axis)."""
    if np.ndim(step) == 0:
        return float(step), None
    x = np.asarray(step, dtype=float)
    return (float(x[1] - x[0]), None) if is_uniform(x) else (None, x)


def _apply_stencils(
    values: np.ndarray, axis: int, weights: np.ndarray, lo: np.ndarray, rows: slice
) -> np.ndarray:
    """``out[i] = Σ_k weights[i, k] · v[lo[i] + k]`` along ``axis`` for the rows ``rows`` (NaN
    elsewhere): a different stencil per point, as a non-uniform grid needs."""
    v = np.moveaxis(values, axis, -1)
    out = np.full(v.shape, np.nan, dtype=np.result_type(v, float))
    idx = np.arange(v.shape[-1])[rows]
    acc = np.zeros(v.shape[:-1] + (idx.size,), dtype=out.dtype)
    for k in range(weights.shape[1]):
        acc += weights[idx, k] * v[..., lo[idx] + k]
    out[..., rows] = acc
    return np.moveaxis(out, -1, axis)


def _uniform_step(coord: np.ndarray, name: str) -> float:
    d = np.diff(coord)
    if d.size == 0:
        raise DataValidationError(f"coordinate {name!r} has a single value; cannot differentiate")
    if not np.allclose(d, d[0], rtol=1e-6, atol=0):
        raise DataValidationError(
            f"coordinate {name!r} is not uniformly spaced (steps from {d.min():.4g} to "
            f"{d.max():.4g}); use derivatives='weak' or resample"
        )
    return float(d[0])


@dataclass
class FiniteDifference:
    """Central differences of a given accuracy order (edges trimmed, or wrapped if periodic)."""

    accuracy: int = 4
    name: str = "finite-difference"

    def _half(self, order: int) -> int:
        return (order + 1) // 2 + self.accuracy // 2 - 1

    def margin(self, order: int, periodic: bool = False) -> int:
        return 0 if periodic else self._half(order)

    def differentiate(
        self,
        values: np.ndarray,
        step: float | np.ndarray,
        axis: int,
        order: int,
        periodic: bool = False,
    ) -> np.ndarray:
        h = self._half(order)
        dx, coord = _as_grid(step)
        if coord is not None:  # non-uniform: Fornberg weights on each point's actual offsets
            n = coord.size
            if n < 2 * h + 1:
                raise DataValidationError(
                    f"axis of {n} points is too short for a derivative of order {order} "
                    f"(needs at least {2 * h + 1})"
                )
            lo = np.clip(np.arange(n) - h, 0, n - 2 * h - 1)
            w = np.stack(
                [
                    fornberg_weights(coord[i : i + 2 * h + 1] - coord[c], order)
                    for c, i in enumerate(lo)
                ]
            )
            return _apply_stencils(values, axis, w, lo, slice(h, n - h))
        assert dx is not None  # uniform from here on
        offsets = np.arange(-h, h + 1, dtype=float)
        w = fornberg_weights(offsets, order) / dx**order
        v = np.moveaxis(values, axis, -1)
        if periodic:
            out = sum(wk * np.roll(v, -int(o), axis=-1) for wk, o in zip(w, offsets))
        else:
            out = np.full_like(v, np.nan)
            n = v.shape[-1]
            if n < 2 * h + 1:
                raise DataValidationError(
                    f"axis of {n} points is too short for a derivative of order {order} "
                    f"(needs at least {2 * h + 1})"
                )
            acc = np.zeros(v.shape[:-1] + (n - 2 * h,))
            for wk, o in zip(w, offsets):
                acc += wk * v[..., h + int(o) : n - h + int(o)]
            out[..., h : n - h] = acc
        return np.moveaxis(out, -1, axis)


@dataclass
class Spectral:
    """Fourier differentiation on a periodic axis (exact for band-limited data)."""

    name: str = "spectral"

    def margin(self, order: int, periodic: bool = False) -> int:
        return 0 if periodic else FiniteDifference().margin(order)

    def differentiate(
        self,
        values: np.ndarray,
        step: float | np.ndarray,
        axis: int,
        order: int,
        periodic: bool = False,
    ) -> np.ndarray:
        dx, coord = _as_grid(step)
        if coord is not None or not periodic:
            return FiniteDifference().differentiate(values, step, axis, order)
        assert dx is not None  # uniform from here on
        n = values.shape[axis]
        k = 2j * np.pi * np.fft.fftfreq(n, d=dx)
        if n % 2 == 0 and order % 2 == 1:
            k[n // 2] = 0.0
        shape = [1] * values.ndim
        shape[axis] = n
        return np.fft.ifft(
            np.fft.fft(values, axis=axis) * (k**order).reshape(shape), axis=axis
        ).real


@dataclass
class LocalPolynomial:
    """Least-squares polynomial fits in a sliding window (Savitzky–Golay), PDE-FIND's choice
    for noisy data: the derivative of the local fit, not of the noise."""

    window: int = 11
    degree: int = 5
    name: str = "poly"

    def margin(self, order: int, periodic: bool = False) -> int:
        return 0 if periodic else self.window // 2

    def differentiate(
        self,
        values: np.ndarray,
        step: float | np.ndarray,
        axis: int,
        order: int,
        periodic: bool = False,
    ) -> np.ndarray:
        window = self.window if self.window % 2 else self.window + 1
        if values.shape[axis] < window:
            raise DataValidationError(
                f"axis of {values.shape[axis]} points is shorter than the polynomial window "
                f"({window})"
            )
        from scipy.signal import savgol_filter

        degree = max(self.degree, order)
        dx, coord = _as_grid(step)
        if coord is not None:  # non-uniform: least-squares fit on each window's actual offsets
            n, half = coord.size, window // 2
            lo = np.clip(np.arange(n) - half, 0, n - window)
            w = np.stack(
                [
                    _polyfit_derivative(coord[i : i + window] - coord[c], degree, order)
                    for c, i in enumerate(lo)
                ]
            )
            return _apply_stencils(values, axis, w, lo, slice(half, n - half))
        assert dx is not None  # uniform from here on
        return savgol_filter(
            values,
            window,
            degree,
            deriv=order,
            delta=dx,
            axis=axis,
            mode="wrap" if periodic else "interp",
        )


def _polyfit_derivative(offsets: np.ndarray, degree: int, order: int) -> np.ndarray:
    """Weights giving the ``order``-th derivative at 0 of the least-squares polynomial of
    ``degree`` through samples at ``offsets`` (Savitzky–Golay on arbitrary offsets)."""
    scale = np.abs(offsets).max() or 1.0
    V = np.vander(offsets / scale, degree + 1, increasing=True)  # V[j, k] = s_j^k
    pinv = np.linalg.pinv(V)  # coefficients = pinv @ values
    return pinv[order] * math.factorial(order) / scale**order


DERIVATIVES: dict[str, type] = {
    "finite-difference": FiniteDifference,
    "spectral": Spectral,
    "poly": LocalPolynomial,
}


# ``FeatureConfig.derivatives`` values that are not one pointwise method (features.py and the
# discovery flow dispatch on them): auto (the weak form where the grid is uniform, else
# auto-pointwise), weak (WSINDy), auto-pointwise (a method of DERIVATIVES chosen from the
# noise estimate), surrogate (autodiff of a PINN ensemble), meshfree-poly (moving least squares
# on the points: physforge.discovery.meshfree), weak-resampled
# (scattered points resampled onto a grid by MLS, then the weak form: .resample)
ROUTES = ("auto", "weak", "auto-pointwise", "surrogate", "meshfree-poly", "weak-resampled")


def derivative_choices() -> list[str]:
    """Every name ``FeatureConfig.derivatives`` takes: the routes, then the methods."""
    return [*ROUTES, *DERIVATIVES]


def get_derivative_method(name: str, **params) -> DerivativeMethod:
    try:
        cls = DERIVATIVES[name]
    except KeyError:
        raise ConfigError(
            f"unknown derivative method {name!r}; choose one of {sorted(DERIVATIVES)}"
        ) from None
    return cls(**params)


def uniform_step(coord: np.ndarray, name: str) -> float:
    return _uniform_step(coord, name)
