"""Task: record a discovery's result for :func:`physforge.runs.recall` (the run memo)."""

from __future__ import annotations

import time

from prefect import task

from physforge.config import PipelineConfig
from physforge.errors import IntegrityError, StoreError
from physforge.runs import KIND, run_key
from physforge.storage_blocks.store import ArtifactStore
from physforge.tasks.common import task_defaults

__all__ = ["remember"]


@task(name="remember", **(task_defaults() | {"cache_key_fn": None, "persist_result": False}))
def remember(dataset: str, config: PipelineConfig, store_url: str, result: dict) -> str | None:
    """Record the flow's result for :func:`physforge.runs.recall` (rewritten when damaged)."""
    from prefect.runtime import flow_run

    store = ArtifactStore(store_url)
    key = run_key(dataset, config)
    if key is None:
        return None
    damaged = False
    if store.is_committed(key):
        try:
            store.artifact(key).read_json("result.json")
        except (IntegrityError, StoreError):
            damaged = True
    meta = {
        "kind": "run",
        "flow_run_id": str(flow_run.id or ""),
        "computed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    store.computed(
        KIND,
        key.split("/", 1)[1],
        lambda tx: tx.put_json("result.json", result),
        meta=meta,
        force=damaged,
    )
    return key
