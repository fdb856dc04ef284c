"""The regression problem every discovery backend solves: a library ``theta`` and targets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

__all__ = ["FeatureSet"]


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
        cplx = any(isinstance(v, complex) for e in exp.values() for v in e.values())
        E = np.zeros((len(self.terms), len(names)), dtype=complex if cplx else float)
        for i, t in enumerate(self.terms):
            for k, v in exp[t].items():
                E[i, names.index(k)] += v
        return E, names

    def to_xarray(self) -> xr.Dataset:
        """Arrays as variables; term and lhs names as JSON attributes (portable across Zarr)."""
        data: dict[str, tuple[tuple[str, ...], np.ndarray]] = {
            "theta": (("row", "term"), self.theta),
            "target": (("row", "lhs"), self.target),
        }
        if self.row_index is not None:
            data["row_index"] = (("row",), self.row_index)
        attrs = {
            "terms": json.dumps(self.terms),
            "lhs": json.dumps(self.lhs),
            "info": json.dumps(self.info),
            "expansions": json.dumps(_encode(self.expansions)),
        }
        return xr.Dataset(data, attrs=attrs)

    @classmethod
    def from_xarray(cls, ds: xr.Dataset) -> FeatureSet:
        return cls(
            theta=np.asarray(ds["theta"].values),
            target=np.asarray(ds["target"].values),
            terms=json.loads(ds.attrs["terms"]),
            lhs=json.loads(ds.attrs["lhs"]),
            info=json.loads(ds.attrs["info"]),
            row_index=np.asarray(ds["row_index"].values) if "row_index" in ds else None,
            expansions=_decode(json.loads(ds.attrs.get("expansions", "null"))),
        )


def _encode(expansions: dict | None) -> dict | None:
    """Complex expansion factors (``I*u_xx`` → {u_xx: 1j}) as ``[re, im]`` for JSON."""
    if expansions is None:
        return None
    return {
        k: {t: [v.real, v.imag] if isinstance(v, complex) else v for t, v in e.items()}
        for k, e in expansions.items()
    }


def _decode(expansions: dict | None) -> dict | None:
    if expansions is None:
        return None
    return {
        k: {t: complex(*v) if isinstance(v, list) else v for t, v in e.items()}
        for k, e in expansions.items()
    }
