"""Prefect storage blocks for the artifact store, so task results persist beside the artifacts."""

from __future__ import annotations

import hashlib

from prefect.filesystems import LocalFileSystem, RemoteFileSystem, WritableFileSystem

from physforge.storage_blocks.store import ArtifactStore

__all__ = ["result_storage_for", "register_store_block", "block_name", "RESULTS_PREFIX"]

RESULTS_PREFIX = "prefect-results"


def result_storage_for(store: ArtifactStore) -> WritableFileSystem:
    """The Prefect filesystem block holding task results under ``<store>/prefect-results``."""
    if store.protocol == "file":
        return LocalFileSystem(basepath=f"{store.root}/{RESULTS_PREFIX}")
    # Credentials stay out of the block document: s3fs reads them from the environment.
    secret = ("key", "secret", "token")
    settings = {k: v for k, v in store.storage_options.items() if k not in secret}
    return RemoteFileSystem(basepath=f"{store.url}/{RESULTS_PREFIX}", settings=settings)


def block_name(store: ArtifactStore) -> str:
    """One block per store URL: ``physforge-results-<sha8 of the URL>``."""
    return "physforge-results-" + hashlib.sha256(store.url.encode()).hexdigest()[:8]


def register_store_block(store: ArtifactStore, name: str | None = None) -> str:
    """Save the result-storage block on the Prefect API (idempotent); returns its slug."""
    block = result_storage_for(store)
    name = name or block_name(store)
    block.save(name, overwrite=True)
    return f"{block.get_block_type_slug()}/{name}"
