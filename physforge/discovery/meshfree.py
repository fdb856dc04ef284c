"""Mesh-free derivatives of scattered measurements: moving least squares (local polynomials).

At each collocation point a polynomial of total degree ``degree`` in the local coordinates
(t, x[, y, z]) is fitted by weighted least squares to the ``k`` nearest measurements; its
coefficients give the smoothed value and every derivative up to ``degree`` at that point. It is
the scattered-data analogue of :class:`~physforge.discovery.derivatives.LocalPolynomial`
(Savitzky–Golay on a grid), and like it returns the derivative of the local fit, not of the noise.

Distances need commensurate axes: each axis is measured in units of its sampling step
(:func:`sampling_steps`), so a neighbourhood spans about as many samples along every axis.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from physforge.errors import DataValidationError

__all__ = ["MovingLeastSquares", "exponents", "interior_points", "morton_order", "sampling_steps"]

# multiply-adds allowed for the normal equations of all fits (about 10 s on one core): caps the
# number of collocation points where the basis is large (three space dimensions, degree 5)
WORK_BUDGET = 2e10
CHUNK_BYTES = 32 << 20  # the (points, neighbours, coefficients) block of one batch


def exponents(dims: int, degree: int) -> np.ndarray:
    """Exponents (m, dims) of the monomials of total degree <= ``degree``, constant first."""
    out = [
        e
        for total in range(degree + 1)
        for e in itertools.product(range(total + 1), repeat=dims)
        if sum(e) == total
    ]
    return np.array(out, dtype=int).reshape(-1, dims)


def sampling_steps(points: np.ndarray) -> np.ndarray:
    """The sampling step of each axis (columns of ``points``), the unit distances are measured in.

    An axis sampled at few distinct values (fewer than a quarter of the points: sensors at fixed
    positions, frames at fixed times) has step range / (distinct values - 1); an axis whose
    values are spread (every point its own) has the step of uniformly spread points,
    range / N^(1/D).
    """
    n, d = points.shape
    steps = np.empty(d)
    for a in range(d):
        col = points[:, a]
        span = float(col.max() - col.min())
        distinct = np.unique(col).size
        if span <= 0:
            raise DataValidationError(
                f"scattered data: coordinate {a} of the points takes a single value; "
                "cannot differentiate along it"
            )
        steps[a] = span / (distinct - 1) if distinct < n / 4 else span / n ** (1.0 / d)
    return steps


def morton_order(scaled: np.ndarray, bits: int = 10) -> np.ndarray:
    """The permutation that sorts points along a Z-order curve: consecutive points are mostly
    space neighbours (rows then carry their overlap correlation to the next row)."""
    lo, hi = scaled.min(axis=0), scaled.max(axis=0)
    q = ((scaled - lo) / np.where(hi > lo, hi - lo, 1.0) * (2**bits - 1)).astype(np.int64)
    code = np.zeros(scaled.shape[0], dtype=np.int64)
    d = scaled.shape[1]
    for b in range(bits):
        for a in range(d):
            code |= ((q[:, a] >> b) & 1) << (b * d + a)
    return np.argsort(code, kind="stable")


def interior_points(scaled: np.ndarray, margin: float) -> np.ndarray:
    """Indices of the points at least ``margin`` (scaled units) inside the bounding box."""
    lo, hi = scaled.min(axis=0), scaled.max(axis=0)
    inside = np.all((scaled >= lo + margin) & (scaled <= hi - margin), axis=1)
    return np.flatnonzero(inside)


@dataclass
class MovingLeastSquares:
    """Local weighted polynomial fits at collocation points of scattered data.

    Parameters
    ----------
    degree:
        Total degree of the local polynomial; derivatives up to this order are available.
    neighbours_per_coefficient:
        The fit uses this many times as many nearest measurements as the polynomial has
        coefficients (3: the noise is averaged, the neighbourhood stays local).
    weight:
        ``tricube`` (LOESS's weight, Cleveland 1979) or ``uniform``.

    Attributes (after :meth:`fit`)
    ------------------------------
    exponents_ : (m, D) monomial exponents; coef_ : (n, m, F) fitted coefficients in local
    coordinates; scale_ : (n, D) physical length of one local unit per axis; neighbours_ : k;
    residual_rms_ : (n, F) root-mean-square residual of each fit (per degree of freedom);
    nearest_, radius_ : (n,) distance to the nearest and the k-th nearest measurement.
    """

    degree: int = 5
    neighbours_per_coefficient: float = 3.0
    weight: str = "tricube"
    name: str = "meshfree-poly"

    def get_params(self) -> dict:
        return {
            "degree": self.degree,
            "neighbours_per_coefficient": self.neighbours_per_coefficient,
            "weight": self.weight,
        }

    def n_neighbours(self, dims: int) -> int:
        return int(
            math.ceil(self.neighbours_per_coefficient * exponents(dims, self.degree).shape[0])
        )

    def fit(
        self, points: np.ndarray, values: np.ndarray, centres: np.ndarray, steps: np.ndarray
    ) -> MovingLeastSquares:
        """Fit at ``points[centres]`` from all ``points`` (N, D) and ``values`` (N, F), real or
        complex; ``steps`` (D,) is the unit of distance per axis."""
        return self.fit_at(points, values, points[centres], steps)

    def fit_at(
        self, points: np.ndarray, values: np.ndarray, where: np.ndarray, steps: np.ndarray
    ) -> MovingLeastSquares:
        """Fit at arbitrary locations ``where`` (n, D), e.g. the nodes of a grid, from all
        ``points`` (N, D) and ``values`` (N, F); ``steps`` (D,) is the unit of distance per
        axis. Also sets ``nearest_`` and ``radius_`` (n,): the distance, in those units, to the
        nearest and to the k-th nearest measurement."""
        from scipy.spatial import cKDTree

        if self.weight not in ("tricube", "uniform"):
            raise DataValidationError(
                f"MovingLeastSquares: weight {self.weight!r}; choose tricube or uniform"
            )
        n_pts, d = points.shape
        expo = exponents(d, self.degree)
        m = expo.shape[0]
        k = self.n_neighbours(d)
        if n_pts < k:
            raise DataValidationError(
                f"scattered data: {n_pts} points, fewer than the {k} neighbours a local "
                f"polynomial of degree {self.degree} in {d} coordinates needs; lower "
                "--derivative-order or measure more points"
            )
        scaled = points / steps
        tree = cKDTree(scaled)
        vals = values.reshape(n_pts, -1)
        query = np.asarray(where, dtype=float).reshape(-1, d) / steps
        n = query.shape[0]
        coef = np.empty((n, m, vals.shape[1]), dtype=vals.dtype)
        scale = np.empty((n, d))
        rms = np.empty((n, vals.shape[1]))
        nearest, radius = np.empty(n), np.empty(n)
        batch = max(1, int(CHUNK_BYTES // (8 * k * m)))
        for s in range(0, n, batch):
            q = query[s : s + batch]
            dist, idx = tree.query(q, k=k)
            nearest[s : s + batch], radius[s : s + batch] = dist[:, 0], dist[:, -1]
            h = 1.1 * dist[:, -1:]  # support radius: every neighbour keeps a positive weight
            z = (scaled[idx] - q[:, None, :]) / h[..., None]  # (b, k, D) in [-1, 1]
            V = np.prod(z[..., None, :] ** expo[None, None], axis=-1)  # (b, k, m)
            w = (1 - (dist / h) ** 3) ** 3 if self.weight == "tricube" else np.ones_like(dist)
            Vw = V * w[..., None]
            A = np.einsum("bki,bkj->bij", Vw, V)
            A += np.eye(m) * (1e-12 * np.trace(A, axis1=1, axis2=2))[:, None, None]
            y = vals[idx]  # (b, k, F)
            cf = np.linalg.solve(A, np.einsum("bki,bkf->bif", Vw, y))
            coef[s : s + batch] = cf
            resid = y - np.einsum("bki,bif->bkf", V, cf)
            rms[s : s + batch] = np.sqrt(np.sum(np.abs(resid) ** 2, axis=1) / max(k - m, 1))
            scale[s : s + batch] = h * steps
        self.exponents_, self.coef_, self.scale_ = expo, coef, scale
        self.neighbours_, self.residual_rms_ = k, rms
        self.nearest_, self.radius_ = nearest, radius
        return self

    def derivative(self, alpha: tuple[int, ...]) -> np.ndarray:
        """∂^alpha of the local fits at their centres, (n, F); alpha = () or zeros: the value."""
        a = np.zeros(self.exponents_.shape[1], dtype=int)
        a[: len(alpha)] = alpha
        if a.sum() > self.degree:
            raise DataValidationError(
                f"derivative of order {a.sum()} from local polynomials of degree {self.degree}"
            )
        j = int(np.flatnonzero((self.exponents_ == a).all(axis=1))[0])
        factor = np.prod([math.factorial(int(p)) for p in a]) / np.prod(self.scale_**a, axis=1)
        return self.coef_[:, j, :] * factor[:, None]
