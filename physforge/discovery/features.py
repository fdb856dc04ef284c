"""Strong-form features: time derivatives (targets) and the candidate-term library on grid rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from physforge.config import FeatureConfig
from physforge.datasets.canonical import POINT_DIM, given_names, layout, space_dims, time_dim
from physforge.discovery.derivatives import (
    DerivativeMethod,
    FiniteDifference,
    LocalPolynomial,
    Spectral,
    get_derivative_method,
    is_uniform,
)
from physforge.discovery.featureset import FeatureSet
from physforge.discovery.library import (
    LibraryVariables,
    library_monomials,
    library_variables,
    modelled_fields,
    monomial_values,
    realify,
)
from physforge.discovery.meshfree import (
    WORK_BUDGET,
    MovingLeastSquares,
    exponents,
    interior_points,
    morton_order,
    sampling_steps,
)
from physforge.discovery.noise import estimate_noise, looks_periodic
from physforge.discovery.terms import canonical_name, conj_name, derivative_name, multi_indices
from physforge.errors import DataValidationError

__all__ = [
    "FeatureSet",
    "build_features",
    "choose_derivatives",
    "library_terms",
    "meshfree_features",
    "resampled_weak_features",
]

# routes that take scattered points: local polynomial fits on the points themselves
MESHFREE_ROUTES = ("auto", "auto-pointwise", "meshfree-poly")
RESAMPLE_DEGREE = 2  # weak-resampled: degree of the MLS fits that put the points on a grid


def choose_derivatives(ds: xr.Dataset, cfg: FeatureConfig) -> dict:
    """The derivative method per axis: ``auto`` picks from the noise estimate and periodicity."""
    space = space_dims(ds)
    fields = modelled_fields(ds)
    noise = max(estimate_noise(ds[f].values, axis=None) for f in fields)
    declared = [p for p in str(ds.attrs.get("periodic", "")).split(",") if p]
    periodic = {  # a non-uniform axis has no known period: never wrapped
        d: is_uniform(ds[d].values)
        and (
            (d in declared)
            if declared
            else all(looks_periodic(ds[f].values, ds[f].dims.index(d)) for f in fields)
        )
        for d in space
    }
    if cfg.derivatives not in ("auto", "auto-pointwise"):
        method = get_derivative_method(cfg.derivatives)
        return {"space": method, "time": method, "periodic": periodic, "noise": noise}
    space_method: DerivativeMethod
    time_method: DerivativeMethod
    if noise < 1e-3:
        space_method = Spectral() if all(periodic.values()) else FiniteDifference(accuracy=6)
        time_method = FiniteDifference(accuracy=4)
    else:
        # the window widens with the noise, but never past the shortest axis (odd, and room
        # for the degree-5 fit)
        shortest = min(ds[d].size for d in [time_dim(ds), *space])
        window = min(int(np.clip(7 + 120 * noise, 7, 41)) | 1, max(7, (shortest - 1) | 1))
        space_method = LocalPolynomial(window=window, degree=5)
        time_method = LocalPolynomial(window=window, degree=3)
    return {"space": space_method, "time": time_method, "periodic": periodic, "noise": noise}


def library_terms(
    lv: LibraryVariables,
    space: list[str],
    degree: int,
    order: int,
    include_bias: bool = True,
    coordinate_degree: int = 0,
) -> list[tuple[str, dict[str, int], tuple[str, str, tuple] | None]]:
    """(name, monomial powers, derivative factor) for monomials × (1 or one derivative),
    PDE-FIND style. A derivative factor is (name, field, axes); a complex field also gives the
    conjugates of its derivatives (``conj(u_x)``)."""
    monomials = library_monomials(lv, degree, coordinate_degree)
    derivs: list[tuple[str, str, tuple] | None] = [None]
    for f in lv.fields:
        for axes in multi_indices(space, order):
            derivs.append((derivative_name(f, axes), f, axes))
            if lv.conjugated(f):
                derivs.append((conj_name(derivative_name(f, axes)), f, axes))
    out = []
    for d in derivs:
        for mono, powers, _ in monomials:
            name = canonical_name(f"{mono}*{d[0]}") if d else mono
            if name == "1" and not include_bias:
                continue
            out.append((name, powers, d))
    return out


def _weak_applies(ds: xr.Dataset, order: int) -> bool:
    """The weak form needs room for test functions on every axis (uniform or not)."""
    return all(ds[d].size >= 2 * (order + 3) + 1 for d in [time_dim(ds), *space_dims(ds)])


def build_features(ds: xr.Dataset, cfg: FeatureConfig) -> FeatureSet:
    """The regression problem of a dataset.

    ``auto`` (the default) uses the weak form wherever the grid allows it: it needs no
    pointwise derivatives of the data and stays accurate at noise levels where local
    derivatives fail. ``auto-pointwise`` picks a pointwise method from the noise estimate
    (spectral on clean periodic axes, finite differences, local polynomials on noisy data);
    symbolic regression needs pointwise values and uses it. Scattered points get, with
    ``auto``, the weak form on a grid they are resampled onto (:func:`resampled_weak_features`)
    where that grid has room for test functions, else (and with ``auto-pointwise`` or
    ``meshfree-poly``, also on a grid) mesh-free local polynomial fits
    (:func:`meshfree_features`).
    """
    if layout(ds) == "scattered" and cfg.derivatives in ("auto", "weak-resampled"):
        fs = resampled_weak_features(ds, cfg)
        if fs is not None:
            return fs
        if cfg.derivatives == "weak-resampled":
            raise DataValidationError(
                "scattered data: the grid the points resample onto has too few nodes along "
                f"some axis for weak-form test functions of derivative order "
                f"{cfg.derivative_order}; use derivatives=meshfree-poly or measure more points"
            )
    if layout(ds) == "scattered" or cfg.derivatives == "meshfree-poly":
        if cfg.derivatives not in MESHFREE_ROUTES:
            raise DataValidationError(
                f"scattered data: derivatives={cfg.derivatives!r} needs a grid; use auto or "
                "meshfree-poly (local polynomial fits on the points), weak-resampled (the "
                "weak form on an MLS-resampled grid) or surrogate (a PINN ensemble fitted to "
                "them)"
            )
        return meshfree_features(ds, cfg)
    if cfg.derivatives == "weak-resampled":  # a grid needs no resampling
        cfg = cfg.model_copy(update={"derivatives": "weak"})
    if cfg.derivatives == "auto" and _weak_applies(ds, cfg.derivative_order):
        cfg = cfg.model_copy(update={"derivatives": "weak"})
    if cfg.derivatives == "weak":
        return _weak(ds, cfg)
    t, space = time_dim(ds), space_dims(ds)
    fields = modelled_fields(ds)
    dims = [t, *space]
    choice = choose_derivatives(ds, cfg)
    steps = {d: ds[d].values for d in dims}  # coordinates: non-uniform axes get own stencils
    values = {f: ds[f].transpose(*dims).values for f in fields}
    margins = {d: 0 for d in dims}

    derivs: dict[str, np.ndarray] = {}
    for f in fields:
        for axes in multi_indices(space, cfg.derivative_order):
            derivs[derivative_name(f, axes)] = _derivative(
                values[f], axes, dims, steps, choice, margins
            )
    targets = {}
    for f in fields:
        tm = choice["time"]
        v = values[f]
        parts = (v.real, v.imag) if np.iscomplexobj(v) else (v,)
        d = [tm.differentiate(p, steps[t], 0, 1, periodic=False) for p in parts]
        targets[f"{f}_{t}"] = d[0] + 1j * d[1] if len(d) == 2 else d[0]
        margins[t] = max(margins[t], tm.margin(1, False))

    info = {
        "derivatives_space": choice["space"].name,
        "derivatives_time": choice["time"].name,
        "noise_estimate": float(choice["noise"]),
        "periodic": ",".join(d for d, p in choice["periodic"].items() if p),
    }
    lv = library_variables(ds, dims, cfg.coordinate_degree)
    fs = assemble_library(lv, derivs, targets, dims, margins, cfg, info)
    return realify(fs) if lv.complex else fs


def assemble_library(
    lv: LibraryVariables,
    derivs: dict[str, np.ndarray],
    targets: dict[str, np.ndarray],
    dims: list[str],
    margins: dict[str, int],
    cfg: FeatureConfig,
    info: dict,
) -> FeatureSet:
    """Pointwise library rows from gridded field values and derivatives (edges trimmed by
    ``margins``, rows sampled up to ``cfg.max_rows``)."""
    shape = lv.factors[lv.fields[0]].shape
    sl = tuple(slice(margins[d], shape[i] - margins[d]) for i, d in enumerate(dims))
    n_total = int(np.prod([s.stop - s.start for s in sl]))
    rng = np.random.default_rng(cfg.seed)
    rows = np.sort(rng.choice(n_total, size=min(cfg.max_rows, n_total), replace=False))

    def flat(a: np.ndarray) -> np.ndarray:
        return a[sl].reshape(-1)[rows]

    return library_rows(
        lv, derivs, targets, dims[1:], cfg, {**info, "n_grid_rows": n_total}, flat, shape, rows
    )


def library_rows(
    lv: LibraryVariables,
    derivs: dict[str, np.ndarray],
    targets: dict[str, np.ndarray],
    space: list[str],
    cfg: FeatureConfig,
    info: dict,
    flat: Callable[[np.ndarray], np.ndarray],
    shape: tuple[int, ...],
    rows: np.ndarray | None,
) -> FeatureSet:
    """The library's rows: ``flat`` takes an array of ``shape`` (field values, derivatives,
    targets) to the values of the regression rows; ``rows`` indexes them (or None)."""
    terms = library_terms(
        lv, space, cfg.poly_degree, cfg.derivative_order, cfg.include_bias, cfg.coordinate_degree
    )
    mono_cols = {
        n: flat(monomial_values(p, lv, shape))
        for n, p, _ in library_monomials(lv, cfg.poly_degree, cfg.coordinate_degree)
    }
    dvals = {k: flat(v) for k, v in derivs.items()}
    n_rows = next(iter(mono_cols.values())).size
    theta = np.empty((n_rows, len(terms)), dtype=complex if lv.complex else float)
    for j, (_name, mono, d) in enumerate(terms):
        col = mono_cols[canonical_name("*".join(f"{n}**{p}" for n, p in mono.items()) or "1")]
        if d is not None:
            dv = dvals[derivative_name(d[1], d[2])]
            col = col * (np.conj(dv) if d[0].startswith("conj(") else dv)
        theta[:, j] = col
    target = np.stack([flat(v) for v in targets.values()], axis=1)
    return FeatureSet(theta, target, [n for n, _, _ in terms], list(targets), info, rows)


def meshfree_features(ds: xr.Dataset, cfg: FeatureConfig) -> FeatureSet:
    """Library rows at collocation points of scattered data from moving least squares.

    Collocation points: a random subset (seeded by ``cfg.seed``, at most ``cfg.max_rows``, and
    few enough that the fits' normal equations stay within ``WORK_BUDGET``) of the points at
    least one neighbourhood radius inside the bounding box, where no fit is one-sided. Each
    gets a polynomial of total degree ``max(derivative_order + 1, 3)`` (one more than the
    highest derivative, so that derivative is not the fit's constant top coefficient, and at
    least quadratic) over ``3 ×`` as many neighbours as it has coefficients. The fitted value
    is the library's field value; the fits' residual RMS over the field's std is the noise
    estimate. Rows follow a Z-order curve, so the effective sample size sees the overlap of
    neighbouring fits.
    """
    if layout(ds) != "scattered":  # a grid asked for meshfree-poly: its nodes are the points
        dims0 = [time_dim(ds), *space_dims(ds)]
        ds = ds.stack({POINT_DIM: dims0}).reset_index(POINT_DIM)
    t, space = time_dim(ds), space_dims(ds)
    dims = [t, *space]
    fields = modelled_fields(ds)
    points = np.stack([np.asarray(ds[d].values, dtype=float).reshape(-1) for d in dims], axis=1)
    values = np.stack([np.asarray(ds[f].values).reshape(-1) for f in fields], axis=1)
    degree = max(cfg.derivative_order + 1, 3)
    mls = MovingLeastSquares(degree=degree)
    k, m = mls.n_neighbours(len(dims)), exponents(len(dims), degree).shape[0]
    if points.shape[0] < k:
        raise DataValidationError(
            f"scattered data: {points.shape[0]} points, fewer than the {k} neighbours of a "
            f"local polynomial of degree {degree} in {', '.join(dims)}; lower "
            "--derivative-order or measure more points"
        )
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(cfg.seed)

    def interior(steps: np.ndarray) -> np.ndarray:
        scaled = points / steps
        some = rng.choice(points.shape[0], size=min(points.shape[0], 200), replace=False)
        radius = float(np.median(cKDTree(scaled).query(scaled[some], k=k)[0][:, -1]))
        inner = interior_points(scaled, radius)
        if inner.size == 0:
            raise DataValidationError(
                f"scattered data: no point lies a neighbourhood ({k} points) inside the "
                f"bounding box of {', '.join(dims)}; lower --derivative-order or measure more "
                "points"
            )
        return inner

    # the unit of each axis: its sampling step (a neighbourhood spans about as many samples
    # along every axis)
    steps = sampling_steps(points)
    spread = np.std(values, axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    inner = interior(steps)
    scaled = points / steps
    n = min(cfg.max_rows, inner.size, max(int(WORK_BUDGET // (k * m * m)), 1))
    centres = rng.choice(inner, size=n, replace=False)
    centres = centres[morton_order(scaled[centres])]
    mls.fit(points, values, centres, steps)

    def counts(axes: tuple[str, ...]) -> tuple[int, ...]:
        return tuple(axes.count(d) for d in dims)

    derivs = {
        derivative_name(f, axes): mls.derivative(counts(axes))[:, i]
        for i, f in enumerate(fields)
        for axes in multi_indices(space, cfg.derivative_order)
    }
    targets = {f"{f}_{t}": mls.derivative((1,))[:, i] for i, f in enumerate(fields)}
    fitted = mls.derivative(())
    factors: dict[str, np.ndarray] = {}
    for i, f in enumerate(fields):
        factors[f] = fitted[:, i]
        if np.iscomplexobj(fitted):
            factors[conj_name(f)] = np.conj(fitted[:, i])
    for g in given_names(ds):  # given variables are exact: their values at the points
        factors[g] = np.asarray(ds[g].values).reshape(-1)[centres]
        if np.iscomplexobj(factors[g]):
            factors[conj_name(g)] = np.conj(factors[g])
    coordinates = (
        {d: points[centres, 1 + i] for i, d in enumerate(space)} if cfg.coordinate_degree else {}
    )
    cplx = any(np.iscomplexobj(v) for v in factors.values())
    lv = LibraryVariables(fields, factors, coordinates, cplx)
    noise = np.median(mls.residual_rms_, axis=0) / spread
    info = {
        "derivatives_space": mls.name,
        "derivatives_time": mls.name,
        "noise_estimate": float(noise.max()),
        "meshfree_degree": degree,
        "meshfree_neighbours": k,
        "n_points": int(points.shape[0]),
        "n_grid_rows": int(inner.size),
    }
    fs = library_rows(lv, derivs, targets, space, cfg, info, lambda a: a, (n,), np.arange(n))
    return realify(fs) if cplx else fs


def resampled_weak_features(ds: xr.Dataset, cfg: FeatureConfig) -> FeatureSet | None:
    """The weak form of scattered data resampled onto a regular grid by moving least squares
    (:func:`physforge.discovery.resample.resample_to_grid`, degree ``RESAMPLE_DEGREE``): no
    pointwise derivative of the data, the noise averaged by the fits and then by the test
    functions. Axes are not wrapped (unsupported edge nodes are NaN). The noise estimate is the
    node fits' residual RMS: the smoothed grid's own would understate the measurements' noise.
    None when the grid has no room for test functions along some axis.
    """
    from physforge.discovery.resample import resample_to_grid

    grid, facts = resample_to_grid(ds, degree=RESAMPLE_DEGREE)
    if not _weak_applies(grid, cfg.derivative_order):
        return None
    fs = _weak(grid, cfg, periodic=())
    fs.info.update(facts)
    fs.info["derivatives_space"] = fs.info["derivatives_time"] = "weak/mls-grid"
    return fs


def _weak(ds: xr.Dataset, cfg: FeatureConfig, **options: Any) -> FeatureSet:
    """The weak-form library of a grid with ``cfg``'s library settings (complex: realified)."""
    from physforge.discovery.weak import weak_features

    fs = weak_features(
        ds,
        cfg.poly_degree,
        cfg.derivative_order,
        cfg.include_bias,
        seed=cfg.seed,
        coordinate_degree=cfg.coordinate_degree,
        **options,
    )
    return realify(fs) if fs.info.get("complex") else fs


def surrogate_features(
    ensemble, ds: xr.Dataset, cfg: FeatureConfig, points_per_axis: int = 64, trim: float = 0.05
) -> FeatureSet:
    """Library rows from a PINN surrogate: fields and derivatives by autodiff of the ensemble
    mean on the data's grid (scattered data: a regular grid over the points' bounding box),
    ``trim`` of each axis dropped at both ends where the network is least constrained."""
    from physforge.datasets.canonical import layout

    t, space = time_dim(ds), space_dims(ds)
    dims = [t, *space]
    fields = list(ensemble.fields)
    if layout(ds) == "scattered":
        axes = {
            d: np.linspace(float(ds[d].min()), float(ds[d].max()), points_per_axis) for d in dims
        }
    else:
        axes = {d: ds[d].values for d in dims}
    mesh = dict(zip(dims, np.meshgrid(*axes.values(), indexing="ij")))
    wanted = [(d,) for d in [t]] + [()] + multi_indices(space, cfg.derivative_order)
    out = ensemble.derivatives(mesh, fields=fields, multi_indices=wanted)
    lv = LibraryVariables(fields, {f: out[f] for f in fields}, {}, False)
    derivs = {
        derivative_name(f, a): out[derivative_name(f, a)]
        for f in fields
        for a in multi_indices(space, cfg.derivative_order)
    }
    targets = {f"{f}_{t}": out[derivative_name(f, (t,))] for f in fields}
    margins = {d: int(trim * axes[d].size) for d in dims}
    info = {
        "derivatives_space": "surrogate",
        "derivatives_time": "surrogate",
        "surrogate_members": int(ensemble.size),
    }
    return assemble_library(
        lv, derivs, targets, dims, margins, cfg.model_copy(update={"coordinate_degree": 0}), info
    )


def _derivative(
    arr: np.ndarray,
    axes: tuple[str, ...],
    dims: list[str],
    steps: dict,
    choice: dict,
    margins: dict,
) -> np.ndarray:
    """Mixed derivatives as successive pure derivatives, one per distinct axis (a complex
    field: of its real and imaginary parts)."""
    if np.iscomplexobj(arr):
        return _derivative(arr.real, axes, dims, steps, choice, margins) + 1j * _derivative(
            arr.imag, axes, dims, steps, choice, margins
        )
    m = choice["space"]
    out = arr
    for a in dict.fromkeys(axes):
        order = axes.count(a)
        out = m.differentiate(out, steps[a], dims.index(a), order, periodic=choice["periodic"][a])
        margins[a] = max(margins[a], m.margin(order, choice["periodic"][a]))
    return out
