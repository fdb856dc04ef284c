"""Scattered points resampled onto a regular grid by moving least squares, so that the grid's
weak form (:mod:`physforge.discovery.weak`) can take them.

Each node of the grid gets the value of a low-degree local polynomial fitted to its nearest
measurements (:class:`~physforge.discovery.meshfree.MovingLeastSquares`, value only: no
derivative of the data is taken). Nodes the points do not support — outside their convex hull,
or farther from every measurement than a neighbourhood radius — are NaN; the weak form drops
the test functions that touch them.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from physforge.datasets.canonical import given_names, space_dims, time_dim
from physforge.discovery.library import modelled_fields
from physforge.discovery.meshfree import MovingLeastSquares, sampling_steps
from physforge.errors import DataValidationError

__all__ = ["MAX_NODES", "grid_axes", "resample_to_grid"]

MAX_NODES = 1_000_000  # nodes of the resampled grid (fits and weak-form integrals stay seconds)


def grid_axes(points: np.ndarray, refine: float = 2.0, max_nodes: int = MAX_NODES) -> list[int]:
    """Nodes per axis of the grid over the points' (N, D) bounding box.

    An axis sampled at few distinct values (fewer than N / 4, as in :func:`sampling_steps`:
    sensors at fixed positions, frames at fixed times) keeps that many nodes, so a lattice the
    points were drawn from is reproduced. The ``S`` spread axes share the remaining points,
    ``N / Π(distinct values of the others)`` per cell of those, at ``refine`` times the mean
    spacing of uniformly spread points: ``refine · (N / Π)^(1/S) + 1`` nodes each (the MLS
    interpolant is smooth, so a finer grid only integrates it more accurately). Capped at
    ``max_nodes`` in all, every axis scaled alike.
    """
    n, d = points.shape
    distinct = [np.unique(points[:, a]).size for a in range(d)]
    few = [c < n / 4 for c in distinct]
    cells = float(np.prod([c for c, f in zip(distinct, few) if f]))
    spread = d - sum(few)
    per = refine * (n / cells) ** (1.0 / spread) + 1 if spread else 0.0
    counts = [c if f else int(np.ceil(per)) for c, f in zip(distinct, few)]
    total = float(np.prod(counts))
    if total > max_nodes:
        shrink = (max_nodes / total) ** (1.0 / d)
        counts = [max(2, int(c * shrink)) for c in counts]
    return counts


def resample_to_grid(
    ds: xr.Dataset, degree: int = 2, refine: float = 2.0, max_nodes: int = MAX_NODES
) -> tuple[xr.Dataset, dict]:
    """A scattered dataset on a regular grid (:func:`grid_axes`) by MLS of ``degree``.

    Returns the grid dataset (same attrs, ``physforge_layout="grid"``; fields and given
    variables on dims (t, space...), NaN at unsupported nodes) and facts about the resampling:
    ``resampled_shape``, ``mls_degree``, ``mls_neighbours``, ``n_points``, ``nan_nodes`` and
    ``noise_estimate``, the median residual RMS of the node fits over each field's std (the
    noise of the measurements, which the smoothed grid no longer shows).
    """
    t, space = time_dim(ds), space_dims(ds)
    dims = [t, *space]
    fields = modelled_fields(ds)
    names = [*fields, *[g for g in given_names(ds) if g not in fields]]
    points = np.stack([np.asarray(ds[d].values, dtype=float).reshape(-1) for d in dims], axis=1)
    values = np.stack([np.asarray(ds[v].values).reshape(-1) for v in names], axis=1)
    counts = grid_axes(points, refine, max_nodes)
    axes = {
        d: np.linspace(points[:, i].min(), points[:, i].max(), c)
        for i, (d, c) in enumerate(zip(dims, counts))
    }
    nodes = np.stack([g.reshape(-1) for g in np.meshgrid(*axes.values(), indexing="ij")], axis=1)
    steps = sampling_steps(points)
    mls = MovingLeastSquares(degree=degree)
    if points.shape[0] < mls.n_neighbours(len(dims)):
        raise DataValidationError(
            f"scattered data: {points.shape[0]} points, fewer than the "
            f"{mls.n_neighbours(len(dims))} neighbours of a local polynomial of degree {degree} "
            f"in {', '.join(dims)}; measure more points"
        )
    mls.fit_at(points, values, nodes, steps)
    fitted = mls.derivative(())
    missing = mls.nearest_ > np.median(mls.radius_)  # a hole wider than a neighbourhood
    if len(dims) <= 3:  # beyond that qhull's hull costs more than it saves
        from scipy.spatial import Delaunay

        missing |= Delaunay(points / steps).find_simplex(nodes / steps) < 0
    fitted = np.where(missing[:, None], np.nan, fitted)
    shape = tuple(counts)
    out = xr.Dataset(
        {v: (dims, fitted[:, j].reshape(shape)) for j, v in enumerate(names)},
        coords=axes,
        attrs={**ds.attrs, "physforge_layout": "grid"},
    )
    spread = np.std(values[:, : len(fields)], axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    rms = np.median(mls.residual_rms_[~missing, : len(fields)], axis=0) / spread
    info = {
        "resampled_shape": list(counts),
        "mls_degree": degree,
        "mls_neighbours": int(mls.neighbours_),
        "n_points": int(points.shape[0]),
        "nan_nodes": int(missing.sum()),
        "noise_estimate": float(rms.max()),
    }
    return out, info
