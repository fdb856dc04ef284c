"""The design space and its candidates: quasi-random designs inside bounds, outside forbidden
regions.

A design point is the centre of one measurement: a window of sensors over a stretch of space
and time (``window`` gives its extent per dimension), or a point in a simulator's parameter
space (extent 0). A point is admissible when its whole window lies inside the bounds and
touches no forbidden box. Candidates are scrambled Sobol or Latin hypercube designs
(:mod:`scipy.stats.qmc`) over the admissible centres, snapped to what the instrument can do
(``snap``, e.g. grid-aligned windows) and filtered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import qmc

from physforge.errors import ConfigError

__all__ = ["Box", "DesignSpace", "candidate_designs", "DESIGNS"]


@dataclass(frozen=True)
class Box:
    """An axis-aligned region; dimensions it does not name are unconstrained."""

    limits: Mapping[str, tuple[float, float]]

    def intersects(self, lo: np.ndarray, hi: np.ndarray, dims: Sequence[str]) -> np.ndarray:
        """Which windows ``[lo, hi]`` (rows × dims) overlap the box."""
        hit = np.ones(lo.shape[0], dtype=bool)
        for name, (a, b) in self.limits.items():
            j = list(dims).index(name)
            hit &= (hi[:, j] > a) & (lo[:, j] < b)
        return hit


@dataclass
class DesignSpace:
    """Dimensions with bounds, the window each measurement covers, and forbidden regions."""

    bounds: dict[str, tuple[float, float]]
    window: dict[str, float] = field(default_factory=dict)
    forbidden: list[Box] = field(default_factory=list)
    snap: Callable[[np.ndarray], np.ndarray] | None = None

    def __post_init__(self) -> None:
        for name, (lo, hi) in self.bounds.items():
            if not hi > lo:
                raise ConfigError(f"bounds.{name}: need lower < upper, got [{lo}, {hi}]")
            w = self.window.get(name, 0.0)
            if w < 0 or w > hi - lo:
                raise ConfigError(
                    f"window.{name} = {w} does not fit in bounds.{name} = [{lo}, {hi}]"
                )
        for i, box in enumerate(self.forbidden):
            unknown = set(box.limits) - set(self.bounds)
            if unknown:
                raise ConfigError(
                    f"forbidden[{i}] names {sorted(unknown)}, which are not "
                    f"design dimensions {self.dims}"
                )

    @property
    def dims(self) -> list[str]:
        return list(self.bounds)

    def half(self) -> np.ndarray:
        return np.array([self.window.get(d, 0.0) / 2 for d in self.dims])

    def extent(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corners of the windows centred at ``points``."""
        points = np.atleast_2d(points)
        return points - self.half(), points + self.half()

    def admissible(self, points: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """Windows inside the bounds and clear of every forbidden box."""
        lo, hi = self.extent(points)
        blo = np.array([self.bounds[d][0] for d in self.dims])
        bhi = np.array([self.bounds[d][1] for d in self.dims])
        ok = np.all(lo >= blo - tol, axis=1) & np.all(hi <= bhi + tol, axis=1)
        for box in self.forbidden:
            ok &= ~box.intersects(lo, hi, self.dims)
        return ok

    def scale(self) -> np.ndarray:
        """A length per dimension for distances: the window, or a tenth of the range."""
        return np.array(
            [self.window.get(d) or 0.1 * (self.bounds[d][1] - self.bounds[d][0]) for d in self.dims]
        )

    def probes(self, point: np.ndarray, n: int = 5) -> dict[str, np.ndarray]:
        """An ``n``-per-dimension grid of points inside the window centred at ``point``."""
        lo, hi = self.extent(point)
        axes = [np.linspace(a, b, n) if b > a else np.array([a]) for a, b in zip(lo[0], hi[0])]
        mesh = np.meshgrid(*axes, indexing="ij")
        return {d: m.ravel() for d, m in zip(self.dims, mesh)}


def _sobol(d: int, n: int, seed: int) -> np.ndarray:
    return qmc.Sobol(d, scramble=True, seed=seed).random(n)


def _lhs(d: int, n: int, seed: int) -> np.ndarray:
    return qmc.LatinHypercube(d, seed=seed).random(n)


DESIGNS: dict[str, Callable[[int, int, int], np.ndarray]] = {"sobol": _sobol, "lhs": _lhs}


def candidate_designs(
    space: DesignSpace, n: int, method: str = "sobol", seed: int = 0, max_rounds: int = 8
) -> np.ndarray:
    """``n`` admissible candidate centres (rows × ``space.dims``), fewer only when the
    admissible set is smaller than asked; refused when nothing is admissible."""
    try:
        draw = DESIGNS[method]
    except KeyError:
        raise ConfigError(f"unknown design {method!r}; choose one of {sorted(DESIGNS)}") from None
    half = space.half()
    lo = np.array([space.bounds[d][0] for d in space.dims]) + half
    hi = np.array([space.bounds[d][1] for d in space.dims]) - half
    span = np.where(hi > lo, hi - lo, 0.0)
    found: list[np.ndarray] = []
    total = 0
    for r in range(max_rounds):
        m = 2 ** int(np.ceil(np.log2(max(2 * n, 2)))) if method == "sobol" else 2 * n
        pts = lo + draw(len(space.dims), m, seed + 7919 * r) * span
        if space.snap is not None:
            pts = space.snap(pts)
        pts = pts[space.admissible(pts)]
        found.append(pts)
        total += len(pts)
        if total >= n:
            break
    pts = np.unique(np.concatenate(found), axis=0)
    if len(pts) == 0:
        raise ConfigError(
            "no admissible measurement: the forbidden regions cover every window of the bounds "
            f"{space.bounds} (window {space.window}); shrink the forbidden boxes or the window"
        )
    rng = np.random.default_rng(seed)
    return pts[np.sort(rng.permutation(len(pts))[:n])] if len(pts) > n else pts
