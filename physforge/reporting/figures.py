"""The report's figures, as plain functions of arrays and result records (no pyplot state).

Each ``*_figure`` returns a :class:`matplotlib.figure.Figure`; :func:`to_png` renders it. The
numbers behind a figure come from functions that are tested on their own
(:func:`derivative_estimates`, :func:`pareto_points`, :func:`pareto_front`).
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from physforge.discovery.derivatives import (
    FiniteDifference,
    LocalPolynomial,
    Spectral,
    is_uniform,
)
from physforge.discovery.noise import looks_periodic
from physforge.discovery.terms import real_parts

__all__ = [
    "to_png",
    "mathtext",
    "equation_figure",
    "is_scattered",
    "field_figure",
    "surrogate_figure",
    "derivative_estimates",
    "derivative_figure",
    "pareto_points",
    "pareto_front",
    "pareto_figure",
    "coefficient_figure",
    "proposals_figure",
]

DPI = 80
_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


def to_png(fig: Figure, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    # a figure with a layout engine fits its canvas already; the others are cropped to what
    # they draw (a long equation's text may run past the canvas): that costs another draw
    tight = "tight" if fig.get_layout_engine() is None else None
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches=tight)
    return buf.getvalue()


def _dims(ds: xr.Dataset) -> tuple[str, list[str]]:
    t = ds.attrs.get("physforge_time") or next(d for d in ds.dims if d in ("t", "time"))
    space = [d for d in str(ds.attrs.get("physforge_space", "")).split(",") if d]
    return t, space or [d for d in ds[next(iter(ds.data_vars))].dims if d != t]


def _extent(ds: xr.Dataset, name: str) -> tuple[float, float]:
    v = ds[name].values
    return float(np.nanmin(v)), float(np.nanmax(v))


def mathtext(latex: str) -> str:
    """A result's LaTeX for matplotlib's mathtext, which drops spaces: factors get ``\\,``."""
    return re.sub(r"(?<=[\w}]) +(?=[\w\\])", r"\\,", latex)


def _typesets(tex: str) -> bool:
    from matplotlib.mathtext import MathTextParser

    try:
        MathTextParser("path").parse(tex)
    except ValueError:
        return False
    return True


def equation_figure(equations: Sequence[Mapping[str, Any]]) -> Figure:
    """The best equation of each lhs, typeset by matplotlib's mathtext (no TeX, no network);
    LaTeX that mathtext cannot typeset is shown as its source."""
    lines = [eq["latex"] for eq in equations]
    fig = Figure(figsize=(9, 0.55 + 0.6 * len(lines)))
    for i, latex in enumerate(lines):
        y = 1 - (i + 0.5) / len(lines)
        tex = f"${mathtext(latex)}$"
        if _typesets(tex):
            fig.text(0.02, y, tex, fontsize=20, va="center")
        else:
            fig.text(0.02, y, latex, fontsize=16, va="center", family="monospace", parse_math=False)
    return fig


def is_scattered(ds: xr.Dataset) -> bool:
    return ds.attrs.get("physforge_layout", "grid") == "scattered"


def field_figure(ds: xr.Dataset, field: str) -> Figure:
    """The measured field: u(x, t) as an image for one space dimension, snapshots otherwise;
    scattered measurements as points coloured by value."""
    t, space = _dims(ds)
    da = ds[field]
    if is_scattered(ds):
        fig = Figure(figsize=(7, 3.8))
        ax = fig.subplots()
        a, b = (space[0], t) if len(space) == 1 else (space[0], space[1])
        sc = ax.scatter(ds[a].values, ds[b].values, c=da.values, s=6, cmap="RdBu_r")
        fig.colorbar(sc, ax=ax, label=field)
        ax.set(xlabel=a, ylabel=b, title=f"{field}: {da.size} scattered measurements")
        return fig
    if len(space) == 1:
        x = space[0]
        fig = Figure(figsize=(9, 3.6))
        ax = fig.subplots()
        vals = da.transpose(t, x).values
        im = ax.pcolormesh(ds[x].values, ds[t].values, vals, shading="auto", cmap="RdBu_r")
        fig.colorbar(im, ax=ax, label=field)
        ax.set(xlabel=x, ylabel=t, title=f"{field}({x}, {t}): {vals.shape[0]} × {vals.shape[1]}")
        return fig
    times = ds[t].values
    picks = sorted({0, len(times) // 2, len(times) - 1})
    fig = Figure(figsize=(3.4 * len(picks), 3.2))
    axes = np.atleast_1d(fig.subplots(1, len(picks)))
    a, b = space[:2]
    others = {d: ds[d].size // 2 for d in space[2:]}
    for ax, i in zip(axes, picks):
        sl = da.isel({t: i, **others}).transpose(b, a)
        im = ax.pcolormesh(ds[a].values, ds[b].values, sl.values, shading="auto", cmap="RdBu_r")
        ax.set(xlabel=a, ylabel=b, title=f"{field} at {t} = {times[i]:.3g}")
        fig.colorbar(im, ax=ax)
    return fig


def _plane(da: xr.DataArray, t: str, x: str) -> np.ndarray:
    """``da`` on the (t, x) plane: middle slices of every other dimension."""
    others = {d: da.sizes[d] // 2 for d in da.dims if d not in (t, x)}
    return da.isel(others).transpose(t, x).values


def surrogate_figure(ds: xr.Dataset, prediction: xr.Dataset, field: str) -> Figure:
    """Data, surrogate and their residual on the data grid (and the ensemble spread if stored)."""
    t, space = _dims(ds)
    x = space[0]
    data = _plane(ds[field], t, x)
    pred = _plane(prediction[field], t, x)
    panels = [("data", data), ("surrogate", pred), ("residual", pred - data)]
    if f"{field}_std" in prediction:
        panels.append(("ensemble std", _plane(prediction[f"{field}_std"], t, x)))
    fig = Figure(figsize=(3.3 * len(panels), 3.2), layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True)
    for ax, (name, vals) in zip(axes, panels):
        lim = float(np.nanmax(np.abs(vals))) if name == "residual" else None
        im = ax.pcolormesh(
            ds[x].values,
            ds[t].values,
            vals,
            shading="auto",
            cmap="viridis" if name == "ensemble std" else "RdBu_r",
            vmin=-lim if lim else None,
            vmax=lim,
        )
        ax.set(title=name, xlabel=x)
        fig.colorbar(im, ax=ax)
    axes[0].set_ylabel(t)
    rms = float(np.sqrt(np.nanmean((pred - data) ** 2)))
    fig.suptitle(f"surrogate fit of {field}: RMS residual {rms:.3g}")
    return fig


def derivative_estimates(
    ds: xr.Dataset, field: str, order: int, axis: str | None = None
) -> dict[str, np.ndarray]:
    """The ``order``-th derivative of ``field`` along a space axis by each method, on the grid.

    Edges a method cannot trust are NaN. Spectral differentiation appears only on a periodic
    axis (elsewhere it would repeat finite differences).
    """
    t, space = _dims(ds)
    axis = axis or space[0]
    da = ds[field]
    vals = da.values
    ax = da.dims.index(axis)
    step = ds[axis].values  # coordinates: a non-uniform axis gets stencils on its offsets
    declared = [p for p in str(ds.attrs.get("periodic", "")).split(",") if p]
    periodic = is_uniform(step) and (axis in declared if declared else looks_periodic(vals, ax))
    methods: list[Any] = [FiniteDifference(accuracy=4), LocalPolynomial(window=11, degree=5)]
    if periodic:
        methods.insert(1, Spectral())
    out = {}
    for m in methods:
        d = np.array(m.differentiate(vals, step, ax, order, periodic=periodic), dtype=float)
        edge = m.margin(order, periodic)
        if edge:
            idx = [slice(None)] * d.ndim
            idx[ax] = np.r_[0:edge, d.shape[ax] - edge : d.shape[ax]]
            d[tuple(idx)] = np.nan
        out[m.name] = d
    return out


def derivative_figure(
    ds: xr.Dataset,
    field: str,
    orders: Sequence[int] = (1, 2),
    max_points: int = 2000,
    seed: int = 0,
    max_times: int = 17,
) -> Figure:
    """Each method's derivative: a profile, and every method against the first (finite
    differences) in one scatter plot, with their relative RMS difference.

    The derivatives are along space, so each time slice is differentiated on its own: the
    figure uses at most ``max_times`` evenly spaced slices (the middle one among them), which
    is exact for those slices and keeps the report's cost independent of the record length.
    """
    t, space = _dims(ds)
    x = space[0]
    nt, mid = ds[t].size, ds[t].size // 2
    if nt > max_times:
        keep = np.unique(np.r_[np.linspace(0, nt - 1, max_times - 1).round().astype(int), mid])
        ds, mid = ds.isel({t: keep}), int(np.flatnonzero(keep == mid)[0])
    rows = [(order, derivative_estimates(ds, field, order, x)) for order in orders]
    fig = Figure(figsize=(9.6, 3.0 * len(rows)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), 2, squeeze=False))
    rng = np.random.default_rng(seed)
    xs = ds[x].values
    for r, (order, est) in enumerate(rows):
        label = f"{field}_{x * order}"
        names = list(est)
        ax0 = axes[r, 0]
        for k, name in enumerate(names):
            prof = _plane(xr.DataArray(est[name], dims=ds[field].dims), t, x)[mid]
            ax0.plot(xs, prof, color=_COLORS[k], lw=1.2, label=name, ls=("-", "--", ":")[k % 3])
        ax0.set(title=f"{label} at {t} = {ds[t].values[mid]:.3g}", xlabel=x)
        ax0.legend(fontsize=7)
        ax = axes[r, 1]
        ref = est[names[0]].ravel()
        lo, hi = np.inf, -np.inf
        for k, name in enumerate(names[1:], start=1):
            other = est[name].ravel()
            ok = np.flatnonzero(np.isfinite(ref) & np.isfinite(other))
            if not ok.size:
                continue
            pick = rng.choice(ok, size=min(max_points, ok.size), replace=False)
            scale = float(np.sqrt(np.mean(ref[ok] ** 2))) or 1.0
            rel = float(np.sqrt(np.mean((ref[ok] - other[ok]) ** 2))) / scale
            ax.plot(
                ref[pick],
                other[pick],
                "o",
                ms=1.5,
                alpha=0.4,
                color=_COLORS[k],
                label=f"{name}: relative RMS difference {rel:.2g}",
            )
            lo, hi = min(lo, np.nanmin(ref[pick])), max(hi, np.nanmax(ref[pick]))
        if np.isfinite(lo):
            ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
        ax.set(
            xlabel=f"{label} ({names[0]})",
            ylabel=f"{label} (other methods)",
            title=f"{label}: each method against {names[0]}",
        )
        # the points lie along the diagonal: its upper left corner is free (and "best" would
        # search every point for a place, a tenth of a second)
        ax.legend(fontsize=7, markerscale=4, loc="upper left")
    return fig


def pareto_points(fs: Any, backend: str = "stlsq", n_thresholds: int = 40) -> list[dict]:
    """Every model of the sparsity sweep, per lhs: complexity, 1 − R² and its terms."""
    from physforge.discovery.regression import sweep

    points = []
    for j, lhs in enumerate(fs.lhs):
        y = fs.target[:, j]
        tss = float(np.sum((y - y.mean()) ** 2)) or 1.0
        with warnings.catch_warnings():  # thresholds above every coefficient are expected
            warnings.filterwarnings("ignore", message="Sparsity parameter is too big")
            cands = sweep(fs.theta, y, backend, n_thresholds)
        for cand in cands:
            if cand.k == 0:
                continue
            points.append(
                {
                    "lhs": lhs,
                    "complexity": cand.k,
                    "loss": max(cand.rss / tss, 1e-16),
                    "terms": [fs.terms[i] for i in cand.support],
                }
            )
    return points


def pareto_front(points: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The non-dominated points (no other point is as simple and strictly better, or simpler
    and as good), sorted by complexity, for one lhs."""
    front: list[Mapping[str, Any]] = []
    for p in sorted(points, key=lambda p: (p["complexity"], p["loss"])):
        if not front or p["loss"] < front[-1]["loss"]:
            if front and p["complexity"] == front[-1]["complexity"]:
                continue
            front.append(p)
    return front


def pareto_figure(
    points: Sequence[Mapping[str, Any]], equations: Sequence[Mapping[str, Any]]
) -> Figure:
    """Loss (1 − R²) against complexity: the sweep's models, their front, the ranked choices."""
    lhs_names = list(dict.fromkeys([p["lhs"] for p in points] + [e["lhs"] for e in equations]))
    fig = Figure(figsize=(4.6 * len(lhs_names), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(lhs_names)))
    for ax, lhs in zip(axes, lhs_names):
        pts = [p for p in points if p["lhs"] == lhs]
        if pts:
            ax.scatter(
                [p["complexity"] for p in pts],
                [p["loss"] for p in pts],
                s=14,
                color="0.6",
                label="sweep models",
            )
            front = pareto_front(pts)
            ax.plot(
                [p["complexity"] for p in front],
                [p["loss"] for p in front],
                "-",
                color="tab:blue",
                lw=1.2,
                label="Pareto front",
            )
        ranked = sorted((e for e in equations if e["lhs"] == lhs), key=lambda e: e["rank"])
        for e in ranked:
            loss = max(1.0 - float(e["score"]["r2"]), 1e-16)
            best = e["rank"] == 1
            ax.scatter(
                [e["score"]["complexity"]],
                [loss],
                s=120 if best else 50,
                marker="*" if best else "o",
                color="tab:red" if best else "tab:orange",
                zorder=3,
                label="chosen" if best else None,
            )
            ax.annotate(
                f"#{e['rank']}",
                (e["score"]["complexity"], loss),
                fontsize=8,
                xytext=(4, 4),
                textcoords="offset points",
            )
        ax.set_yscale("log")
        ax.set(xlabel="complexity (terms)", ylabel="1 − R²", title=f"{lhs}: candidate models")
        ax.legend(fontsize=7)
    return fig


def coefficient_figure(equation: Mapping[str, Any]) -> Figure:
    """Each term's coefficient with its 95 % interval (own scale per term), and inclusion
    probabilities of every library term the bootstrap ever picked (a complex coefficient as
    its real and imaginary part)."""
    equation = real_parts(equation)
    terms = list(equation["terms"])
    ci = equation.get("ci95", {})
    incl = equation.get("inclusion_probability", {})
    n = max(len(terms), 1)
    fig = Figure(figsize=(10, 0.9 + 0.75 * max(n, len(incl) / 2)), layout="constrained")
    grid = fig.add_gridspec(n, 2, width_ratios=[1.4, 1])
    for i, term in enumerate(terms):
        ax = fig.add_subplot(grid[i, 0])
        c = equation["terms"][term]
        lo, hi = ci.get(term, (c, c))
        ax.errorbar([c], [0], xerr=[[c - lo], [hi - c]], fmt="o", color="tab:blue", capsize=5)
        half = max(0.6 * (hi - lo), abs(c) * 1e-6, 1e-12)
        ax.set_xlim(min(lo, c) - half, max(hi, c) + half)
        ax.set_yticks([0], [term])
        ax.ticklabel_format(axis="x", useOffset=False)
        ax.tick_params(axis="x", labelsize=7)
        ax.locator_params(axis="x", nbins=5)
        ax.set_title(f"{term}: {c:.6g}  [{lo:.6g}, {hi:.6g}]", fontsize=8, loc="left")
    ax = fig.add_subplot(grid[:, 1])
    if incl:
        names = sorted(incl, key=lambda k: -incl[k])
        colors = ["tab:blue" if k in equation["terms"] else "0.6" for k in names]
        ax.barh(names, [incl[k] for k in names], color=colors)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
    else:
        ax.text(0.5, 0.5, "no bootstrap in this run", ha="center", va="center")
    ax.set(xlabel="inclusion probability", title=f"{equation['lhs']}: bootstrap")
    return fig


def proposals_figure(
    ds: xr.Dataset, field: str, proposals: Sequence[Mapping[str, float]]
) -> Figure:
    """The proposed measurements over the data domain (on the field for one space dimension)."""
    t, space = _dims(ds)
    fig = field_figure(ds, field) if len(space) == 1 else Figure(figsize=(6, 4.5))
    ax = fig.axes[0] if len(space) == 1 else fig.subplots()
    a, b = (space[0], t) if len(space) == 1 else (space[0], space[1])
    pts = [p for p in proposals if a in p and b in p]
    score = [p.get("score", np.nan) for p in pts]
    sc = ax.scatter(
        [p[a] for p in pts],
        [p[b] for p in pts],
        c=score,
        s=60,
        marker="X",
        edgecolors="k",
        cmap="viridis",
        zorder=3,
    )
    if np.isfinite(score).any():
        fig.colorbar(sc, ax=ax, label="acquisition score")
    if len(space) > 1:
        ax.set(xlim=_extent(ds, a), ylim=_extent(ds, b), xlabel=a, ylabel=b)
    ax.set_title(f"{len(pts)} proposed measurements over the data domain")
    return fig
