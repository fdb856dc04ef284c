"""pandera schemas: tabular input, canonical coordinates and canonical rows.

Every schema is validated lazily, so one error lists every failure at once; each failure is
worded as ``<file>: column 'u' …: expected …, found …``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from physforge.errors import DataValidationError

__all__ = [
    "table_schema",
    "coordinate_schema",
    "rows_schema",
    "validate_table",
    "validate_grid_coordinates",
    "validate_rows",
]


def _numeric(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def _non_decreasing(s: pd.Series) -> pd.Series:
    """Each finite value at least its finite predecessor (NaN/inf are the finite check's)."""
    finite = s[np.isfinite(s)]
    ok = finite.diff().fillna(0.0) >= 0
    return ok.reindex(s.index, fill_value=True)


_IS_NUMBER = pa.Check(lambda s: _numeric(s).notna() | s.isna(), name="numeric")
_IS_FINITE = pa.Check(lambda s: ~np.isinf(_numeric(s).astype(float)), name="finite")
_NON_DECREASING = pa.Check(_non_decreasing, name="monotonic")

_WORDS = {
    "numeric": "is not numeric: expected numbers, found text",
    "finite": "has inf values: expected finite numbers",
    "not_nullable": "has empty or NaN values: expected finite numbers",
    "monotonic": "is non-monotonic: expected strictly increasing values",
    "field_uniqueness": "is duplicated: expected strictly increasing values, found repeats",
    "column_in_dataframe": "is missing",
    "dtype('float64')": "is not float64",
}


def table_schema(coords: Sequence[str], fields: Sequence[str]) -> pa.DataFrameSchema:
    """Long-form input: the coordinate and field columns, all numeric and finite."""
    cols = {
        c: pa.Column(None, checks=[_IS_NUMBER, _IS_FINITE], nullable=False, required=True)
        for c in [*coords, *fields]
    }
    return pa.DataFrameSchema(cols, name="physforge tabular input")


def coordinate_schema(name: str) -> pa.DataFrameSchema:
    """One canonical grid coordinate: float64, finite, unique and increasing."""
    return pa.DataFrameSchema(
        {
            name: pa.Column(
                "float64", checks=[_IS_FINITE, _NON_DECREASING], nullable=False, unique=True
            )
        },
        name=f"physforge coordinate {name}",
    )


def rows_schema(coords: Sequence[str], fields: Sequence[str]) -> pa.DataFrameSchema:
    """Canonical rows (coordinates and field values per point): float64 and finite."""
    cols = {
        c: pa.Column("float64", checks=[_IS_FINITE], nullable=False) for c in [*coords, *fields]
    }
    return pa.DataFrameSchema(cols, name="physforge canonical rows")


def _messages(
    exc: SchemaErrors,
    what: str,
    columns: Sequence[str],
    names: Mapping[str, str] | None = None,
    locate: Callable[[int], str] | None = None,
) -> list[str]:
    """One line per (column, check): what was expected, what was found, where (``locate``:
    a row index in the user's terms, e.g. coordinates and grid indices)."""
    names = names or {}
    out: list[str] = []
    cases = exc.failure_cases
    for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        if check == "column_in_dataframe":
            out += [
                f"required {what} {str(c)!r} is missing; columns are {list(columns)}"
                for c in group["failure_case"]
            ]
            continue
        label = names.get(str(column), str(column))
        words = _WORDS.get(str(check), f"fails {check}")
        rows = group["index"].dropna().tolist()
        shown = group["failure_case"].tolist()[:3]
        if rows and locate is not None:
            where = " at " + "; ".join(locate(int(r)) for r in rows[:3])
        else:
            where = f" at rows {rows[:3]}" if rows else ""
        examples = ", ".join(repr(v) for v in shown)
        out.append(f"{what} {label!r} {words} ({len(group)} failing{where}: {examples})")
    return out


def validate_table(
    frame: pd.DataFrame, coords: Sequence[str], fields: Sequence[str], source: str
) -> pd.DataFrame:
    """Check long-form input; returns the needed columns as float64."""
    if frame.empty:
        raise DataValidationError(f"{source}: the table has no rows; expected at least 2")
    try:
        table_schema(coords, fields).validate(frame, lazy=True)
    except SchemaErrors as exc:
        raise DataValidationError(
            f"{source}: " + "; ".join(_messages(exc, "column", list(frame.columns)))
        ) from None
    return frame[[*coords, *fields]].apply(_numeric).astype(np.float64)


def validate_grid_coordinates(
    values: Mapping[str, np.ndarray], source: str, source_names: Mapping[str, str] | None = None
) -> None:
    """Every grid coordinate at once: finite, unique, strictly increasing."""
    problems: list[str] = []
    for name, v in values.items():
        frame = pd.DataFrame({name: np.asarray(v, dtype=np.float64)})
        try:
            coordinate_schema(name).validate(frame, lazy=True)
        except SchemaErrors as exc:
            problems += _messages(exc, "coordinate", list(values), source_names)
    if problems:
        raise DataValidationError(f"{source}: " + "; ".join(problems))


def validate_rows(
    frame: pd.DataFrame,
    coords: Sequence[str],
    fields: Sequence[str],
    source: str,
    grid: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Canonical rows (a bounded sample for large data): float64, finite. A failing row is
    named by its coordinates, and with ``grid`` (the coordinate arrays of a gridded dataset)
    by its index along each: ``t=0.204 (index 10), x=0.079 (index 5)`` (scattered points by
    their coordinates alone)."""

    def locate(row: int) -> str:
        parts = []
        for c in coords:
            value = float(frame[c].iloc[row])
            axis = None if grid is None else grid.get(c)
            index = "" if axis is None else f" (index {int(np.abs(axis - value).argmin())})"
            parts.append(f"{c}={value:.6g}{index}")
        return ", ".join(parts)

    try:
        rows_schema(coords, fields).validate(frame, lazy=True)
    except SchemaErrors as exc:
        words = _messages(exc, "field", list(frame.columns), locate=locate)
        raise DataValidationError(f"{source}: " + "; ".join(words)) from None
