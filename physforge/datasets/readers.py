"""Readers per file format, chosen by suffix. Each returns a raw xarray Dataset, lazily where the
format allows (NetCDF, HDF5, Zarr are opened, not loaded).

A raw dataset says how it is laid out in ``attrs["physforge_raw"]`` (see
:mod:`physforge.datasets.canonical`): ``labelled`` (named dimensions), ``arrays`` (named arrays
whose axes are matched to coordinates by size) or ``table`` (long-form columns over ``row``).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import pandas as pd
import xarray as xr

from physforge.errors import DataValidationError

__all__ = [
    "Reader",
    "READERS",
    "read_raw",
    "register_reader",
    "arrays_dataset",
    "table_dataset",
    "suffix_of",
    "check_zarr_codecs",
    "OBJECT_CODECS",
]

ROW_DIM = "row"
IMAG_TOLERANCE = 1e-4  # largest |imag| / max |real| still taken as a real field (a complex
# array with more than that is a complex field, kept as complex128)


class Reader(Protocol):
    @property
    def suffixes(self) -> tuple[str, ...]: ...

    def read(self, path: str, storage_options: Mapping[str, Any]) -> xr.Dataset: ...


READERS: dict[str, Reader] = {}


def register_reader(reader: Reader) -> Reader:
    for s in reader.suffixes:
        READERS[s] = reader
    return reader


def suffix_of(path: str) -> str:
    return posixpath.splitext(path.rstrip("/").lower())[1]


def arrays_dataset(arrays: Mapping[str, np.ndarray], path: str) -> xr.Dataset:
    """Named arrays: row/column vectors become 1-D; complex with a negligible imaginary part
    becomes real (PDE-FIND's burgers.mat), any other complex array stays complex; axes get
    placeholder names until canonicalisation matches them by size."""
    ds = xr.Dataset(attrs={"physforge_raw": "arrays", "physforge_source": path})
    for name, arr in arrays.items():
        arr = real_if_negligible(_complex_compound(np.asarray(arr)))
        if arr.dtype.kind not in "fiubc" or arr.size == 0:
            continue
        if arr.ndim == 2 and 1 in arr.shape:
            arr = arr.ravel()
        if arr.ndim == 1:
            ds[name] = ((name,), arr)
        elif arr.ndim >= 2:
            ds[name] = ([f"{name}_axis{i}" for i in range(arr.ndim)], arr)
    if not ds.variables:
        raise DataValidationError(
            f"{path}: no numeric arrays found among {sorted(arrays)}; expected coordinates "
            "(t, x, …) and fields (u, …)"
        )
    if all(ds[v].ndim == 1 for v in ds.variables) and len({ds[v].size for v in ds.variables}) == 1:
        return table_dataset(pd.DataFrame({v: ds[v].values for v in ds.variables}), path)
    return ds


def real_if_negligible(arr: np.ndarray) -> np.ndarray:
    """A complex array whose imaginary part is below IMAG_TOLERANCE of its real part as real;
    any other complex array as complex128."""
    if not np.iscomplexobj(arr):
        return arr
    scale = float(np.abs(arr.real).max(initial=0.0)) or 1.0
    imag = float(np.abs(arr.imag).max(initial=0.0))
    if not np.isfinite(imag) or imag > IMAG_TOLERANCE * scale:  # NaN stays, to be refused
        return np.ascontiguousarray(arr, dtype=np.complex128)
    return np.ascontiguousarray(arr.real)


def _complex_compound(arr: np.ndarray) -> np.ndarray:
    """HDF5 stores complex numbers as a compound of two floats (h5py, h5netcdf and MATLAB
    v7.3 name them ``r``/``i`` or ``real``/``imag``): as one complex array."""
    names = arr.dtype.names
    if names is None or len(names) != 2:
        return arr
    pairs = {("r", "i"), ("real", "imag"), ("re", "im")}
    key = tuple(n.lower() for n in names)
    if key not in pairs or arr.dtype[0].kind != "f":
        return arr
    return arr[names[0]].astype(np.float64) + 1j * arr[names[1]].astype(np.float64)


def table_dataset(frame: pd.DataFrame, path: str) -> xr.Dataset:
    """Long-form columns as variables over one ``row`` dimension (values checked later)."""
    if frame.empty:
        raise DataValidationError(
            f"{path}: the table has no rows (columns {list(map(str, frame.columns))})"
        )
    frame = frame.reset_index(drop=True)
    ds = xr.Dataset({str(c): (ROW_DIM, frame[c].to_numpy()) for c in frame.columns})
    ds.attrs.update(physforge_raw="table", physforge_source=path)
    return ds


def _unreadable(path: str, kind: str, exc: BaseException) -> DataValidationError:
    return DataValidationError(
        f"{path}: not a readable {kind} file (truncated or corrupt?): {type(exc).__name__}: {exc}"
    )


def _probe(ds: xr.Dataset, path: str, kind: str) -> xr.Dataset:
    """Read the last value of every variable: a truncated file fails here, not mid-ingest."""
    try:
        for v in ds.variables.values():
            if v.size:
                np.asarray(v[(-1,) * v.ndim].values)
    except (OSError, RuntimeError, ValueError, KeyError, IndexError) as exc:
        ds.close()
        raise _unreadable(path, kind, exc) from exc
    return ds


class NetCDFReader:
    """NetCDF 3/4, opened lazily (netCDF4 or h5netcdf engine, whichever reads the file)."""

    suffixes = (".nc", ".nc4", ".netcdf", ".cdf")

    def read(self, path: str, storage_options: Mapping[str, Any]) -> xr.Dataset:
        self._check_classic(path)
        try:
            ds = _open_netcdf(path)
        except (OSError, ValueError, RuntimeError) as exc:
            raise _unreadable(path, "NetCDF", exc) from exc
        return _probe(ds, path, "NetCDF")

    @staticmethod
    def _check_classic(path: str) -> None:
        """A truncated classic file reads back as zeros through netCDF-C: map its
        variables to their declared extents instead (CDF-1/2), which fails when data are
        missing."""
        import scipy.io

        with open(path, "rb") as f:
            if f.read(4) not in (b"CDF\x01", b"CDF\x02"):
                return
        try:
            scipy.io.netcdf_file(path, mmap=True).close()
        except (ValueError, TypeError, OSError) as exc:
            raise _unreadable(
                path, "NetCDF", ValueError("the data section is shorter than the header declares")
            ) from exc


def _open_netcdf(path: str) -> xr.Dataset:
    """Complex variables (netCDF-4 compound ``r``/``i``, as nc-complex and h5netcdf write them)
    are read as complex through netCDF4's ``auto_complex``; h5netcdf where netCDF4 fails."""
    try:
        return xr.open_dataset(path, cache=False, engine="netcdf4", auto_complex=True)
    except (OSError, ValueError, RuntimeError):
        return xr.open_dataset(path, cache=False)


class HDF5Reader:
    """HDF5: netCDF4-style files (dimension scales) as labelled, plain files as named arrays."""

    suffixes = (".h5", ".hdf5", ".hdf", ".he5")

    def read(self, path: str, storage_options: Mapping[str, Any]) -> xr.Dataset:
        import h5py

        try:
            with h5py.File(path, "r") as f:
                datasets: dict[str, h5py.Dataset] = {}

                def collect(name: str, obj) -> None:  # returning a value stops the visit
                    if isinstance(obj, h5py.Dataset):
                        datasets[name] = obj

                f.visititems(collect)
                labelled = any(
                    o.attrs.get("CLASS") == b"DIMENSION_SCALE" for o in datasets.values()
                )
                arrays = (
                    {} if labelled else {posixpath.basename(n): o[()] for n, o in datasets.items()}
                )
        except (OSError, ValueError, KeyError) as exc:
            raise _unreadable(path, "HDF5", exc) from exc
        if not labelled:
            return arrays_dataset(arrays, path)
        try:
            ds = _open_netcdf(path)
        except (OSError, ValueError) as exc:
            raise _unreadable(path, "HDF5", exc) from exc
        return _probe(ds, path, "HDF5")


# numcodecs codecs that decode chunks to Python objects: ``pickle`` runs code while decoding,
# the others build arbitrary object arrays. Text (vlen-utf8, vlen-bytes) is let through.
OBJECT_CODECS = ("pickle", "msgpack2", "json2", "vlen-array")
_ZARR_METADATA = (".zarray", ".zmetadata", "zarr.json")


def _object_codecs(doc: Any) -> list[str]:
    """Ids/names of object codecs anywhere in a Zarr metadata document (compressor, filters,
    v3 codecs, sharding's inner codecs, consolidated copies)."""
    found, stack = [], [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k in ("id", "name"):
                codec = node.get(k)
                if isinstance(codec, str) and codec.removeprefix("numcodecs.") in OBJECT_CODECS:
                    found.append(codec)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def check_zarr_codecs(path: str, storage_options: Mapping[str, Any] | None) -> None:
    """Refuse a Zarr group whose metadata (any ``.zarray``, ``.zmetadata`` or ``zarr.json``,
    consolidated copies included) names an object codec, before Zarr reads a chunk; a
    DataValidationError naming the file and the variable."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(path, **dict(storage_options or {}))
    try:
        files = [f for f in fs.find(root) if posixpath.basename(f) in _ZARR_METADATA]
    except FileNotFoundError:
        return  # no store there: the open below says so
    for meta in sorted(files):
        try:
            doc = json.loads(fs.cat_file(meta))
        except (OSError, ValueError):
            continue  # unreadable metadata: Zarr's own error below names it
        rel = posixpath.relpath(meta, root)
        entries = {rel: doc}
        if posixpath.basename(meta) == ".zmetadata" and isinstance(doc.get("metadata"), dict):
            entries = {
                posixpath.join(posixpath.dirname(rel), k): v for k, v in doc["metadata"].items()
            }
        elif isinstance((doc.get("consolidated_metadata") or {}).get("metadata"), dict):
            entries = {rel: {k: v for k, v in doc.items() if k != "consolidated_metadata"}} | {
                posixpath.join(posixpath.dirname(rel), k, "zarr.json"): v
                for k, v in doc["consolidated_metadata"]["metadata"].items()
            }
        for where, entry in entries.items():
            codecs = _object_codecs(entry)
            if codecs:
                variable = posixpath.dirname(where).strip("./") or "(root)"
                harm = (
                    "unpickles, which runs code"
                    if "pickle" in codecs[0]
                    else "decodes to Python objects"
                )
                raise DataValidationError(
                    f"{path}: variable {variable!r} ({where}) names numcodecs' "
                    f"{codecs[0]!r} codec, which {harm}; refused before reading any chunk. "
                    "PhysForge reads numeric arrays only: rewrite the variable with a numeric "
                    "dtype and a standard compressor (zstd, blosc, zlib)"
                )


class ZarrReader:
    """A Zarr group (v2 or v3), local or ``s3://``, opened lazily with its own chunks; one
    whose metadata names an object codec (numcodecs' pickle …) is refused first."""

    suffixes = (".zarr",)

    def read(self, path: str, storage_options: Mapping[str, Any]) -> xr.Dataset:
        opts = dict(storage_options) if "://" in path else None
        try:
            check_zarr_codecs(path, opts)
            ds = xr.open_zarr(path, storage_options=opts, chunks=None)
        except PermissionError as exc:
            raise DataValidationError(
                f"{path}: access denied; check the credentials (AWS_ACCESS_KEY_ID/"
                f"AWS_SECRET_ACCESS_KEY) for this bucket ({exc})"
            ) from exc
        except FileNotFoundError as exc:
            raise DataValidationError(
                f"{path}: no Zarr store there (missing bucket or prefix?): {exc}"
            ) from exc
        except DataValidationError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise _unreadable(path, "Zarr", exc) from exc
        return ds


class NpzReader:
    """Named arrays (``np.savez``): coordinates as 1-D arrays, fields as N-D arrays; or only
    1-D columns of one length, read as a long-form table."""

    suffixes = (".npz",)

    def read(self, path: str, storage_options: Mapping[str, Any]) -> xr.Dataset:
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: np.asarray(z[k]) for k in z.files}
        except (OSError, ValueError, EOFError) as exc:
            raise _unreadable(path, ".npz", exc) from exc
        return arrays_dataset(arrays, path)


class NpyReader:
    """A structured array (named columns) as a long-form table."""

    suffixes = (".npy",)

    def read(self, path: str, storage_options: Mapping[str, Any]) -> xr.Dataset:
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise _unreadable(path, ".npy", exc) from exc
        if arr.dtype.names is None:
            raise DataValidationError(
                f"{path}: holds one unnamed array of shape {arr.shape}; expected named data: "
                "a structured array with columns (t, x, …, u) or an .npz of named arrays"
            )
        return table_dataset(pd.DataFrame({n: arr[n].ravel() for n in arr.dtype.names}), path)


class MatReader:
    """MATLAB ``.mat`` (v4–v7 via scipy, v7.3 via h5py), as written by PDE-FIND and PySINDy:
    row or column vectors, complex arrays with a zero imaginary part."""

    suffixes = (".mat",)

    def read(self, path: str, storage_options: Mapping[str, Any]) -> xr.Dataset:
        import scipy.io

        try:
            raw = scipy.io.loadmat(path)
        except NotImplementedError:  # v7.3 is HDF5, arrays stored transposed
            return arrays_dataset(self._read_v73(path), path)
        except (OSError, ValueError, TypeError) as exc:
            raise _unreadable(path, "MATLAB", exc) from exc
        return arrays_dataset({k: v for k, v in raw.items() if not k.startswith("__")}, path)

    @staticmethod
    def _read_v73(path: str) -> dict[str, np.ndarray]:
        import h5py

        try:
            with h5py.File(path, "r") as f:
                return {k: np.asarray(o[()]).T for k, o in f.items() if isinstance(o, h5py.Dataset)}
        except OSError as exc:
            raise _unreadable(path, "MATLAB v7.3", exc) from exc


class CSVReader:
    """Long form: coordinate columns + field columns, one row per point."""

    suffixes = (".csv", ".txt", ".tsv")

    def read(self, path: str, storage_options: Mapping[str, Any]) -> xr.Dataset:
        sep = "\t" if path.lower().endswith(".tsv") else ","
        try:
            frame = pd.read_csv(
                path,
                sep=sep,
                float_precision="round_trip",
                storage_options=dict(storage_options) or None,
                skipinitialspace=True,
            )
        except pd.errors.EmptyDataError as exc:
            raise DataValidationError(f"{path}: the file is empty (no header, no rows)") from exc
        except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
            raise _unreadable(path, "CSV", exc) from exc
        # a row index written without a header (pandas' to_csv default) is not a field
        index_cols = [c for c in frame.columns if str(c).startswith("Unnamed: ")]
        return table_dataset(frame.drop(columns=index_cols), path)


class ParquetReader:
    """Long form, as :class:`CSVReader`."""

    suffixes = (".parquet", ".pq")

    def read(self, path: str, storage_options: Mapping[str, Any]) -> xr.Dataset:
        try:
            frame = pd.read_parquet(path, storage_options=dict(storage_options) or None)
        except (OSError, ValueError) as exc:
            raise _unreadable(path, "Parquet", exc) from exc
        return table_dataset(frame, path)


for _reader in (
    NetCDFReader(),
    HDF5Reader(),
    ZarrReader(),
    NpzReader(),
    NpyReader(),
    MatReader(),
    CSVReader(),
    ParquetReader(),
):
    register_reader(_reader)


def read_raw(path: str, storage_options: Mapping[str, Any] | None = None) -> xr.Dataset:
    suffix = suffix_of(path)
    reader = READERS.get(suffix)
    if reader is None:
        raise DataValidationError(
            f"{path}: unknown file type {suffix or '(no extension)'!r}; supported: "
            f"{', '.join(sorted(READERS))}"
        )
    return reader.read(path, storage_options or {})
