"""Ingestion as plain functions: read a file, make it canonical, write it content-addressed."""

from __future__ import annotations

import hashlib
import os

import fsspec
import xarray as xr

from physforge.config import IngestConfig
from physforge.datasets.canonical import (
    canonicalize,
    content_sha256,
    field_names,
    space_dims,
    time_dim,
)
from physforge.datasets.readers import read_raw
from physforge.discovery.noise import estimate_noise
from physforge.errors import DataValidationError
from physforge.refs import DatasetRef
from physforge.storage_blocks.store import ArtifactStore

__all__ = ["load_canonical", "store_dataset", "source_fingerprint", "open_dataset"]


def source_fingerprint(source: str) -> str:
    """A cheap identity of the source file for cache keys: sha256 of its bytes for local files,
    the ETag (or size + mtime) for object storage."""
    if "://" not in source or source.startswith("file://"):
        path = source.removeprefix("file://")
        if not os.path.exists(path):
            raise DataValidationError(f"{source}: file not found")
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    fs, path = fsspec.core.url_to_fs(source)
    info = fs.info(path)
    return str(info.get("ETag") or info.get("etag") or (info.get("size"), info.get("mtime")))


def load_canonical(source: str, cfg: IngestConfig | None = None) -> xr.Dataset:
    cfg = cfg or IngestConfig()
    path = source.removeprefix("file://")
    if "://" not in path:
        if not os.path.exists(path):
            raise DataValidationError(f"{source}: file not found")
        if os.path.getsize(path) == 0:
            raise DataValidationError(f"{source}: the file is empty")
    raw = read_raw(path)
    return canonicalize(raw, source, time=cfg.time, space=cfg.space, fields=cfg.fields)


def store_dataset(store: ArtifactStore, ds: xr.Dataset, source: str) -> DatasetRef:
    """Write the canonical dataset under ``datasets/<sha>`` (once; re-ingest finds it)."""
    sha = content_sha256(ds)
    key = f"datasets/{sha}"
    space = space_dims(ds)
    noise = max(estimate_noise(ds[f].values, axis=ds[f].dims.index(space[0]))
                for f in field_names(ds))
    warnings = []
    if noise > 0.05:
        warnings.append(f"estimated noise ≈ {noise:.0%} of the field's std")
    if not store.is_committed(key):
        with store.transaction(key, meta={"kind": "dataset", "source": source}) as tx:
            tx.put_zarr("data.zarr", ds)
    return DatasetRef(
        store=store.url, key=key, sha256=sha, source=source,
        dims=[time_dim(ds), *space], fields=field_names(ds),
        shape=[int(ds.sizes[d]) for d in [time_dim(ds), *space]],
        noise_estimate=noise, warnings=warnings,
    )


def open_dataset(ref: DatasetRef) -> xr.Dataset:
    """The canonical dataset behind a ref, verified against its recorded hashes."""
    ds = ArtifactStore(ref.store).artifact(ref.key).open_zarr("data.zarr").load()
    return ds
