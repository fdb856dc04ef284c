"""What every PhysForge task shares: cache keys over refs, retries, JSON result persistence."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from prefect.context import TaskRunContext
from prefect.tasks import exponential_backoff
from pydantic import BaseModel

from physforge.errors import ConfigError, DataValidationError, IntegrityError
from physforge.storage_blocks.blocks import saved_result_storage
from physforge.storage_blocks.store import ArtifactStore
from physforge.versioning import code_version

__all__ = [
    "code_version",
    "forget_failure_record",
    "ref_cache_key",
    "task_defaults",
    "task_options",
]


def _canonical(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def ref_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Task name + code version + parameters, where refs enter by their content hashes."""
    doc = {
        "task": context.task.name,
        "code": code_version(),
        "params": _canonical(parameters),
    }
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
    return f"{context.task.name}-{digest[:40]}"


def retry_unless_bad_input(task, task_run, state) -> bool:
    """Retry transient failures; bad input, bad config or corrupt artifacts fail at once."""
    try:
        state.result()
    except (DataValidationError, ConfigError, IntegrityError):
        return False
    except Exception:  # noqa: BLE001 - everything else is worth another try
        return True
    return True


def forget_failure_record(task, task_run, state) -> None:
    """Delete the record Prefect persisted for a failed task run (the exception, as JSON).

    With result persistence on, Prefect writes every failure's exception to the task's result
    storage, which is the artifact store: a run refused for bad input would leave a file
    behind. The failure stays in the Prefect API (state, message, logs); the store keeps only
    what a task computed.
    """
    record = getattr(state, "data", None)
    key = getattr(getattr(record, "metadata", None), "storage_key", None)
    storage = getattr(task, "result_storage", None)
    if not key or storage is None or not hasattr(storage, "filesystem"):
        return
    resolve = getattr(storage, "_resolve_path", None)
    path = str(resolve(key)) if resolve else key
    try:
        if storage.filesystem.exists(path):
            storage.filesystem.rm(path)
    except Exception:  # noqa: BLE001 - a leftover record is untidy, not a reason to mask the failure
        pass


def task_defaults() -> dict[str, Any]:
    """Decorator options shared by every PhysForge task."""
    return {
        "retries": 3,
        "retry_delay_seconds": exponential_backoff(backoff_factor=2),
        "retry_jitter_factor": 0.5,
        "retry_condition_fn": retry_unless_bad_input,
        "cache_key_fn": ref_cache_key,
        "persist_result": True,
        "result_serializer": "json",
        "on_failure": [forget_failure_record],
    }


def task_options(store: ArtifactStore) -> dict[str, Any]:
    """Per-run options: results persist to the same store as the artifacts."""
    return {"result_storage": saved_result_storage(store)}
