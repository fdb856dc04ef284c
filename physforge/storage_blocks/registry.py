"""The store as Prefect blocks: one ``physforge-store`` block (URL, S3 endpoint) whose
credentials are Prefect ``Secret`` blocks, registered by ``physforge blocks register``
(:func:`physforge.storage_blocks.blocks.register_blocks`).

A deployment names the block in ``$PHYSFORGE_STORE_BLOCK``; then
:class:`~physforge.storage_blocks.store.ArtifactStore` takes its URL and credentials from the
block (see :func:`store_from_block`), so workers need the Prefect API and nothing else. The
secrets are read with the block, held in the :class:`StoreLocation` handed to whoever opens the
store (never put into the environment), and never logged or printed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from pydantic import Field

from physforge.errors import StoreError

__all__ = [
    "PhysForgeStore",
    "STORE_BLOCK_ENV",
    "DEFAULT_BLOCK",
    "load_store_block",
    "store_from_block",
    "StoreLocation",
    "normalise_url",
]

STORE_BLOCK_ENV = "PHYSFORGE_STORE_BLOCK"
DEFAULT_BLOCK = "physforge-store"


class PhysForgeStore(Block):
    """Where PhysForge keeps artifacts and task results: a ``file://`` folder or an
    S3-compatible bucket (AWS S3, MinIO) with its endpoint and credentials."""

    _block_type_name = "PhysForge Store"
    _block_type_slug = "physforge-store"
    _description = (
        "PhysForge artifact store: s3://bucket/prefix (AWS S3 or MinIO, with an "
        "endpoint) or file:///path; credentials are Secret blocks."
    )

    url: str = Field(..., description="Store root: s3://bucket/prefix or file:///shared/path.")
    endpoint_url: str | None = Field(
        None,
        description="S3 endpoint for MinIO or another S3-compatible service, "
        "e.g. http://minio:9000; empty for AWS S3.",
    )
    region: str | None = Field(None, description="S3 region, e.g. us-east-1.")
    access_key_id: Secret | None = Field(None, description="Secret block: access key id.")
    secret_access_key: Secret | None = Field(None, description="Secret block: secret key.")

    @property
    def is_s3(self) -> bool:
        return self.url.startswith(("s3://", "s3a://"))

    def storage_options(self) -> dict[str, Any]:
        """fsspec (s3fs) options for the store, credentials included."""
        if not self.is_s3:
            return {}
        opts: dict[str, Any] = {}
        client: dict[str, Any] = {}
        if self.endpoint_url:
            client["endpoint_url"] = self.endpoint_url
        if self.region:
            client["region_name"] = self.region
        if client:
            opts["client_kwargs"] = client
        if self.access_key_id and self.secret_access_key:
            opts.update(key=self.access_key_id.get(), secret=self.secret_access_key.get())
        return opts


@dataclass(frozen=True)
class StoreLocation:
    """Where a store is and how to open it: its URL, the fsspec options (credentials
    included; kept out of ``repr``) and the block it came from."""

    url: str
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)
    block: str | None = None


def normalise_url(url: str) -> str:
    """A store URL: local paths as ``file://`` absolute paths, no trailing slash."""
    if "://" not in url:
        url = "file://" + os.path.abspath(os.path.expanduser(url))
    return url.rstrip("/")


def load_store_block(name: str = DEFAULT_BLOCK) -> PhysForgeStore:
    """The saved store block (secrets included); a StoreError that says what to run if absent."""
    try:
        # _sync: also inside a running event loop (a Jupyter kernel executing the report)
        block = PhysForgeStore.load(name, _sync=True)  # type: ignore[call-arg]
        return cast(PhysForgeStore, block)
    except ValueError as exc:
        raise StoreError(
            f"store block {name!r} (from ${STORE_BLOCK_ENV}) was not found on the Prefect API; "
            "create it with `physforge blocks register --store s3://bucket/prefix ...`"
        ) from exc


@cache
def store_from_block(name: str) -> StoreLocation:
    """The location of the named store block (URL, fsspec options with its credentials),
    loaded once per process. Nothing is written to the environment: the options travel with
    the :class:`~physforge.storage_blocks.store.ArtifactStore`, and Prefect's result storage
    finds the credentials through the block's name
    (:class:`~physforge.storage_blocks.blocks.GuardedResultsFS`)."""
    block = load_store_block(name)
    return StoreLocation(normalise_url(block.url), block.storage_options(), name)
