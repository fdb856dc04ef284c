"""Readers per file format, chosen by suffix. Each returns a raw xarray Dataset."""

from __future__ import annotations

import posixpath
from typing import Protocol

import numpy as np
import xarray as xr

from physforge.errors import DataValidationError

__all__ = ["Reader", "READERS", "read_raw", "register_reader"]


class Reader(Protocol):
    suffixes: tuple[str, ...]

    def read(self, path: str) -> xr.Dataset: ...


READERS: dict[str, Reader] = {}


def register_reader(reader: Reader) -> Reader:
    for s in reader.suffixes:
        READERS[s] = reader
    return reader


class NetCDFReader:
    suffixes = (".nc", ".nc4", ".netcdf", ".cdf")

    def read(self, path: str) -> xr.Dataset:
        try:
            with xr.open_dataset(path) as ds:
                return ds.load()
        except (OSError, ValueError) as exc:
            raise DataValidationError(
                f"{path}: not a readable NetCDF file ({type(exc).__name__}: {exc})"
            ) from exc


class NpzReader:
    """Named arrays: coordinates as 1-D arrays, fields as N-D arrays over them (t first)."""

    suffixes = (".npz",)

    def read(self, path: str) -> xr.Dataset:
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: np.asarray(z[k]) for k in z.files}
        except (OSError, ValueError) as exc:
            raise DataValidationError(f"{path}: not a readable .npz file ({exc})") from exc
        coords = {k: v.ravel() for k, v in arrays.items() if v.ndim == 1 or min(v.shape) == 1
                  and v.ndim == 2}
        fields = {k: v for k, v in arrays.items() if k not in coords}
        if not fields:
            raise DataValidationError(f"{path}: no N-D field array among {sorted(arrays)}")
        order = [c for c in ("t", "time", "x", "y", "z") if c in coords] or list(coords)
        ds = xr.Dataset(coords={c: coords[c] for c in order})
        for name, arr in fields.items():
            dims = _match_dims(arr.shape, {c: coords[c].size for c in order}, path, name)
            ds[name] = (dims, arr)
        return ds


def _match_dims(shape: tuple[int, ...], sizes: dict[str, int], path: str, name: str) -> list[str]:
    names = list(sizes)
    if len(shape) == len(names) and all(sizes[n] == s for n, s in zip(names, shape)):
        return names
    raise DataValidationError(
        f"{path}: field {name!r} has shape {shape}, which does not match the coordinate "
        f"sizes {sizes} in that order"
    )


register_reader(NetCDFReader())
register_reader(NpzReader())


def read_raw(path: str) -> xr.Dataset:
    suffix = posixpath.splitext(path.lower())[1]
    reader = READERS.get(suffix)
    if reader is None:
        raise DataValidationError(
            f"{path}: unknown file type {suffix or '(no extension)'!r}; supported: "
            f"{', '.join(sorted(READERS))}"
        )
    return reader.read(path)
