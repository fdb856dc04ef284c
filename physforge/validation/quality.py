"""The data-quality suite (Great Expectations 1.x, ephemeral context) run on every dataset.

Three small tables are validated, all built with bounded memory:

* ``rows``: a bounded sample of canonical rows (coordinates and field values);
* ``axes``: one row per coordinate: samples, the samples needed for the requested derivative
  order, the spread of the grid spacing (sampling regularity);
* ``fields``: one row per field, from the exact chunked scan: non-finite fraction, noise
  estimate, standard deviation.

Each expectation carries a severity in its ``meta``: ``error`` stops ingestion with the
expectation's message, ``warning`` travels in the DatasetRef and steers later stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from physforge.datasets.canonical import (
    ContentScan,
    field_names,
    layout,
    space_dims,
    time_dim,
    value_columns,
)
from physforge.discovery.noise import estimate_noise

__all__ = [
    "QualityReport",
    "run_quality_suite",
    "sample_rows",
    "sample_steps",
    "sampled_noise",
    "NOISE_WARNING",
    "SPACING_TOLERANCE",
]

NOISE_WARNING = 0.05  # noise std / field std above which noise-robust derivatives are needed
SPACING_TOLERANCE = 1e-6  # relative spread of grid steps still called uniform
MAX_SAMPLE_VALUES = 2_000_000  # values read for the noise estimate and the row sample
MAX_ROWS = 20_000  # rows handed to Great Expectations and pandera


@dataclass
class QualityReport:
    """What the suite found: JSON-ready, stored as ``validation.json`` beside the dataset."""

    success: bool
    errors: list[str]
    warnings: list[str]
    noise_estimate: float
    results: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "suite": "physforge-quality",
            "engine": "great_expectations",
            "success": self.success,
            "errors": self.errors,
            "warnings": self.warnings,
            "noise_estimate": self.noise_estimate,
            "results": self.results,
            "stats": self.stats,
        }


# --- bounded samples ----------------------------------------------------------------------------
def sample_steps(ds: xr.Dataset) -> xr.Dataset:
    """Evenly spaced time steps of a grid, at most MAX_SAMPLE_VALUES values in all."""
    t = time_dim(ds)
    per_step = max(1, int(np.prod([ds.sizes[d] for d in space_dims(ds)])) * len(ds.data_vars))
    k = int(min(ds.sizes[t], max(1, MAX_SAMPLE_VALUES // per_step)))
    idx = np.unique(np.linspace(0, ds.sizes[t] - 1, k).round().astype(int))
    return ds.isel({t: idx}).load()


def sampled_noise(ds: xr.Dataset, sample: xr.Dataset | None = None) -> float:
    """Noise std / field std from second differences along the first space axis, on a bounded
    sample of time steps (grids only; 0 for scattered data)."""
    if layout(ds) != "grid":
        return 0.0
    sample = sample_steps(ds) if sample is None else sample
    axis_name = space_dims(ds)[0]
    if sample.sizes[axis_name] < 3:
        return 0.0
    return max(
        estimate_noise(np.asarray(sample[f].values), axis=sample[f].dims.index(axis_name))
        for f in field_names(ds)
    )


def sample_rows(
    ds: xr.Dataset, sample: xr.Dataset | None = None, max_rows: int = MAX_ROWS, seed: int = 0
) -> pd.DataFrame:
    """A bounded, deterministic sample of canonical rows: coordinates then fields."""
    dims = [time_dim(ds), *space_dims(ds)]
    if layout(ds) == "grid":
        sample = sample_steps(ds) if sample is None else sample
        mesh = np.meshgrid(*[sample[d].values for d in dims], indexing="ij")
        cols = {d: m.ravel() for d, m in zip(dims, mesh)}
        cols |= {
            c: getattr(sample[f].transpose(*dims).values, part).astype(np.float64).ravel()
            for c, (f, part) in value_columns(ds).items()
        }
    else:
        cols = {c: ds[c].values for c in dims}
        cols |= {c: getattr(ds[f].values, part) for c, (f, part) in value_columns(ds).items()}
    frame = pd.DataFrame(cols)
    if len(frame) > max_rows:
        pick = np.sort(np.random.default_rng(seed).choice(len(frame), max_rows, replace=False))
        frame = frame.iloc[pick].reset_index(drop=True)
    return frame


# --- the tables ---------------------------------------------------------------------------------
def _axes_table(
    ds: xr.Dataset, derivative_order: int, source_names: dict[str, str]
) -> pd.DataFrame:
    t = time_dim(ds)
    rows = []
    for d in [t, *space_dims(ds)]:
        values = np.asarray(ds[d].values, dtype=np.float64)
        if layout(ds) != "grid":
            values = np.unique(values)
        steps = np.diff(values)
        spread = float(np.ptp(steps) / abs(steps.mean())) if steps.size > 1 else 0.0
        if d == t:
            need = 2
            why = "need at least 2 time steps (a single time step gives no time derivative)"
        elif layout(ds) == "grid":
            need = 2 * derivative_order + 1
            why = (
                f"derivatives of order {derivative_order} need at least {need} points "
                "(a centred stencil)"
            )
        else:
            need = 2
            why = "need at least 2 distinct values"
        label = d if source_names.get(d, d) == d else f"{d} (source {source_names[d]})"
        rows.append(
            {
                "axis": label,
                "n_samples": int(values.size),
                "required": need,
                "why": why,
                "spacing_spread": spread if layout(ds) == "grid" else 0.0,
                "step_min": float(steps.min()) if steps.size else 0.0,
                "step_max": float(steps.max()) if steps.size else 0.0,
            }
        )
    return pd.DataFrame(rows)


def _fields_table(ds: xr.Dataset, scan: ContentScan, noise: float) -> pd.DataFrame:
    rows = []
    for f, st in scan.fields.items():
        rows.append(
            {
                "field": f,
                "nonfinite": st.nonfinite,
                "count": st.count,
                "nonfinite_fraction": st.nonfinite / max(st.count, 1),
                "std": st.std if np.isfinite(st.std) else 0.0,
                "noise": noise,
                "min": st.min,
                "max": st.max,
            }
        )
    return pd.DataFrame(rows)


def _suites(gx, ds: xr.Dataset) -> dict[str, tuple[Any, list[str]]]:
    """The expectation suites per table, with the columns that identify a failing row."""
    E = gx.expectations
    dims = [time_dim(ds), *space_dims(ds)]
    rows = gx.ExpectationSuite(name="physforge-rows")
    for c in [*dims, *value_columns(ds)]:
        rows.add_expectation(
            E.ExpectColumnValuesToNotBeNull(
                column=c,
                meta={
                    "severity": "error",
                    "message": f"column {c!r} has null values in the sampled rows",
                },
            )
        )
    for f in value_columns(ds):
        rows.add_expectation(
            E.ExpectColumnValuesToBeBetween(
                column=f,
                min_value=-1e100,
                max_value=1e100,
                meta={
                    "severity": "error",
                    "message": f"field {f!r} has values beyond ±1e100 "
                    "(products of such values overflow float64), e.g. {" + f + "}",
                },
            )
        )
        rows.add_expectation(
            E.ExpectColumnValueZScoresToBeLessThan(
                column=f,
                threshold=10.0,
                double_sided=True,
                mostly=0.999,
                meta={
                    "severity": "warning",
                    "message": f"field {f!r} has outliers more than 10 "
                    "standard deviations from its mean (spikes?)",
                },
            )
        )
    axes = gx.ExpectationSuite(name="physforge-axes")
    axes.add_expectation(
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="n_samples",
            column_B="required",
            or_equal=True,
            meta={"severity": "error", "message": "axis {axis!r} has {n_samples} value(s); {why}"},
        )
    )
    axes.add_expectation(
        E.ExpectColumnValuesToBeBetween(
            column="spacing_spread",
            max_value=SPACING_TOLERANCE,
            meta={
                "severity": "warning",
                "message": "non-uniform grid: axis {axis!r} has steps "
                "from {step_min:.6g} to {step_max:.6g}",
            },
        )
    )
    fields = gx.ExpectationSuite(name="physforge-fields")
    fields.add_expectation(
        E.ExpectColumnValuesToBeBetween(
            column="nonfinite",
            max_value=0,
            meta={
                "severity": "error",
                "message": "field {field!r} has {nonfinite} NaN or inf "
                "values out of {count}; expected finite values",
            },
        )
    )
    fields.add_expectation(
        E.ExpectColumnValuesToBeBetween(
            column="noise",
            max_value=NOISE_WARNING,
            meta={
                "severity": "warning",
                "message": "estimated noise ≈ {noise:.0%} of the field's "
                "std: use noise-robust derivatives (derivatives='auto' does)",
            },
        )
    )
    fields.add_expectation(
        E.ExpectColumnValuesToBeBetween(
            column="std",
            min_value=0,
            strict_min=True,
            meta={"severity": "warning", "message": "field {field!r} is constant"},
        )
    )
    return {"rows": (rows, []), "axes": (axes, ["axis"]), "fields": (fields, ["field"])}


def run_quality_suite(
    ds: xr.Dataset,
    scan: ContentScan,
    *,
    derivative_order: int = 3,
    rows: pd.DataFrame | None = None,
    noise: float | None = None,
) -> QualityReport:
    """Run the suite; hard failures land in ``errors``, soft ones in ``warnings``."""
    import great_expectations as gx  # slow to import: only here
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sample = sample_steps(ds) if layout(ds) == "grid" else None
    noise = sampled_noise(ds, sample) if noise is None else noise
    rows = sample_rows(ds, sample) if rows is None else rows
    tables = {
        "rows": rows,
        "axes": _axes_table(ds, derivative_order, _renamed(ds)),
        "fields": _fields_table(ds, scan, noise),
    }
    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )
    source = context.data_sources.add_pandas("physforge")
    errors: list[str] = []
    warnings: list[str] = []
    results: list[dict[str, Any]] = []
    for name, (suite, id_columns) in _suites(gx, ds).items():
        table = tables[name]
        batch = (
            source.add_dataframe_asset(name)
            .add_batch_definition_whole_dataframe(f"{name}-all")
            .get_batch(batch_parameters={"dataframe": table})
        )
        fmt: dict[str, Any] = {"result_format": "COMPLETE"}
        if id_columns:
            fmt["unexpected_index_column_names"] = list(table.columns)
        outcome = batch.validate(suite, result_format=fmt)
        for r in outcome.results:
            cfg = r.expectation_config
            failing = [_plain(row) for row in (r.result.get("unexpected_index_list") or [])]
            record = {
                "table": name,
                "expectation": cfg.type,
                "kwargs": {k: _plain(v) for k, v in cfg.kwargs.items() if k != "batch_id"},
                "severity": cfg.meta["severity"],
                "success": bool(r.success),
                "unexpected_count": r.result.get("unexpected_count"),
                "failing": failing[:5] if id_columns else [],
            }
            results.append(record)
            if r.success:
                continue
            target = errors if cfg.meta["severity"] == "error" else warnings
            if id_columns:
                target.extend(_fmt(cfg.meta["message"], row) for row in failing)
            else:
                target.append(_fmt(cfg.meta["message"], _first_bad(r.result, cfg.kwargs)))
    stats = {
        "fields": {f: st.as_dict() for f, st in scan.fields.items()},
        "axes": tables["axes"].to_dict(orient="records"),
        "sampled_rows": len(rows),
    }
    return QualityReport(
        success=not errors,
        errors=list(dict.fromkeys(errors)),
        warnings=list(dict.fromkeys(warnings)),
        noise_estimate=float(noise),
        results=results,
        stats=_plain(stats),
    )


def _renamed(ds: xr.Dataset) -> dict[str, str]:
    import json

    return {v: k for k, v in json.loads(ds.attrs.get("physforge_renamed", "{}")).items()}


def _first_bad(result: dict, kwargs: dict) -> dict:
    values = result.get("partial_unexpected_list") or [None]
    return {kwargs.get("column", ""): values[0]}


def _fmt(template: str, row: dict) -> str:
    try:
        return template.format(**row)
    except (KeyError, ValueError, IndexError):
        return template


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, non-finite floats to strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value
