"""The proposal table: one row per proposed measurement, validated with pandera.

Columns: ``rank`` (1 = measure first), one column per design dimension (the centre of the
window, or the simulator parameter), ``acquisition`` (its name), ``value`` (the acquisition
value when picked), ``separates`` (the rival models the measurement tells apart best, for
model discrimination) and ``expected_gain`` (expected information gain, nats).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from physforge.discovery.design.candidates import DesignSpace
from physforge.errors import DataValidationError

__all__ = ["proposal_schema", "proposal_table", "validate_proposals"]


def proposal_schema(space: DesignSpace) -> pa.DataFrameSchema:
    """The schema of a proposal table over ``space``: centres whose windows stay in bounds."""
    half = dict(zip(space.dims, space.half()))
    cols = {
        "rank": pa.Column(int, [pa.Check.ge(1)], unique=True),
        "acquisition": pa.Column(str),
        "value": pa.Column(float, pa.Check(np.isfinite, element_wise=True, name="finite")),
        "separates": pa.Column(str),
        "expected_gain": pa.Column(float, pa.Check.ge(0.0)),
    }
    for d, (lo, hi) in space.bounds.items():
        cols[d] = pa.Column(
            float,
            pa.Check.in_range(lo + half[d] - 1e-9, hi - half[d] + 1e-9),
            description=f"window centre along {d}",
        )

    def clear(df: pd.DataFrame) -> bool:
        return bool(space.admissible(df[space.dims].to_numpy(dtype=float)).all())

    return pa.DataFrameSchema(
        cols,
        checks=[
            pa.Check(
                clear,
                name="outside forbidden regions",
                error="a proposed window touches a forbidden region",
            )
        ],
        strict=True,
        ordered=False,
    )


def validate_proposals(df: pd.DataFrame, space: DesignSpace) -> pd.DataFrame:
    try:
        return proposal_schema(space).validate(df, lazy=True)
    except SchemaErrors as exc:
        raise DataValidationError(
            f"proposal table refused: {exc.failure_cases.to_dict('records')}"
        ) from exc


def proposal_table(
    points: np.ndarray,
    values: np.ndarray,
    gains: np.ndarray,
    separates: list[str],
    acquisition: str,
    space: DesignSpace,
) -> pd.DataFrame:
    df = pd.DataFrame(
        {d: np.atleast_2d(points)[:, j].astype(float) for j, d in enumerate(space.dims)}
    )
    df.insert(0, "rank", np.arange(1, len(df) + 1, dtype=int))
    df["acquisition"] = acquisition
    df["value"] = np.asarray(values, dtype=float)
    df["separates"] = list(separates)
    df["expected_gain"] = np.maximum(np.asarray(gains, dtype=float), 0.0)
    return validate_proposals(df, space)
