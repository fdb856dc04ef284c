"""The canonical dataset and the content hash that identifies it whatever file it came from.

Two layouts, both xarray Datasets whose attributes record the roles of the variables:

* ``grid``: coordinates ``t`` then one to three of ``x``, ``y``, ``z`` as dimensions, every
  field spanning all of them in that order;
* ``scattered``: one dimension ``point``; ``t``, ``x``, … are coordinate variables over it and
  every field is a value per point. Points are sorted by (t, x, y, z), so the row order of the
  source never changes the dataset or its hash.

Raw datasets come from :mod:`physforge.datasets.readers` in one of three shapes, told by
``attrs["physforge_raw"]``: ``labelled`` (dimensions named by the file: NetCDF, Zarr),
``arrays`` (named arrays without dimension names: ``.npz``, ``.mat``, plain HDF5) and ``table``
(long-form columns over one ``row`` dimension: CSV, Parquet). A table whose coordinates form a
full tensor grid becomes a grid; any other table is scattered.

Coordinate names follow the term grammar of the discovery result (``u_xx`` is a second
derivative in ``x``): time becomes ``t`` and space ``x``, ``y``, ``z`` in the order given,
unless already so named; PDE-FIND's field names ``usol``/``uu`` become ``u``. The source names
are kept in ``attrs["physforge_renamed"]``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from physforge.errors import DataValidationError

__all__ = [
    "canonicalize",
    "content_sha256",
    "scan",
    "ContentScan",
    "FieldStats",
    "iter_slabs",
    "time_dim",
    "space_dims",
    "field_names",
    "value_columns",
    "given_names",
    "is_complex",
    "layout",
    "POINT_DIM",
    "TIME_NAMES",
    "SPACE_NAMES",
]

TIME_NAMES = ("t", "time", "tt", "T", "Time")
SPACE_NAMES = ("x", "y", "z", "X", "Y", "Z", "xx", "yy", "zz")
FIELD_ALIASES = {"usol": "u", "uu": "u", "vsol": "v", "vv": "v", "wsol": "w", "ww": "w"}
POINT_DIM = "point"
GIVEN_ATTR = "physforge_given"
CANONICAL_SPACE = ("x", "y", "z")
SLAB_BYTES = 32 << 20  # bytes of float64 read at a time by scans and hashes


def time_dim(ds: xr.Dataset) -> str:
    return ds.attrs["physforge_time"]


def space_dims(ds: xr.Dataset) -> list[str]:
    return [d for d in ds.attrs["physforge_space"].split(",") if d]


def field_names(ds: xr.Dataset) -> list[str]:
    return sorted(ds.data_vars)


def given_names(ds: xr.Dataset) -> list[str]:
    """Data variables that are given (a potential, a forcing), not modelled."""
    return [g for g in str(ds.attrs.get(GIVEN_ATTR, "")).split(",") if g]


def is_complex(da: xr.DataArray) -> bool:
    return bool(np.issubdtype(da.dtype, np.complexfloating))


def value_columns(ds: xr.Dataset) -> dict[str, tuple[str, str]]:
    """Real columns of the field values for tabular checks: ``u`` → ("u", "real"); a complex
    ``u`` gives ``Re(u)`` and ``Im(u)``."""
    out: dict[str, tuple[str, str]] = {}
    for f in field_names(ds):
        if is_complex(ds[f]):
            out[f"Re({f})"] = (f, "real")
            out[f"Im({f})"] = (f, "imag")
        else:
            out[f] = (f, "real")
    return out


def layout(ds: xr.Dataset) -> str:
    """``grid`` or ``scattered``."""
    return ds.attrs.get("physforge_layout", "grid")


# --- choosing the variables -------------------------------------------------------------------
def _pick(candidates: Sequence[str], names: Sequence[str], what: str, source: str) -> str | None:
    found = [n for n in candidates if n in names]
    if len(found) > 1:
        raise DataValidationError(
            f"{source}: ambiguous {what} coordinate: found {found}; name one with "
            f"--{'time' if what == 'time' else 'space'}"
        )
    return found[0] if found else None


@dataclass
class _Roles:
    time: str
    space: list[str]
    fields: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)

    @property
    def coords(self) -> list[str]:
        return [self.time, *self.space]

    def name(self, source_name: str) -> str:
        return self.renamed.get(source_name, source_name)

    def with_fields(
        self, candidates: list[str], fields: Sequence[str] | None, all_names: list[str], source: str
    ) -> _Roles:
        """The field variables: those named by the user, else the candidates."""
        if fields:
            missing = [f for f in fields if f not in all_names]
            if missing:
                raise DataValidationError(
                    f"{source}: field {missing[0]!r} not found; have {sorted(all_names)}"
                )
            chosen = list(fields)
        else:
            chosen = [f for f in candidates if f not in self.coords]
        if not chosen:
            raise DataValidationError(
                f"{source}: no field variable spans the coordinates {self.coords}; variables "
                f"are {sorted(all_names)}"
            )
        return _Roles(
            self.time, self.space, chosen, _canonical_names(self.time, self.space, chosen)
        )


def _coord_roles(
    candidates: list[str],
    source: str,
    time: str | None,
    space: Sequence[str] | None,
    all_names: list[str],
) -> _Roles:
    """Which candidate coordinates are time and space (auto-detected unless named)."""
    time = time or _pick(TIME_NAMES, candidates, "time", source)
    if time is None:
        raise DataValidationError(
            f"{source}: no time coordinate found (looked for {', '.join(TIME_NAMES)}; "
            f"coordinates are {candidates}); name it with --time"
        )
    if space is None:
        space = [c for c in SPACE_NAMES if c in candidates]
        lower = [c.lower()[0] for c in space]
        if len(set(lower)) < len(lower):
            raise DataValidationError(
                f"{source}: ambiguous space coordinates: found {space}; name them with --space"
            )
    space = list(space)
    if not 1 <= len(space) <= 3:
        raise DataValidationError(
            f"{source}: expected 1 to 3 space coordinates, found {space} among {candidates}; "
            "name them with --space x,y"
        )
    for name in [time, *space]:
        if name not in candidates:
            raise DataValidationError(
                f"{source}: coordinate {name!r} not found; have {sorted(all_names)}"
            )
    return _Roles(time, space)


def _canonical_names(time: str, space: list[str], fields: list[str]) -> dict[str, str]:
    renamed = {} if time == "t" else {time: "t"}
    target = {s: s.lower()[:1] for s in space}
    taken = [target[s] for s in space if target[s] in CANONICAL_SPACE]
    if len(set(taken)) < len(taken):  # x and X, say: keep the order given
        target = {s: "" for s in space}
    free = [c for c in CANONICAL_SPACE if c not in target.values()]
    for s in space:
        if target[s] not in CANONICAL_SPACE:
            target[s] = free.pop(0)
        if target[s] != s:
            renamed[s] = target[s]
    names = set(fields)
    for f in fields:
        alias = FIELD_ALIASES.get(f)
        if alias and alias not in names and alias not in ("t", *CANONICAL_SPACE):
            renamed[f] = alias
            names.add(alias)
    return renamed


# --- canonicalize -----------------------------------------------------------------------------
def canonicalize(
    ds: xr.Dataset,
    source: str,
    *,
    time: str | None = None,
    space: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    given: Sequence[str] = (),
) -> xr.Dataset:
    """The canonical grid or scattered dataset of a raw one; lazy arrays stay lazy.

    ``source`` names the file in every error message. Coordinates are checked here (pandera);
    field values are checked by the chunked :func:`scan`. ``given`` variables (a potential, a
    forcing) are kept as data variables broadcast over the grid and listed in
    ``attrs["physforge_given"]``; they may span a subset of the dimensions (``V(x)``).
    """
    missing = [g for g in given if g not in ds.variables]
    if missing:
        raise DataValidationError(
            f"{source}: given variable {missing[0]!r} not found; the file's variables are "
            f"{sorted(map(str, ds.variables))}"
        )
    raw = ds.attrs.get("physforge_raw", "labelled")
    if raw == "table":
        wanted = [*fields, *(g for g in given if g not in fields)] if fields else fields
        out = _from_table(ds, source, time, space, wanted)
    elif raw == "arrays":
        out = _from_arrays(ds, source, time, space, fields)
    else:
        out = _from_labelled(ds, source, time, space, fields)
    out = _pair_complex(out, source)
    return _with_given(out, ds, source, list(given)) if given else out


def _with_given(out: xr.Dataset, raw: xr.Dataset, source: str, given: list[str]) -> xr.Dataset:
    """Mark (and, when they span fewer dimensions than the fields, broadcast) given
    variables."""
    renamed = json.loads(out.attrs["physforge_renamed"])
    dims = [time_dim(out), *space_dims(out)]
    names = []
    for g in given:
        name = renamed.get(g, g)
        names.append(name)
        if name in out.data_vars:
            continue
        if layout(out) != "grid":
            raise DataValidationError(
                f"{source}: given variable {g!r} is not a column of the table"
            )
        da = raw[g]
        sizes = {d: int(out.sizes[d]) for d in dims}
        if raw.attrs.get("physforge_raw") == "arrays":
            order = _match_subset(tuple(da.shape), sizes, source, g)
        else:
            order = [renamed.get(str(d), str(d)) for d in da.dims]
            if not set(order) <= set(dims):
                raise DataValidationError(
                    f"{source}: given variable {g!r} has dimensions {da.dims}; expected some "
                    f"of the fields' dimensions {dims}"
                )
        perm = sorted(range(len(order)), key=lambda i: dims.index(order[i]))
        data = np.asarray(da.values).transpose(perm)
        view = [sizes[d] if d in order else 1 for d in dims]
        full = np.broadcast_to(data.reshape(view), [sizes[d] for d in dims])
        out[name] = (dims, np.ascontiguousarray(full).astype(_field_dtype(da, source, g)))
    out.attrs[GIVEN_ATTR] = ",".join(names)
    return out


def _match_subset(
    shape: tuple[int, ...], sizes: dict[str, int], source: str, name: str
) -> list[str]:
    """The coordinates of the axes of an unlabelled array spanning some of them: the order
    (t, x, …) when one fits, else the one permutation that does."""
    fits = [
        p
        for p in itertools.permutations(sizes, len(shape))
        if all(sizes[d] == n for d, n in zip(p, shape))
    ]
    ordered = [p for p in fits if list(p) == sorted(p, key=list(sizes).index)]
    described = ", ".join(f"{n}={s}" for n, s in sizes.items())
    if len(ordered) == 1 or len(fits) == 1:
        return list(ordered[0] if len(ordered) == 1 else fits[0])
    if not fits:
        raise DataValidationError(
            f"{source}: given variable {name!r} has shape {shape}, which matches no "
            f"coordinates of the sizes {described}"
        )
    raise DataValidationError(
        f"{source}: given variable {name!r} has shape {shape}, which fits the coordinates "
        f"{described} in several ways; save it in a labelled format (NetCDF, Zarr)"
    )


COMPLEX_PAIRS = (("_re", "_im"), ("_real", "_imag"))


def _pair_complex(ds: xr.Dataset, source: str) -> xr.Dataset:
    """Fields stored as real and imaginary parts (``u_re``/``u_im``, ``u_real``/``u_imag``)
    become one complex field ``u``; which pairs were joined is kept in
    ``attrs["physforge_paired"]``."""
    paired: dict[str, list[str]] = {}
    for name in field_names(ds):
        for re_suffix, im_suffix in COMPLEX_PAIRS:
            if not name.endswith(re_suffix):
                continue
            base = name[: -len(re_suffix)]
            imag = base + im_suffix
            if base and imag in ds.data_vars and base not in ds.variables:
                if is_complex(ds[name]) or is_complex(ds[imag]):
                    raise DataValidationError(
                        f"{source}: {name!r} and {imag!r} look like the real and imaginary "
                        "parts of one field, but one of them is already complex; expected two "
                        "real arrays"
                    )
                paired[base] = [name, imag]
    if not paired:
        return ds
    out = ds.copy()
    for base, (re_name, im_name) in paired.items():
        out[base] = out[re_name].astype(np.float64) + 1j * out[im_name].astype(np.float64)
        out = out.drop_vars([re_name, im_name])
    out.attrs["physforge_paired"] = json.dumps(paired, sort_keys=True)
    return out


def _finish(out: xr.Dataset, attrs: dict, roles: _Roles, source: str, kind: str) -> xr.Dataset:
    keep = {k: _json_attr(v) for k, v in attrs.items() if not k.startswith("physforge_")}
    out.attrs = {k: v for k, v in keep.items() if v is not None}
    out.attrs.update(
        physforge_time="t",
        physforge_space=",".join(roles.name(s) for s in roles.space),
        physforge_source=str(source),
        physforge_layout=kind,
        physforge_renamed=json.dumps(roles.renamed, sort_keys=True),
    )
    for v in out.variables.values():
        v.encoding = {}
    return out


def _json_attr(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return value


def _field_dtype(da: xr.DataArray, source: str, name: str) -> np.dtype:
    """float32 stays float32 (exact in float64); complex becomes complex128; everything
    numeric else becomes float64."""
    if da.dtype == np.float32:
        return np.dtype(np.float32)
    if is_complex(da):
        return np.dtype(np.complex128)
    if not (np.issubdtype(da.dtype, np.number) or da.dtype == bool):
        raise DataValidationError(
            f"{source}: field {name!r} has dtype {da.dtype}; expected numbers"
        )
    return np.dtype(np.float64)


def _from_labelled(ds, source, time, space, fields) -> xr.Dataset:
    point_dim = _point_dim(ds, time)
    if point_dim:
        return _from_table(ds, source, time, space, fields, point_dim=point_dim)
    coords = [str(c) for c in ds.coords if ds[c].ndim == 1 and ds[c].dims == (c,)]
    names = [str(n) for n in ds.variables]
    roles = _coord_roles(coords, source, time, space, names)
    dims = roles.coords
    spanning = [str(v) for v in ds.data_vars if set(ds[v].dims) == set(dims)]
    if not spanning and not fields:
        raise DataValidationError(
            f"{source}: no field variable spans the dimensions {dims}; variables are "
            f"{ {str(k): tuple(map(str, v.dims)) for k, v in ds.data_vars.items()} }"
        )
    roles = roles.with_fields(spanning, fields, names, source)
    out = xr.Dataset()
    for f in roles.fields:
        da = ds[f]
        if set(da.dims) != set(dims):
            raise DataValidationError(
                f"{source}: field {f!r} has dimensions {da.dims}, expected {tuple(dims)}"
            )
        da = da.transpose(*dims)
        out[roles.name(f)] = (
            [roles.name(d) for d in dims],
            da.variable.data.astype(_field_dtype(da, source, f)),
        )
    return _with_grid_coords(out, {d: ds[d].values for d in dims}, roles, source, ds.attrs)


def _with_grid_coords(
    out: xr.Dataset, values: dict, roles: _Roles, source: str, attrs
) -> xr.Dataset:
    from physforge.validation.schemas import validate_grid_coordinates

    coords = {roles.name(d): np.asarray(v, dtype=np.float64) for d, v in values.items()}
    validate_grid_coordinates(coords, source, {roles.name(d): d for d in values})
    return _finish(out.assign_coords(coords), dict(attrs), roles, source, "grid")


def _point_dim(ds: xr.Dataset, time: str | None) -> str | None:
    """The point dimension when coordinates are variables over one shared non-index dim."""
    names = [time] if time else [n for n in TIME_NAMES if n in ds.variables]
    if len(names) != 1 or names[0] not in ds.variables:
        return None
    var = ds[names[0]]
    if var.ndim == 1 and var.dims[0] != names[0] and var.dims[0] not in ds.coords:
        return str(var.dims[0])
    return None


def _from_arrays(ds, source, time, space, fields) -> xr.Dataset:
    """Named arrays: 1-D arrays are coordinates; an N-D array's axes are matched by size."""
    vectors = [str(v) for v in ds.variables if ds[v].ndim == 1]
    names = [str(v) for v in ds.variables]
    roles = _coord_roles(vectors, source, time, space, names)
    dims = roles.coords
    nd = [str(v) for v in ds.variables if ds[v].ndim >= 2]
    roles = roles.with_fields(
        [v for v in nd if ds[v].ndim == len(dims)] or nd, fields, names, source
    )
    sizes = {d: ds[d].size for d in dims}
    out = xr.Dataset()
    for f in roles.fields:
        order = _match_axes(tuple(ds[f].shape), sizes, source, f)
        da = xr.DataArray(ds[f].data, dims=[roles.name(d) for d in order])
        da = da.transpose(*[roles.name(d) for d in dims])
        out[roles.name(f)] = da.astype(_field_dtype(ds[f], source, f))
    return _with_grid_coords(out, {d: ds[d].values for d in dims}, roles, source, ds.attrs)


def _match_axes(shape: tuple[int, ...], sizes: dict[str, int], source: str, name: str) -> list[str]:
    """The coordinate of each axis of an unlabelled array: (t, space…) when that fits, else the
    one permutation that does; two that fit (equal sizes) is ambiguous."""
    names = list(sizes)
    described = ", ".join(f"{n}={s}" for n, s in sizes.items())
    if len(shape) != len(names):
        raise DataValidationError(
            f"{source}: field {name!r} has shape {shape}, but the coordinates are {described}: "
            f"expected a {len(names)}-D array"
        )
    if all(sizes[n] == s for n, s in zip(names, shape)):
        return names
    fits = [
        p for p in itertools.permutations(names) if all(sizes[n] == s for n, s in zip(p, shape))
    ]
    if len(fits) == 1:
        return list(fits[0])
    if not fits:
        raise DataValidationError(
            f"{source}: field {name!r} has shape {shape}, which matches no order of the "
            f"coordinate sizes {described}"
        )
    raise DataValidationError(
        f"{source}: field {name!r} has shape {shape}, which fits the coordinates {described} "
        f"in several orders ({', '.join('(' + ', '.join(p) + ')' for p in fits)}); save it as "
        "(t, x, …) or in a labelled format (NetCDF, Zarr)"
    )


def _from_table(ds, source, time, space, fields, point_dim: str | None = None) -> xr.Dataset:
    """Long form: a full tensor grid of coordinates becomes a grid, anything else scattered."""
    from physforge.validation.schemas import validate_table

    dim = point_dim or next(iter(ds.dims))
    columns = [str(v) for v in ds.variables if ds[v].dims == (dim,)]
    wanted_time = time or _pick(TIME_NAMES, columns, "time", source)
    wanted_space = list(space) if space else [c for c in SPACE_NAMES if c in columns]
    wanted_coords = [c for c in [wanted_time, *wanted_space] if c]
    wanted_fields = list(fields) if fields else [c for c in columns if c not in wanted_coords]
    frame = pd.DataFrame({c: ds[c].values for c in columns})
    frame = validate_table(frame, wanted_coords, wanted_fields, source)
    roles = _coord_roles(columns, source, time, space, columns)
    roles = roles.with_fields(columns, fields, columns, source)
    keys = [frame[c].to_numpy(dtype=np.float64) for c in roles.coords]
    order = np.lexsort(keys[::-1])
    sorted_keys = np.stack([k[order] for k in keys], axis=1)
    same = np.all(sorted_keys[1:] == sorted_keys[:-1], axis=1)
    if same.any():
        first = dict(zip(roles.coords, map(float, sorted_keys[1:][same][0])))
        raise DataValidationError(
            f"{source}: duplicated coordinates: {int(same.sum())} rows repeat a point, e.g. "
            f"{first}; expected each ({', '.join(roles.coords)}) once"
        )
    axes = [np.unique(k) for k in keys]
    if len(frame) == int(np.prod([a.size for a in axes], dtype=object)):
        # Sorted by (t, x, …), a full tensor grid is already in C order.
        out = xr.Dataset(coords={roles.name(c): a for c, a in zip(roles.coords, axes)})
        shape = [a.size for a in axes]
        for f in roles.fields:
            values = frame[f].to_numpy(dtype=np.float64)[order].reshape(shape)
            out[roles.name(f)] = ([roles.name(c) for c in roles.coords], values)
        kind = "grid"
    else:
        out = xr.Dataset(
            coords={roles.name(c): (POINT_DIM, k[order]) for c, k in zip(roles.coords, keys)}
        )
        for f in roles.fields:
            out[roles.name(f)] = (POINT_DIM, frame[f].to_numpy(dtype=np.float64)[order])
        kind = "scattered"
    return _finish(out, dict(ds.attrs), roles, source, kind)


# --- content: one chunked pass ------------------------------------------------------------------
def iter_slabs(da: xr.DataArray, max_bytes: int = SLAB_BYTES) -> Iterator[np.ndarray]:
    """Consecutive float64 (complex fields: complex128) slabs of ``da`` along its first
    dimension (bounded memory)."""
    dtype = "<c16" if is_complex(da) else "<f8"
    if da.ndim == 0:
        yield np.asarray(da.values, dtype=dtype).reshape(1)
        return
    step_bytes = np.dtype(dtype).itemsize * max(1, int(np.prod(da.shape[1:])))
    n = max(1, max_bytes // step_bytes)
    dim = da.dims[0]
    for start in range(0, da.shape[0], n):
        slab = da.isel({dim: slice(start, start + n)}).values
        yield np.ascontiguousarray(slab, dtype=dtype)


@dataclass
class FieldStats:
    """Exact statistics of one field over every value (from the chunked scan). For a complex
    field min and max span the real and imaginary parts, the mean is complex and the std is
    that of the complex values, sqrt(E|u - E u|²)."""

    count: int = 0
    nonfinite: int = 0
    min: float = float("inf")
    max: float = float("-inf")
    sum: complex = 0.0
    sumsq: float = 0.0
    complex_: bool = False

    def add(self, slab: np.ndarray) -> None:
        finite = np.isfinite(slab)
        good = slab[finite] if not finite.all() else slab
        self.count += slab.size
        self.nonfinite += int(slab.size - good.size)
        self.complex_ = self.complex_ or np.iscomplexobj(slab)
        if good.size:
            parts = np.concatenate([good.real, good.imag]) if np.iscomplexobj(good) else good
            self.min = min(self.min, float(parts.min()))
            self.max = max(self.max, float(parts.max()))
            total = good.sum()
            self.sum += complex(total) if np.iscomplexobj(good) else float(total)
            self.sumsq += float(np.square(np.abs(good)).sum())

    @property
    def mean(self) -> complex | float:
        n = self.count - self.nonfinite
        return self.sum / n if n else float("nan")

    @property
    def std(self) -> float:
        n = self.count - self.nonfinite
        return float(np.sqrt(max(self.sumsq / n - abs(self.mean) ** 2, 0.0))) if n else float("nan")

    def as_dict(self) -> dict:
        mean: complex | float | list[float] = self.mean
        if self.complex_:
            mean = [float(np.real(self.mean)), float(np.imag(self.mean))]
        return {
            "count": self.count,
            "nonfinite": self.nonfinite,
            "min": self.min,
            "max": self.max,
            "mean": mean,
            "std": self.std,
        }


@dataclass
class ContentScan:
    sha256: str
    fields: dict[str, FieldStats]


def _dims(ds: xr.Dataset) -> list[str]:
    return [time_dim(ds), *space_dims(ds)]


def scan(ds: xr.Dataset, max_bytes: int = SLAB_BYTES) -> ContentScan:
    """The content sha256 and exact per-field statistics, reading slab by slab.

    The hash is over canonical content (layout, roles, names and float64 values in canonical
    order), not file bytes: the same data from any format hashes alike.
    """
    h = hashlib.sha256()
    dims = _dims(ds)
    header: tuple[Any, ...] = ("dims", dims, "fields", field_names(ds))
    if layout(ds) != "grid":
        header = ("layout", layout(ds), *header)
    complex_fields = [f for f in field_names(ds) if is_complex(ds[f])]
    if complex_fields:  # real datasets keep the hash they always had
        header = (*header, "complex", complex_fields)
    if given_names(ds):
        header = (*header, "given", given_names(ds))
    h.update(repr(header).encode())
    for d in dims:
        h.update(np.ascontiguousarray(ds[d].values, dtype="<f8").tobytes())
    stats = {}
    for f in field_names(ds):
        st = FieldStats()
        da = ds[f] if layout(ds) != "grid" else ds[f].transpose(*dims)
        for slab in iter_slabs(da, max_bytes):
            h.update(slab.tobytes())
            st.add(slab)
        stats[f] = st
    return ContentScan(h.hexdigest(), stats)


def content_sha256(ds: xr.Dataset) -> str:
    """sha256 over canonical content (roles, names, float64 values), not file bytes."""
    return scan(ds).sha256
