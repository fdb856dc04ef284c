"""Ingestion as plain functions: read a file, make it canonical, check it, write it
content-addressed. Memory stays bounded: arrays are opened lazily, hashed and checked slab by
slab, and written to Zarr chunk by chunk.

``ingest_dataset`` is the whole path (the ``ingest`` task is a thin wrapper around it):

1. :func:`check_source`: the path lies under a configured data root and is not empty;
2. :func:`load_canonical`: read (any registered format) and canonicalise, coordinates checked;
3. :func:`inspect_dataset`: one chunked pass for the content sha256 and exact statistics, then
   pandera on a bounded row sample and the Great Expectations suite; hard failures raise here,
   before anything is written;
4. :func:`store_dataset`: ``datasets/<sha>/data.zarr`` and ``validation.json`` in one
   transaction, skipped when that content is already committed.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from dataclasses import dataclass

import fsspec
import numpy as np
import xarray as xr

from physforge.config import IngestConfig
from physforge.datasets.canonical import (
    POINT_DIM,
    ContentScan,
    field_names,
    given_names,
    is_complex,
    layout,
    scan,
    space_dims,
    time_dim,
    value_columns,
)
from physforge.datasets.readers import read_raw
from physforge.errors import DataValidationError
from physforge.refs import DatasetRef
from physforge.storage_blocks.store import (
    CONTENT_SHA256,
    ArtifactStore,
    Transaction,
    open_ref,
    storage_options_for,
)
from physforge.validation.quality import (
    QualityReport,
    run_quality_suite,
    sample_rows,
    sample_steps,
    sampled_noise,
)
from physforge.validation.schemas import validate_rows

__all__ = [
    "ingest_dataset",
    "check_source",
    "load_canonical",
    "inspect_dataset",
    "store_dataset",
    "open_dataset",
    "open_points",
    "source_fingerprint",
    "data_roots",
    "Inspection",
    "DATA_ROOTS_ENV",
    "STORAGE_CHUNK_BYTES",
    "storage_chunks",
]

DATA_ROOTS_ENV = "PHYSFORGE_DATA_ROOTS"
STORAGE_CHUNK_BYTES = 4 << 20  # Zarr chunks of ~4 MB, time slabs (design: 1–4 MB)
READ_CHUNK_BYTES = 16 << 20  # dask chunks of lazily opened sources


def _is_local(source: str) -> bool:
    return "://" not in source or source.startswith("file://")


def _local_path(source: str) -> str:
    return source.removeprefix("file://")


def data_roots(cfg: IngestConfig | None = None) -> list[str] | None:
    """The allowed roots: the config's, else ``$PHYSFORGE_DATA_ROOTS`` (colon separated, URLs
    like ``s3://bucket/prefix`` allowed); None when neither is set (anything goes)."""
    roots = cfg.data_roots if cfg is not None and cfg.data_roots is not None else None
    if roots is None:
        env = os.environ.get(DATA_ROOTS_ENV, "")
        roots = [r for r in _split_roots(env) if r] or None
    return roots


def _split_roots(value: str) -> list[str]:
    """Colon separated, keeping the colon of ``s3://`` and ``file://``."""
    out: list[str] = []
    for part in value.split(":"):
        if out and part.startswith("//"):
            out[-1] += ":" + part
        else:
            out.append(part)
    return out


def _under(source: str, root: str) -> bool:
    if _is_local(source) and _is_local(root):
        path = os.path.realpath(_local_path(source))
        base = os.path.realpath(_local_path(root))
        return path == base or path.startswith(base.rstrip(os.sep) + os.sep)
    if _is_local(source) != _is_local(root):
        return False
    norm = posixpath.normpath(source.split("://", 1)[1])
    base = posixpath.normpath(root.split("://", 1)[1])
    same_scheme = source.split("://", 1)[0] == root.split("://", 1)[0]
    return same_scheme and (norm == base or norm.startswith(base.rstrip("/") + "/"))


def check_source(source: str, cfg: IngestConfig | None = None) -> None:
    """Refuse paths outside the data roots, missing and empty files, before reading."""
    roots = data_roots(cfg)
    if roots is not None and not any(_under(source, r) for r in roots):
        raise DataValidationError(
            f"{source}: outside the configured data roots ({', '.join(roots)}); move the data "
            f"under one of them or add its folder to {DATA_ROOTS_ENV}"
        )
    if not _is_local(source):
        return
    path = _local_path(source)
    if not os.path.exists(path):
        raise DataValidationError(f"{source}: file not found")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise DataValidationError(f"{source}: the file is empty")


def source_fingerprint(source: str) -> str:
    """A cheap identity of the source for cache keys: sha256 of its bytes for local files (every
    file of a local Zarr folder), the ETags (or size + mtime) for object storage."""
    h = hashlib.sha256()
    if _is_local(source):
        path = _local_path(source)
        if not os.path.exists(path):
            raise DataValidationError(f"{source}: file not found")
        files = (
            [path]
            if os.path.isfile(path)
            else sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs)
        )
        for name in files:
            h.update(os.path.relpath(name, path).encode())
            with open(name, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        return h.hexdigest()
    fs, path = fsspec.core.url_to_fs(source, **storage_options_for(source))
    infos = fs.find(path, detail=True, withdirs=False) or {path: fs.info(path)}
    for name, info in sorted(infos.items()):
        tag = info.get("ETag") or info.get("etag") or (info.get("size"), info.get("mtime"))
        h.update(f"{name}\0{tag}\n".encode())
    return h.hexdigest()


def _read_chunks(ds: xr.Dataset) -> dict[str, int]:
    """dask chunks for a lazily opened source: slabs of the first dim, ~READ_CHUNK_BYTES."""
    chunks: dict[str, int] = {}
    for v in ds.data_vars.values():
        if v.ndim < 2 or v.dims[0] in chunks:
            continue
        per = v.dtype.itemsize * int(np.prod(v.shape[1:]))
        chunks[str(v.dims[0])] = max(1, READ_CHUNK_BYTES // max(per, 1))
    return chunks


def load_canonical(source: str, cfg: IngestConfig | None = None) -> xr.Dataset:
    """The canonical dataset of ``source`` (lazy for NetCDF, HDF5 and Zarr)."""
    cfg = cfg or IngestConfig()
    check_source(source, cfg)
    path = _local_path(source) if _is_local(source) else source
    raw = read_raw(path, storage_options_for(path))
    if raw.attrs.get("physforge_raw", "labelled") == "labelled":
        raw = raw.chunk(_read_chunks(raw))
    from physforge.datasets.canonical import canonicalize

    try:
        ds = canonicalize(
            raw, source, time=cfg.time, space=cfg.space, fields=cfg.fields, given=cfg.given
        )
    except BaseException:
        raw.close()
        raise
    ds.set_close(raw.close)  # the source file stays open while its arrays are lazy
    return ds


@dataclass
class Inspection:
    """The content hash, exact statistics and quality report of a canonical dataset."""

    scan: ContentScan
    quality: QualityReport

    @property
    def sha256(self) -> str:
        return self.scan.sha256


def inspect_dataset(ds: xr.Dataset, source: str, cfg: IngestConfig | None = None) -> Inspection:
    """Hash and check ``ds`` with bounded memory; a DataValidationError lists every hard
    failure (nothing has been written yet)."""
    cfg = cfg or IngestConfig()
    content = scan(ds)
    steps = sample_steps(ds) if layout(ds) == "grid" else None
    rows = sample_rows(ds, steps)
    dims = [time_dim(ds), *space_dims(ds)]
    grid = {d: ds[d].values for d in dims} if layout(ds) == "grid" else None
    validate_rows(rows, dims, list(value_columns(ds)), source, grid=grid)
    quality = run_quality_suite(
        ds,
        content,
        derivative_order=cfg.derivative_order,
        rows=rows,
        noise=sampled_noise(ds, steps),
    )
    if quality.errors:
        raise DataValidationError(f"{source}: " + "; ".join(quality.errors))
    return Inspection(content, quality)


def storage_chunks(ds: xr.Dataset) -> dict[str, int]:
    """Zarr chunks of ~STORAGE_CHUNK_BYTES: time slabs (grids), runs of points (scattered)."""
    if layout(ds) != "grid":
        return {POINT_DIM: max(1, STORAGE_CHUNK_BYTES // 8)}
    dims = [time_dim(ds), *space_dims(ds)]
    itemsize = max(ds[f].dtype.itemsize for f in field_names(ds))
    per_step = itemsize * int(np.prod([ds.sizes[d] for d in dims[1:]]))
    chunks = {d: int(ds.sizes[d]) for d in dims}
    chunks[dims[0]] = max(1, STORAGE_CHUNK_BYTES // per_step)
    if per_step > STORAGE_CHUNK_BYTES:  # a single step is too big: split the first space dim
        rest = per_step // ds.sizes[dims[1]]
        chunks[dims[1]] = max(1, STORAGE_CHUNK_BYTES // rest)
    return chunks


def store_dataset(
    store: ArtifactStore,
    ds: xr.Dataset,
    source: str,
    inspection: Inspection | None = None,
    cfg: IngestConfig | None = None,
) -> DatasetRef:
    """Write the canonical dataset under ``datasets/<sha>`` (once; re-ingest finds it), with
    the quality report as ``validation.json`` in the same transaction."""
    inspection = inspection or inspect_dataset(ds, source, cfg)

    def write(tx: Transaction) -> None:
        tx.put_zarr("data.zarr", ds.chunk(storage_chunks(ds)))
        tx.put_json("validation.json", inspection.quality.as_dict())

    key = store.computed(
        "datasets",
        inspection.sha256,
        write,
        meta={
            "kind": "dataset",
            "source": source,
            "layout": layout(ds),
            CONTENT_SHA256: inspection.sha256,
        },
    ).prefix
    dims = [time_dim(ds), *space_dims(ds)]
    given = given_names(ds)
    shape = [int(ds.sizes[d]) for d in dims] if layout(ds) == "grid" else [int(ds.sizes[POINT_DIM])]
    return DatasetRef(
        store=store.url,
        key=key,
        sha256=inspection.sha256,
        source=source,
        dims=dims,
        fields=[f for f in field_names(ds) if f not in given],
        given=given,
        shape=shape,
        layout=layout(ds),
        noise_estimate=inspection.quality.noise_estimate,
        warnings=inspection.quality.warnings,
    )


def ingest_dataset(
    source: str, store: ArtifactStore, cfg: IngestConfig | None = None
) -> tuple[DatasetRef, QualityReport]:
    """Read, check and store ``source``; the ref and the quality report."""
    with load_canonical(source, cfg) as ds:
        inspection = inspect_dataset(ds, source, cfg)
        return store_dataset(store, ds, source, inspection, cfg), inspection.quality


def _open(ref: DatasetRef) -> xr.Dataset:
    """Loaded with dask's synchronous scheduler: inside a Dask worker the default would send
    the load to the cluster, whose single-threaded workers may be busy (training members)."""
    import dask

    with dask.config.set(scheduler="synchronous"):
        ds = open_ref(ref).open_zarr("data.zarr").load()
    return ds.map(
        lambda v: v.astype(np.complex128 if is_complex(v) else np.float64), keep_attrs=True
    ).assign_coords({c: ds[c].astype(np.float64) for c in ds.coords})


def open_dataset(ref: DatasetRef, *, allow_scattered: bool = False) -> xr.Dataset:
    """The canonical dataset behind a ref (float64, complex fields complex128, verified against
    its recorded hashes).

    Strong-form discovery needs a grid: a scattered dataset is refused unless
    ``allow_scattered``; fit a PINN surrogate to it first (:func:`open_points` gives its rows).
    """
    if ref.layout != "grid" and not allow_scattered:
        raise DataValidationError(
            f"{ref.source}: scattered data ({ref.shape[0]} points of {', '.join(ref.dims)}); "
            "derivatives on the raw data need a grid: train a PINN surrogate on it "
            "(physforge.pinn) and discover from the surrogate"
        )
    return _open(ref)


def open_points(ref: DatasetRef) -> xr.Dataset:
    """Any dataset as scattered points (coordinates over ``point``): the PINN's training rows."""
    ds = _open(ref)
    if layout(ds) != "grid":
        return ds
    dims = [time_dim(ds), *space_dims(ds)]
    flat = ds.stack({POINT_DIM: dims}).reset_index(POINT_DIM)
    flat = flat.drop_vars(POINT_DIM, errors="ignore")
    flat.attrs = dict(ds.attrs, physforge_layout="scattered")
    return flat.transpose(POINT_DIM)
