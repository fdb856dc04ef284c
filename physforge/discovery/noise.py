"""Noise level and periodicity estimates from gridded data."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["estimate_noise", "looks_periodic", "unbiased_power"]


def estimate_noise(values: np.ndarray, axis: int | tuple[int, ...] | None = -1) -> float:
    """Noise std relative to the field's std, from second differences along ``axis``.

    White noise of std s gives second differences of std s*sqrt(6); a smooth field contributes
    little at the grid scale. A robust scale (MAD) keeps fronts from dominating. A complex field:
    the noise of the real and imaginary parts together, sqrt(s_re² + s_im²), over the std of
    the complex values.

    Along one axis the estimate is an upper bound: signal that the grid resolves coarsely (a
    pattern with eight samples per wavelength) adds its own second differences and reads as
    noise. White noise is the same along every axis while the signal's roughness is not, so
    with several axes (a tuple, or ``None`` for every axis with at least five samples) the
    estimate is the smallest of the per-axis bounds.
    """
    if axis is None or isinstance(axis, tuple):
        axes = tuple(range(values.ndim)) if axis is None else axis
        axes = tuple(a for a in axes if values.shape[a] >= 5) or axes[:1]
        return min(_noise_along(values, a) for a in axes)
    return _noise_along(values, axis)


def _noise_along(values: np.ndarray, axis: int) -> float:
    d2 = np.diff(values, n=2, axis=axis)
    parts = (d2.real, d2.imag) if np.iscomplexobj(d2) else (d2,)
    mad2 = sum((np.median(np.abs(p - np.median(p))) / 0.6745) ** 2 for p in parts)
    scale = float(np.std(values))
    return float(np.sqrt(mad2) / np.sqrt(6.0) / scale) if scale > 0 else 0.0


def unbiased_power(values: np.ndarray, n: int, variance: float) -> np.ndarray:
    """An unbiased estimate of ``u**n`` from ``values = u + e``, e Gaussian of ``variance``:
    the scaled Hermite polynomial ``σⁿ Heₙ(x/σ) = Σ_j (-1)^j n! / (j! (n-2j)! 2^j) σ^{2j} x^{n-2j}``
    (E[(u+e)³] = u³ + 3σ²u, so (u+e)³ - 3σ²(u+e) is unbiased). Without it noise biases every
    monomial column towards lower powers, which a regression then repays with spurious
    lower-order terms (a linear term against u³ at 25 % noise)."""
    if variance <= 0 or n < 2:
        return values**n
    out = np.zeros_like(values)
    for j in range(n // 2 + 1):
        c = (-1) ** j * math.factorial(n) / (math.factorial(j) * math.factorial(n - 2 * j) * 2**j)
        out = out + c * variance**j * values ** (n - 2 * j)
    return out


def looks_periodic(values: np.ndarray, axis: int) -> bool:
    """Whether the field wraps around along ``axis``: the jump from last to first sample is no
    bigger than typical neighbour steps."""
    v = np.moveaxis(values, axis, -1)
    wrap = np.abs(v[..., 0] - v[..., -1])
    steps = np.abs(np.diff(v, axis=-1))
    return bool(np.quantile(wrap, 0.95) <= 3.0 * np.quantile(steps, 0.95) + 1e-12)
