"""Batches that do not cluster: greedy selection with a distance penalty, or the kriging
believer where the acquisition can condition on its own picks (the GP).

Greedy penalised selection (as in local penalisation, González et al. 2016): pick the best
candidate, then multiply every other candidate's value by ``1 - exp(-d² / 2ℓ²)`` for its
distance ``d`` to the pick, in units of the window (``ℓ = length`` windows), and repeat.
Earlier measurements penalise the same way, so a batch neither piles up on one spot nor
re-measures where data already are, unless nothing else is worth as much.
"""

from __future__ import annotations

import numpy as np

from physforge.discovery.design.acquisitions import Acquisition
from physforge.discovery.design.candidates import DesignSpace

__all__ = ["select_batch", "penalty"]


def penalty(
    candidates: np.ndarray, points: np.ndarray, scale: np.ndarray, length: float
) -> np.ndarray:
    """``Π_p (1 - exp(-|c - p|² / 2ℓ²))`` over ``points``, distances in units of ``scale``."""
    out = np.ones(len(candidates))
    if length <= 0:  # no penalty: independent picks
        return out
    for p in np.atleast_2d(points):
        d2 = np.sum(((candidates - p) / scale) ** 2, axis=1)
        out *= 1.0 - np.exp(-d2 / (2.0 * length**2))
    return out


def select_batch(
    candidates: np.ndarray,
    acquisition: Acquisition,
    k: int,
    space: DesignSpace,
    measured: np.ndarray | None = None,
    length: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``k`` candidates and their acquisition values at the time of picking."""
    candidates = np.atleast_2d(candidates)
    k = min(k, len(candidates))
    scale = space.scale()
    values = np.asarray(acquisition.score(candidates), dtype=float)
    believer = hasattr(acquisition, "condition")
    base = np.ones(len(candidates))
    if measured is not None and len(measured):
        base = penalty(candidates, np.asarray(measured, dtype=float), scale, length)
    chosen: list[int] = []
    picked_values: list[float] = []
    for _ in range(k):
        weighted = (values - values.min() + 1e-12) * base
        weighted[chosen] = -np.inf
        i = int(np.argmax(weighted))
        chosen.append(i)
        picked_values.append(float(values[i]))
        base = base * penalty(candidates, candidates[i], scale, length)
        if believer and len(chosen) < k:
            acquisition.condition(candidates[i : i + 1])  # type: ignore[attr-defined]
            values = np.asarray(acquisition.score(candidates), dtype=float)
    return np.array(chosen, dtype=int), np.array(picked_values)
