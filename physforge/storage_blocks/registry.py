"""The store as Prefect blocks: one ``physforge-store`` block (URL, S3 endpoint) whose
credentials are Prefect ``Secret`` blocks, registered by ``physforge blocks register``.

A deployment names the block in ``$PHYSFORGE_STORE_BLOCK``; then
:class:`~physforge.storage_blocks.store.ArtifactStore` takes its URL and credentials from the
block (see :func:`store_from_block`), so workers need the Prefect API and nothing else. The
secrets are read with the block and never logged or printed.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from pydantic import Field

from physforge.errors import ConfigError, StoreError

__all__ = [
    "PhysForgeStore",
    "STORE_BLOCK_ENV",
    "DEFAULT_BLOCK",
    "register_blocks",
    "load_store_block",
    "store_from_block",
]

STORE_BLOCK_ENV = "PHYSFORGE_STORE_BLOCK"
DEFAULT_BLOCK = "physforge-store"


class PhysForgeStore(Block):
    """Where PhysForge keeps artifacts and task results: a ``file://`` folder or an
    S3-compatible bucket (AWS S3, MinIO) with its endpoint and credentials."""

    _block_type_name = "PhysForge Store"
    _block_type_slug = "physforge-store"
    _description = ("PhysForge artifact store: s3://bucket/prefix (AWS S3 or MinIO, with an "
                    "endpoint) or file:///path; credentials are Secret blocks.")

    url: str = Field(..., description="Store root: s3://bucket/prefix or file:///shared/path.")
    endpoint_url: str | None = Field(
        None, description="S3 endpoint for MinIO or another S3-compatible service, "
        "e.g. http://minio:9000; empty for AWS S3.")
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

    def credential_env(self) -> dict[str, str]:
        """The same settings as environment variables, for s3fs clients that PhysForge does
        not configure itself (Prefect's result storage, report kernels, Dask workers)."""
        env: dict[str, str] = {}
        if not self.is_s3:
            return env
        if self.endpoint_url:
            env["PHYSFORGE_S3_ENDPOINT"] = self.endpoint_url
        if self.region:
            env["AWS_DEFAULT_REGION"] = self.region
        if self.access_key_id and self.secret_access_key:
            env["AWS_ACCESS_KEY_ID"] = str(self.access_key_id.get())
            env["AWS_SECRET_ACCESS_KEY"] = str(self.secret_access_key.get())
        return env


def _normalise(url: str) -> str:
    if "://" not in url:
        url = "file://" + os.path.abspath(os.path.expanduser(url))
    return url.rstrip("/")


def register_blocks(
    url: str,
    *,
    name: str = DEFAULT_BLOCK,
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
) -> dict[str, str]:
    """Save the store block, its credential Secret blocks and the result-storage block.

    Idempotent (blocks are overwritten). For S3 the bucket is checked with the given
    credentials first, so a typo fails here rather than in the first flow run. Returns
    ``{role: block slug}``.
    """
    from physforge.storage_blocks.blocks import register_store_block
    from physforge.storage_blocks.store import ArtifactStore

    url = _normalise(url)
    is_s3 = url.startswith(("s3://", "s3a://"))
    if not is_s3 and not url.startswith("file://"):
        raise ConfigError(f"store URL {url!r}: expected s3://bucket/prefix or a file:// path")
    if bool(access_key_id) != bool(secret_access_key):
        raise ConfigError("give both the access key id and the secret access key, or neither "
                          "(then s3fs uses the worker's own AWS credentials)")
    secrets: dict[str, Secret] = {}
    if is_s3 and access_key_id and secret_access_key:
        secrets = {"access_key_id": Secret(value=access_key_id),
                   "secret_access_key": Secret(value=secret_access_key)}
    block = PhysForgeStore(url=url, endpoint_url=endpoint_url if is_s3 else None,
                           region=region if is_s3 else None, **secrets)
    if is_s3:
        _check_bucket(url, block.storage_options())
    slugs: dict[str, str] = {}
    for field, secret in secrets.items():
        block_name = f"{name}-{field.replace('_', '-')}"
        secret.save(block_name, overwrite=True)  # saved first: the store block references it
        slugs[field] = f"secret/{block_name}"
    block.save(name, overwrite=True)
    slugs["store"] = f"{PhysForgeStore.get_block_type_slug()}/{name}"
    store = ArtifactStore(url, storage_options=block.storage_options())
    slugs["results"] = register_store_block(store)
    store_from_block.cache_clear()
    return slugs


def _check_bucket(url: str, options: dict[str, Any]) -> None:
    import fsspec

    fs, root = fsspec.core.url_to_fs(url, **options)
    bucket = root.split("/", 1)[0]
    try:
        fs.ls(bucket, refresh=True)
    except FileNotFoundError as exc:
        raise StoreError(f"store {url}: bucket {bucket!r} does not exist; create it first "
                         "(MinIO: mc mb <alias>/<bucket>)") from exc
    except PermissionError as exc:
        raise StoreError(f"store {url}: access to bucket {bucket!r} was denied with the "
                         "given credentials") from exc


def load_store_block(name: str = DEFAULT_BLOCK) -> PhysForgeStore:
    """The saved store block (secrets included); a StoreError that says what to run if absent."""
    try:
        # _sync: also inside a running event loop (a Jupyter kernel executing the report)
        return PhysForgeStore.load(name, _sync=True)
    except ValueError as exc:
        raise StoreError(
            f"store block {name!r} (from ${STORE_BLOCK_ENV}) was not found on the Prefect API; "
            "create it with `physforge blocks register --store s3://bucket/prefix ...`"
        ) from exc


@cache
def store_from_block(name: str) -> tuple[str, dict[str, Any]]:
    """(URL, fsspec options) of the named store block, loaded once per process.

    The block's S3 settings are also put into this process's environment where not already
    set (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``PHYSFORGE_S3_ENDPOINT``,
    ``AWS_DEFAULT_REGION``): Prefect's result storage, the report kernel and local Dask
    workers open their own s3fs clients and find them there.
    """
    block = load_store_block(name)
    for key, value in block.credential_env().items():
        os.environ.setdefault(key, value)
    return _normalise(block.url), block.storage_options()
