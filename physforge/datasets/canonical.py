"""The canonical dataset: an xarray Dataset with a time coordinate, 1–3 space coordinates and
one or more fields, plus the content hash that identifies it whatever file it came from."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import xarray as xr

from physforge.errors import DataValidationError

__all__ = ["canonicalize", "content_sha256", "time_dim", "space_dims", "field_names"]

TIME_NAMES = ("t", "time", "tt", "T", "Time")
SPACE_NAMES = ("x", "y", "z", "X", "Y", "Z", "xx", "yy", "zz")


def time_dim(ds: xr.Dataset) -> str:
    return ds.attrs["physforge_time"]


def space_dims(ds: xr.Dataset) -> list[str]:
    return [d for d in ds.attrs["physforge_space"].split(",") if d]


def field_names(ds: xr.Dataset) -> list[str]:
    return sorted(ds.data_vars)


def _pick(candidates: Sequence[str], names: Sequence[str], what: str, source: str) -> str | None:
    found = [n for n in candidates if n in names]
    if len(found) > 1:
        raise DataValidationError(
            f"{source}: ambiguous {what} coordinate: found {found}; name one with "
            f"--{'time' if what == 'time' else 'space'}"
        )
    return found[0] if found else None


def canonicalize(
    ds: xr.Dataset,
    source: str,
    *,
    time: str | None = None,
    space: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
) -> xr.Dataset:
    """Order dimensions (time, space…), cast to float64, check the grid, and record roles.

    ``source`` names the file in every error message.
    """
    coords = [str(c) for c in ds.coords if ds[c].ndim == 1 and ds[c].dims == (c,)]
    time = time or _pick(TIME_NAMES, coords, "time", source)
    if time is None or time not in ds.coords:
        raise DataValidationError(
            f"{source}: no time coordinate found (looked for {', '.join(TIME_NAMES)}; "
            f"coordinates are {coords}); name it with --time"
        )
    if space is None:
        space = [c for c in SPACE_NAMES if c in coords]
    space = list(space)
    if not 1 <= len(space) <= 3:
        raise DataValidationError(
            f"{source}: expected 1 to 3 space coordinates, found {space} among {coords}; "
            "name them with --space x,y"
        )
    for name in [time, *space]:
        if name not in ds.coords:
            raise DataValidationError(f"{source}: coordinate {name!r} not found; have {coords}")
    dims = [time, *space]
    fields = list(fields) if fields else [
        str(v) for v in ds.data_vars if set(ds[v].dims) == set(dims)
    ]
    if not fields:
        raise DataValidationError(
            f"{source}: no field variable spans the dimensions {dims}; variables are "
            f"{ {str(k): tuple(map(str, v.dims)) for k, v in ds.data_vars.items()} }"
        )
    out = xr.Dataset(attrs=dict(ds.attrs))
    for f in fields:
        if f not in ds.data_vars:
            raise DataValidationError(f"{source}: field {f!r} not found; have {list(ds.data_vars)}")
        da = ds[f]
        if set(da.dims) != set(dims):
            raise DataValidationError(
                f"{source}: field {f!r} has dimensions {da.dims}, expected {tuple(dims)}"
            )
        out[f] = da.transpose(*dims).astype(np.float64)
    out = out.assign_coords({d: ds[d].astype(np.float64) for d in dims})
    _check_grid(out, source, dims, fields)
    out.attrs.update(
        physforge_time=time, physforge_space=",".join(space), physforge_source=str(source)
    )
    return out


def _check_grid(ds: xr.Dataset, source: str, dims: list[str], fields: list[str]) -> None:
    problems: list[str] = []
    for d in dims:
        c = ds[d].values
        if not np.all(np.isfinite(c)):
            problems.append(f"coordinate {d!r} has NaN or inf values")
        elif c.size > 1 and not np.all(np.diff(c) > 0):
            kind = "duplicated" if np.any(np.diff(c) == 0) else "non-monotonic"
            problems.append(f"coordinate {d!r} is {kind}; expected strictly increasing values")
    if ds[dims[0]].size < 2:
        problems.append(f"a single time step ({dims[0]!r} has 1 value); need at least 2")
    for f in fields:
        bad = ~np.isfinite(ds[f].values)
        if bad.any():
            problems.append(f"field {f!r} has {int(bad.sum())} NaN or inf values")
    if problems:
        raise DataValidationError(f"{source}: " + "; ".join(problems))


def content_sha256(ds: xr.Dataset) -> str:
    """sha256 over canonical content (roles, names, float64 values), not file bytes."""
    h = hashlib.sha256()
    dims = [time_dim(ds), *space_dims(ds)]
    h.update(repr(("dims", dims, "fields", field_names(ds))).encode())
    for d in dims:
        h.update(np.ascontiguousarray(ds[d].values, dtype="<f8").tobytes())
    for f in field_names(ds):
        h.update(np.ascontiguousarray(ds[f].transpose(*dims).values, dtype="<f8").tobytes())
    return h.hexdigest()
