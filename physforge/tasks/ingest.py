"""Task: a dataset file or URI in, a DatasetRef out."""

from __future__ import annotations

from prefect import get_run_logger, task

from physforge.config import IngestConfig
from physforge.datasets.ingest import load_canonical, source_fingerprint, store_dataset
from physforge.refs import DatasetRef
from physforge.storage_blocks.store import ArtifactStore
from physforge.tasks.common import ref_cache_key, task_defaults

__all__ = ["ingest"]


def _ingest_cache_key(context, parameters) -> str:
    """The source enters the key by its content (bytes hash or ETag), not its name."""
    params = dict(parameters)
    params["source"] = source_fingerprint(params["source"])
    return ref_cache_key(context, params)


@task(name="ingest", **(task_defaults() | {"cache_key_fn": _ingest_cache_key}))
def ingest(source: str, config: IngestConfig, store_url: str) -> DatasetRef:
    store = ArtifactStore(store_url)
    ds = load_canonical(source, config)
    ref = store_dataset(store, ds, source)
    logger = get_run_logger()
    logger.info("ingested %s: dims %s, fields %s -> %s", source, ref.dims, ref.fields, ref.key)
    for w in ref.warnings:
        logger.warning("%s: %s", source, w)
    return ref
