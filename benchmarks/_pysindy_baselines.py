"""Plain PySINDy baselines for the discovery suite: its own libraries, differentiation and
STLSQ, with the threshold sweep and the information criterion a user would add by hand."""

from __future__ import annotations

import math
import re

import numpy as np
import pysindy as ps
import xarray as xr

from physforge.datasets.canonical import field_names, space_dims, time_dim


class _Recording(ps.STLSQ):
    """STLSQ that keeps the (library, target) matrices PySINDy built, for the sweep."""

    def fit(self, x, y, **kw):
        self.x_, self.y_ = np.asarray(x), np.asarray(y)
        return super().fit(x, y, **kw)


def _names(lib, fields, space) -> list[str]:
    """PySINDy's feature names (``uu_11``) in PhysForge's grammar (``u*u_xx``)."""
    token = re.compile(rf"(?:{'|'.join(map(re.escape, fields))})(?:_\d+)?(?:\^\d+)?")
    out = []
    for n in lib.get_feature_names(fields):
        factors = []
        for tok in token.findall(n.replace(" ", "")):
            base, _, power = tok.partition("^")
            if "_" in base:
                f, digits = base.split("_")
                base = f + "_" + "".join(space[int(c) - 1] for c in digits)
            factors.append(base + (f"**{power}" if power else ""))
        out.append("*".join(factors) if factors else "1")
    return out


def pysindy_problem(
    ds: xr.Dataset, weak: bool, degree: int, order: int, seed: int = 0, max_rows: int = 20000
):
    t, space, fields = time_dim(ds), space_dims(ds), field_names(ds)
    u = np.stack([ds[f].transpose(*space, t).values for f in fields], axis=-1)
    tt = ds[t].values
    grids = [ds[d].values for d in space]
    func = ps.PolynomialLibrary(degree=degree, include_bias=False)
    if weak:
        mesh = np.stack(np.meshgrid(*grids, tt, indexing="ij"), axis=-1)
        np.random.seed(seed)
        lib = ps.WeakPDELibrary(
            function_library=func,
            derivative_order=order,
            spatiotemporal_grid=mesh,
            include_bias=True,
            is_uniform=True,
            K=200,
            p=4,
        )
    else:
        grid = grids[0] if len(space) == 1 else np.stack(np.meshgrid(*grids, indexing="ij"), -1)
        lib = ps.PDELibrary(
            function_library=func,
            derivative_order=order,
            spatial_grid=grid,
            include_bias=True,
            is_uniform=True,
        )
    opt = _Recording(threshold=0.0, normalize_columns=True)
    model = ps.SINDy(feature_library=lib, optimizer=opt)
    model.fit(u, t=tt)
    x, y = opt.x_, opt.y_
    keep = np.flatnonzero(np.all(np.isfinite(x), axis=1) & np.all(np.isfinite(y), axis=1))
    if keep.size > max_rows:  # PDE-FIND itself regresses on a random subset of points
        keep = np.sort(np.random.default_rng(seed).choice(keep, max_rows, replace=False))
    return x[keep], y[keep], _names(lib, fields, space), [f"{f}_{t}" for f in fields]


def sweep_select(x: np.ndarray, y: np.ndarray, criterion: str, n_thresholds: int = 40):
    """STLSQ over a log-spaced threshold sweep; AIC or BIC picks the model per target."""
    n = x.shape[0]
    results = []
    for j in range(y.shape[1]):
        yj = y[:, j]
        best, best_score = None, math.inf
        for thr in np.geomspace(1e-4, 10.0, n_thresholds):
            opt = ps.STLSQ(threshold=thr, normalize_columns=True)
            opt.fit(x, yj.reshape(-1, 1))
            coef = np.asarray(opt.coef_).ravel()
            k = int(np.count_nonzero(coef))
            if k == 0:
                continue
            rss = float(np.sum((yj - x @ coef) ** 2))
            ll = n * math.log(max(rss / n, 1e-300))
            score = ll + (2 * k if criterion == "aic" else k * math.log(n))
            if score < best_score:
                best, best_score = coef, score
        results.append(best if best is not None else np.zeros(x.shape[1]))
    return results
