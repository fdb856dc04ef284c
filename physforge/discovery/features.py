"""Strong-form features: time derivatives (targets) and the candidate-term library on grid rows."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from physforge.config import FeatureConfig
from physforge.datasets.canonical import field_names, space_dims, time_dim
from physforge.discovery.derivatives import (
    FiniteDifference,
    LocalPolynomial,
    Spectral,
    get_derivative_method,
    uniform_step,
)
from physforge.discovery.noise import estimate_noise, looks_periodic
from physforge.discovery.terms import derivative_name, monomial_name, multi_indices, product_name

__all__ = ["FeatureSet", "build_features", "choose_derivatives", "library_terms"]


@dataclass
class FeatureSet:
    """The regression problem: ``target ≈ theta @ coef`` row by row."""

    theta: np.ndarray  # (rows, terms)
    target: np.ndarray  # (rows, lhs)
    terms: list[str]
    lhs: list[str]
    info: dict = field(default_factory=dict)
    row_index: np.ndarray | None = None  # flat grid index of each row (neighbours differ by 1)
    # column name -> strong-form terms it stands for (weak form: d_x(u**2) -> {u*u_x: 2})
    expansions: dict[str, dict[str, float]] | None = None

    def expansion_matrix(self) -> tuple[np.ndarray, list[str]]:
        """E such that strong coefficients = column coefficients @ E, and the strong names."""
        exp = self.expansions or {t: {t: 1.0} for t in self.terms}
        names = list(dict.fromkeys(k for t in self.terms for k in exp[t]))
        E = np.zeros((len(self.terms), len(names)))
        for i, t in enumerate(self.terms):
            for k, v in exp[t].items():
                E[i, names.index(k)] += v
        return E, names

    def to_xarray(self) -> xr.Dataset:
        """Arrays as variables; term and lhs names as JSON attributes (portable across Zarr)."""
        data = {"theta": (("row", "term"), self.theta), "target": (("row", "lhs"), self.target)}
        if self.row_index is not None:
            data["row_index"] = (("row",), self.row_index)
        attrs = {"terms": json.dumps(self.terms), "lhs": json.dumps(self.lhs),
                 "info": json.dumps(self.info), "expansions": json.dumps(self.expansions)}
        return xr.Dataset(data, attrs=attrs)

    @classmethod
    def from_xarray(cls, ds: xr.Dataset) -> FeatureSet:
        return cls(
            theta=np.asarray(ds["theta"].values), target=np.asarray(ds["target"].values),
            terms=json.loads(ds.attrs["terms"]), lhs=json.loads(ds.attrs["lhs"]),
            info=json.loads(ds.attrs["info"]),
            row_index=np.asarray(ds["row_index"].values) if "row_index" in ds else None,
            expansions=json.loads(ds.attrs.get("expansions", "null")),
        )


def choose_derivatives(ds: xr.Dataset, cfg: FeatureConfig) -> dict:
    """The derivative method per axis: ``auto`` picks from the noise estimate and periodicity."""
    space = space_dims(ds)
    fields = field_names(ds)
    noise = max(
        estimate_noise(ds[f].values, axis=ds[f].dims.index(space[0])) for f in fields
    )
    declared = [p for p in str(ds.attrs.get("periodic", "")).split(",") if p]
    periodic = {
        d: (d in declared) if declared else all(
            looks_periodic(ds[f].values, ds[f].dims.index(d)) for f in fields
        )
        for d in space
    }
    if cfg.derivatives not in ("auto", "auto-pointwise"):
        method = get_derivative_method(cfg.derivatives)
        return {"space": method, "time": method, "periodic": periodic, "noise": noise}
    if noise < 1e-3:
        space_method = Spectral() if all(periodic.values()) else FiniteDifference(accuracy=6)
        time_method = FiniteDifference(accuracy=4)
    else:
        window = int(np.clip(7 + 120 * noise, 7, 41)) | 1
        space_method = LocalPolynomial(window=window, degree=5)
        time_method = LocalPolynomial(window=window, degree=3)
    return {"space": space_method, "time": time_method, "periodic": periodic, "noise": noise}


def library_terms(fields: list[str], space: list[str], degree: int, order: int,
                  include_bias: bool = True) -> list[tuple[str, dict[str, int], tuple | None]]:
    """(name, monomial powers, derivative) for monomials × (1 or one derivative), PDE-FIND style."""
    monomials: list[dict[str, int]] = []
    for deg in range(degree + 1):
        for combo in itertools.combinations_with_replacement(fields, deg):
            monomials.append({f: combo.count(f) for f in fields if combo.count(f)})
    derivs: list[tuple[str, tuple[str, ...]] | None] = [None] + [
        (f, axes) for f in fields for axes in multi_indices(space, order)
    ]
    out = []
    for d in derivs:
        for mono in monomials:
            name = product_name(monomial_name(mono), derivative_name(*d) if d else "1")
            if name == "1" and not include_bias:
                continue
            out.append((name, mono, d))
    return out


def _weak_applies(ds: xr.Dataset, order: int) -> bool:
    """The weak form needs a uniform grid with room for test functions on every axis."""
    for d in [time_dim(ds), *space_dims(ds)]:
        c = ds[d].values
        steps = np.diff(c)
        if c.size < 2 * (order + 3) + 1 or not np.allclose(steps, steps[0], rtol=1e-6):
            return False
    return True


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

        return weak_features(ds, cfg.poly_degree, cfg.derivative_order, cfg.include_bias,
                             seed=cfg.seed)
    t, space = time_dim(ds), space_dims(ds)
    fields = field_names(ds)
    dims = [t, *space]
    choice = choose_derivatives(ds, cfg)
    steps = {d: uniform_step(ds[d].values, d) for d in dims}
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
        targets[f"{f}_{t}"] = tm.differentiate(values[f], steps[t], 0, 1, periodic=False)
        margins[t] = max(margins[t], tm.margin(1, False))

    info = {
        "derivatives_space": choice["space"].name,
        "derivatives_time": choice["time"].name,
        "noise_estimate": float(choice["noise"]),
        "periodic": ",".join(d for d, p in choice["periodic"].items() if p),
    }
    return assemble_library(values, derivs, targets, dims, margins, cfg, info)


def assemble_library(values: dict[str, np.ndarray], derivs: dict[str, np.ndarray],
                     targets: dict[str, np.ndarray], dims: list[str], margins: dict[str, int],
                     cfg: FeatureConfig, info: dict) -> FeatureSet:
    """Pointwise library rows from gridded field values and derivatives (edges trimmed by
    ``margins``, rows sampled up to ``cfg.max_rows``)."""
    fields, space = list(values), dims[1:]
    terms = library_terms(fields, space, cfg.poly_degree, cfg.derivative_order, cfg.include_bias)
    shape = values[fields[0]].shape
    sl = tuple(slice(margins[d], shape[i] - margins[d]) for i, d in enumerate(dims))
    n_total = int(np.prod([s.stop - s.start for s in sl]))
    rng = np.random.default_rng(cfg.seed)
    rows = np.sort(rng.choice(n_total, size=min(cfg.max_rows, n_total), replace=False))

    def flat(a: np.ndarray) -> np.ndarray:
        return a[sl].reshape(-1)[rows]

    fvals = {f: flat(values[f]) for f in fields}
    dvals = {k: flat(v) for k, v in derivs.items()}
    theta = np.empty((rows.size, len(terms)))
    for j, (_name, mono, d) in enumerate(terms):
        col = np.ones(rows.size)
        for f, p in mono.items():
            col = col * fvals[f] ** p
        if d is not None:
            col = col * dvals[derivative_name(*d)]
        theta[:, j] = col
    target = np.stack([flat(v) for v in targets.values()], axis=1)
    info = {**info, "n_grid_rows": n_total}
    return FeatureSet(theta, target, [n for n, _, _ in terms], list(targets), info, rows)


def surrogate_features(ensemble, ds: xr.Dataset, cfg: FeatureConfig,
                       points_per_axis: int = 64, trim: float = 0.05) -> FeatureSet:
    """Library rows from a PINN surrogate: fields and derivatives by autodiff of the ensemble
    mean on the data's grid (scattered data: a regular grid over the points' bounding box),
    ``trim`` of each axis dropped at both ends where the network is least constrained."""
    from physforge.datasets.canonical import layout

    t, space = time_dim(ds), space_dims(ds)
    dims = [t, *space]
    fields = list(ensemble.fields)
    if layout(ds) == "scattered":
        axes = {d: np.linspace(float(ds[d].min()), float(ds[d].max()), points_per_axis)
                for d in dims}
    else:
        axes = {d: ds[d].values for d in dims}
    mesh = dict(zip(dims, np.meshgrid(*axes.values(), indexing="ij")))
    wanted = [(d,) for d in [t]] + [()] + multi_indices(space, cfg.derivative_order)
    out = ensemble.derivatives(mesh, fields=fields, multi_indices=wanted)
    values = {f: out[f] for f in fields}
    derivs = {derivative_name(f, a): out[derivative_name(f, a)]
              for f in fields for a in multi_indices(space, cfg.derivative_order)}
    targets = {f"{f}_{t}": out[derivative_name(f, (t,))] for f in fields}
    margins = {d: int(trim * axes[d].size) for d in dims}
    info = {"derivatives_space": "surrogate", "derivatives_time": "surrogate",
            "surrogate_members": int(ensemble.size)}
    return assemble_library(values, derivs, targets, dims, margins, cfg, info)


def _derivative(arr: np.ndarray, axes: tuple[str, ...], dims: list[str], steps: dict,
                choice: dict, margins: dict) -> np.ndarray:
    """Mixed derivatives as successive pure derivatives, one per distinct axis."""
    m = choice["space"]
    out = arr
    for a in dict.fromkeys(axes):
        order = axes.count(a)
        out = m.differentiate(out, steps[a], dims.index(a), order, periodic=choice["periodic"][a])
        margins[a] = max(margins[a], m.margin(order, choice["periodic"][a]))
    return out
