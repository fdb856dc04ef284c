"""What every PhysForge task shares: cache keys over refs, retries, JSON result persistence."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib.resources import files
from typing import Any

from prefect.context import TaskRunContext
from prefect.tasks import exponential_backoff
from pydantic import BaseModel

import physforge
from physforge.errors import ConfigError, DataValidationError, IntegrityError
from physforge.storage_blocks.blocks import saved_result_storage
from physforge.storage_blocks.store import ArtifactStore

__all__ = ["code_version", "ref_cache_key", "task_defaults", "task_options"]

_SCIENCE = ("datasets", "discovery", "pinn", "validation", "storage_blocks", "tasks")


@cache
def code_version() -> str:
    """Package version + a hash of the science modules' sources: a code change busts caches."""
    h = hashlib.sha256(physforge.__version__.encode())
    root = files("physforge")
    def walk(pkg, prefix: str) -> None:
        for f in sorted(pkg.iterdir(), key=lambda p: p.name):
            if f.is_dir() and f.name != "__pycache__":
                walk(f, f"{prefix}{f.name}/")
            elif f.name.endswith(".py"):
                h.update(f"{prefix}{f.name}".encode())
                h.update(f.read_bytes())

    for sub in _SCIENCE:
        if (root / sub).is_dir():
            walk(root / sub, f"{sub}/")
    for top in ("config.py", "refs.py"):
        h.update((root / top).read_bytes())
    return f"{physforge.__version__}+{h.hexdigest()[:12]}"


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
    }


def task_options(store: ArtifactStore) -> dict[str, Any]:
    """Per-run options: results persist to the same store as the artifacts."""
    return {"result_storage": saved_result_storage(store)}
