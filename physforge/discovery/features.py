"""Strong-form features: time derivatives (targets) and the candidate-term library on grid rows."""

from __future__ import annotations

import numpy as np
import xarray as xr

from physforge.config import FeatureConfig
from physforge.datasets.canonical import space_dims, time_dim
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
from physforge.discovery.noise import estimate_noise, looks_periodic
from physforge.discovery.terms import canonical_name, conj_name, derivative_name, multi_indices

__all__ = ["FeatureSet", "build_features", "choose_derivatives", "library_terms"]


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
    """The regression problem of a gridded dataset.

    ``auto`` (the default) uses the weak form wherever the grid allows it: it needs no
    pointwise derivatives of the data and stays accurate at noise levels where local
    derivatives fail. ``auto-pointwise`` picks a pointwise method from the noise estimate
    (spectral on clean periodic axes, finite differences, local polynomials on noisy data);
    symbolic regression needs pointwise values and uses it.
    """
    if cfg.derivatives == "auto" and _weak_applies(ds, cfg.derivative_order):
        cfg = cfg.model_copy(update={"derivatives": "weak"})
    if cfg.derivatives == "weak":
        from physforge.discovery.weak import weak_features

        fs = weak_features(
            ds,
            cfg.poly_degree,
            cfg.derivative_order,
            cfg.include_bias,
            seed=cfg.seed,
            coordinate_degree=cfg.coordinate_degree,
        )
        return realify(fs) if fs.info.get("complex") else fs
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
    space = dims[1:]
    terms = library_terms(
        lv, space, cfg.poly_degree, cfg.derivative_order, cfg.include_bias, cfg.coordinate_degree
    )
    shape = lv.factors[lv.fields[0]].shape
    sl = tuple(slice(margins[d], shape[i] - margins[d]) for i, d in enumerate(dims))
    n_total = int(np.prod([s.stop - s.start for s in sl]))
    rng = np.random.default_rng(cfg.seed)
    rows = np.sort(rng.choice(n_total, size=min(cfg.max_rows, n_total), replace=False))

    def flat(a: np.ndarray) -> np.ndarray:
        return a[sl].reshape(-1)[rows]

    mono_cols = {
        n: flat(monomial_values(p, lv, shape))
        for n, p, _ in library_monomials(lv, cfg.poly_degree, cfg.coordinate_degree)
    }
    dvals = {k: flat(v) for k, v in derivs.items()}
    theta = np.empty((rows.size, len(terms)), dtype=complex if lv.complex else float)
    for j, (_name, mono, d) in enumerate(terms):
        col = mono_cols[canonical_name("*".join(f"{n}**{p}" for n, p in mono.items()) or "1")]
        if d is not None:
            dv = dvals[derivative_name(d[1], d[2])]
            col = col * (np.conj(dv) if d[0].startswith("conj(") else dv)
        theta[:, j] = col
    target = np.stack([flat(v) for v in targets.values()], axis=1)
    info = {**info, "n_grid_rows": n_total}
    return FeatureSet(theta, target, [n for n, _, _ in terms], list(targets), info, rows)


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
