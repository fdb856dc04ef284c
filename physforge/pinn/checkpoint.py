"""Training checkpoints in the artifact store, generic over what is being trained.

A checkpoint is one committed artifact ``<prefix>/step-<step:09d>`` holding ``state.pt`` (a dict
of tensors and ``state_dict``s written with ``torch.save``, read back with
``weights_only=True``: nothing is unpickled) and ``meta.json`` (step, phase, history, anything
JSON). Because the commit marker is written last, a process killed mid-write leaves no
checkpoint that a resume would take; the newest committed one wins. Older checkpoints are
pruned after a newer one is committed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import torch

from physforge.errors import StoreError
from physforge.storage_blocks.store import COMMIT_MARKER, ArtifactStore

__all__ = [
    "Checkpoint",
    "save_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
    "clear_checkpoints",
]


@dataclass(frozen=True)
class Checkpoint:
    step: int
    key: str
    state: dict[str, Any]
    meta: dict[str, Any]


def _step_key(prefix: str, step: int) -> str:
    return f"{prefix}/step-{step:09d}"


def list_checkpoints(store: ArtifactStore, prefix: str) -> list[tuple[int, str]]:
    """Committed checkpoints under ``prefix`` as ``(step, key)``, oldest first."""
    out = []
    for key in store.list(prefix):
        name = key.rsplit("/", 1)[-1]
        if name.startswith("step-") and name[5:].isdigit():
            out.append((int(name[5:]), key))
    return sorted(out)


def _remove(store: ArtifactStore, key: str) -> None:
    """Uncommit first (marker), then delete: a half-deleted checkpoint is never read."""
    marker = store.path(f"{key}/{COMMIT_MARKER}")
    if store.fs.exists(marker):
        store.fs.rm(marker)
    path = store.path(key)
    if store.fs.exists(path):
        store.fs.rm(path, recursive=True)


def save_checkpoint(
    store: ArtifactStore,
    prefix: str,
    step: int,
    state: dict[str, Any],
    meta: dict[str, Any] | None = None,
    keep: int = 2,
) -> str:
    """Commit ``state`` (tensors / state_dicts) and ``meta`` (JSON) as the checkpoint at ``step``.

    Keeps the newest ``keep`` checkpoints. Returns the checkpoint's key.
    """
    buf = io.BytesIO()
    torch.save(state, buf)
    key = _step_key(prefix, step)
    doc = {"step": int(step), **(meta or {})}
    with store.transaction(key, meta={"kind": "checkpoint", "step": int(step)}) as tx:
        tx.put_bytes("state.pt", buf.getvalue())
        tx.put_json("meta.json", doc)
    for _, old in list_checkpoints(store, prefix)[:-keep] if keep > 0 else []:
        _remove(store, old)
    return key


def latest_checkpoint(store: ArtifactStore, prefix: str) -> Checkpoint | None:
    """The newest committed checkpoint under ``prefix``, or None.

    A trainer that is still running prunes old checkpoints after committing new ones, so the
    newest one listed may be uncommitted and removed while it is read: then the listing is taken
    again. A checkpoint whose marker is still there but whose files are not is corrupt, and that
    error is raised.
    """
    while True:
        found = list_checkpoints(store, prefix)
        if not found:
            return None
        step, key = found[-1]
        try:
            art = store.artifact(key)
            return Checkpoint(
                step=step,
                key=key,
                state=art.torch_state("state.pt"),
                meta=art.read_json("meta.json"),
            )
        except StoreError:
            if store.fs.exists(store.path(f"{key}/{COMMIT_MARKER}")):
                raise


def clear_checkpoints(store: ArtifactStore, prefix: str) -> None:
    """Remove every checkpoint under ``prefix`` (after the final weights are committed)."""
    for _, key in list_checkpoints(store, prefix):
        _remove(store, key)
