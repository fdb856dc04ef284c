"""Task: a DatasetRef in, the candidate-term library as Zarr out (FeatureRef)."""

from __future__ import annotations

import hashlib
import json

from prefect import task

from physforge.config import FeatureConfig
from physforge.datasets.ingest import open_dataset
from physforge.discovery.features import build_features
from physforge.refs import DatasetRef, FeatureRef
from physforge.storage_blocks.store import ArtifactStore
from physforge.tasks.common import code_version, task_defaults

__all__ = ["extract_features"]


@task(name="extract_features", **task_defaults())
def extract_features(dataset: DatasetRef, config: FeatureConfig) -> FeatureRef:
    store = ArtifactStore(dataset.store)
    cfg = config.model_dump(mode="json")
    key_doc = json.dumps([dataset.sha256, cfg, code_version()], sort_keys=True)
    key = f"features/{hashlib.sha256(key_doc.encode()).hexdigest()[:32]}"
    if not store.is_committed(key):
        fs = build_features(open_dataset(dataset), config)
        with store.transaction(key, meta={"kind": "features", "info": fs.info}) as tx:
            tx.put_zarr("library.zarr", fs.to_xarray())
    art = store.artifact(key)
    return FeatureRef(store=store.url, key=key, sha256=art.sha256, dataset=dataset, config=cfg,
                      info=art.meta.get("info", {}))
