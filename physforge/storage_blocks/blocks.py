"""Prefect storage blocks for the artifact store, so task results persist beside the artifacts.

Task results are read through :class:`GuardedResultsFS`, an fsspec filesystem in front of the
store's own: Prefect deserialises a result record with whatever serializer the *record* names,
so a record planted in the bucket that names ``pickle`` would run code in every reader. The
guard hands Prefect only records that use the default JSON serializer and name no class
outside PhysForge's refs (see :func:`check_result_record`); anything else reads as a cache miss.

The guarded protocols (``physforge+file``, ``physforge+s3`` …) are fsspec entry points of the
package (``pyproject.toml``), so any process that meets such a path loads them on first use;
:func:`register_guarded_protocols` registers them in this process too (an install whose entry
points predate them). Nothing is registered when this module is imported.

:func:`register_blocks` saves the store block (:mod:`physforge.storage_blocks.registry`), its
Secret blocks and the result-storage block.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import sys
from typing import Any

import fsspec
from fsspec.spec import AbstractFileSystem
from prefect.blocks.system import Secret
from prefect.filesystems import RemoteFileSystem, WritableFileSystem

from physforge.errors import ConfigError, StoreError
from physforge.storage_blocks.registry import (
    DEFAULT_BLOCK,
    PhysForgeStore,
    normalise_url,
    store_from_block,
)
from physforge.storage_blocks.store import ArtifactStore

__all__ = [
    "result_storage_for",
    "saved_result_storage",
    "register_store_block",
    "block_name",
    "register_blocks",
    "register_guarded_protocols",
    "RESULTS_PREFIX",
    "GuardedResultsFS",
    "check_result_record",
    "STORE_BLOCK_OPTION",
]

RESULTS_PREFIX = "prefect-results"
# a result-storage setting naming the store block whose credentials open the results (the
# block document itself holds no secrets); GuardedResultsFS takes it out before s3fs sees it
STORE_BLOCK_OPTION = "physforge_store_block"
_GUARD = (
    "physforge+"  # basepath scheme prefix: physforge+s3://bucket/…, physforge+file://localhost/…
)
_log = logging.getLogger("physforge.security")


def _json_serializer() -> dict[str, Any]:
    from prefect.serializers import JSONSerializer

    return JSONSerializer().model_dump(mode="json")


def _loaded(qualname: str, base: type) -> bool:
    """``module.Name`` is an already imported subclass of ``base`` (no import happens)."""
    module, _, name = qualname.rpartition(".")
    obj = getattr(sys.modules.get(module), name, None)
    return isinstance(obj, type) and issubclass(obj, base)


def check_result_record(data: bytes, where: str) -> None:
    """Refuse a Prefect result record that could run code when Prefect deserialises it.

    Accepted: a JSON record whose serializer is exactly Prefect's default JSON serializer
    (no pickle, no custom ``object_decoder``), whose value names classes (``__class__``) only
    among PhysForge's already imported pydantic models and exceptions (``__exc_type__``) only
    among already imported exception classes. Raises StoreError naming ``where`` otherwise.
    """
    from pydantic import BaseModel

    def refuse(why: str) -> StoreError:
        _log.warning("refused task result %s: %s", where, why)
        return StoreError(
            f"task result {where} refused: {why}. PhysForge writes JSON results "
            "only; this file was written by something else. Delete it to "
            "recompute the task"
        )

    try:
        record = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise refuse("not a JSON result record") from exc
    if not isinstance(record, dict) or not isinstance(record.get("metadata"), dict):
        raise refuse("not a Prefect result record")
    serializer = record["metadata"].get("serializer")
    if serializer != _json_serializer():
        kind = serializer.get("type") if isinstance(serializer, dict) else serializer
        raise refuse(f"serializer {kind!r} with settings other than Prefect's JSON default")
    value = record.get("result")
    if not isinstance(value, str):
        raise refuse("the value is not a JSON document")
    try:
        doc = json.loads(value)
    except ValueError as exc:
        raise refuse("the value is not a JSON document") from exc
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            cls = node.get("__class__")
            if cls is not None and not (
                isinstance(cls, str) and cls.startswith("physforge.") and _loaded(cls, BaseModel)
            ):
                raise refuse(f"it names class {cls!r}, not one of PhysForge's refs")
            exc_type = node.get("__exc_type__")
            if exc_type is not None and not (
                isinstance(exc_type, str) and _loaded(exc_type, BaseException)
            ):
                raise refuse(f"it names exception type {exc_type!r}")
            stack.extend(node.values())


class GuardedResultsFS(AbstractFileSystem):
    """The store's filesystem for Prefect's result storage; reads pass
    :func:`check_result_record` first. Registered with fsspec as ``physforge+<protocol>``."""

    inner_protocol = ""
    cachable = True

    def __init__(self, **storage_options: Any):
        super().__init__(**storage_options)
        options = dict(storage_options)
        block = options.pop(STORE_BLOCK_OPTION, None)
        if block:  # the block's endpoint and credentials; the given settings win
            options = {**store_from_block(block).storage_options, **options}
        self.inner = fsspec.filesystem(self.inner_protocol, **options)

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        for proto in cls.protocol if isinstance(cls.protocol, tuple) else (cls.protocol,):
            if path.startswith(f"{proto}://"):
                path = path[len(proto) + 3 :]
                if cls.inner_protocol not in ("s3", "s3a"):
                    path = path.removeprefix("localhost")
        return path.rstrip("/") or "/"

    def makedirs(self, path, exist_ok=False):
        return self.inner.makedirs(self._strip_protocol(path), exist_ok=exist_ok)

    def exists(self, path, **kwargs):
        return self.inner.exists(self._strip_protocol(path), **kwargs)

    def rm(self, path, recursive=False, maxdepth=None):
        return self.inner.rm(self._strip_protocol(path), recursive=recursive, maxdepth=maxdepth)

    def open(self, path, mode="rb", **kwargs):
        inner = self._strip_protocol(path)
        if "r" in mode:
            data = self.inner.cat_file(inner)
            check_result_record(data, str(path))
            return io.BytesIO(data)
        return self.inner.open(inner, mode, **kwargs)


def _guard(protocol: str) -> type[GuardedResultsFS]:
    """The guarded filesystem in front of fsspec's ``protocol``."""
    name = "Guarded" + protocol.capitalize() + "FS"
    return type(
        name,
        (GuardedResultsFS,),
        {
            "protocol": (_GUARD + protocol,),
            "inner_protocol": protocol,
            "__module__": __name__,
            "__qualname__": name,
        },
    )


# module-level names: the entry points in pyproject.toml point at them
GuardedFileFS = _guard("file")
GuardedS3FS = _guard("s3")
GuardedS3aFS = _guard("s3a")
GuardedMemoryFS = _guard("memory")

_GUARDED: dict[str, type[GuardedResultsFS]] = {
    cls.inner_protocol: cls for cls in (GuardedFileFS, GuardedS3FS, GuardedS3aFS, GuardedMemoryFS)
}


def register_guarded_protocols() -> None:
    """Register the guarded protocols with fsspec in this process (idempotent)."""
    for protocol, cls in _GUARDED.items():
        if _GUARD + protocol not in fsspec.registry:
            fsspec.register_implementation(_GUARD + protocol, cls, clobber=True)


def _guarded_protocol(protocol: str) -> str:
    register_guarded_protocols()
    name = _GUARD + protocol
    if name not in fsspec.registry:  # another fsspec protocol: its guard, made here
        fsspec.register_implementation(name, _guard(protocol), clobber=True)
    return name


def result_storage_for(store: ArtifactStore) -> RemoteFileSystem:
    """The Prefect filesystem block holding task results under ``<store>/prefect-results``."""
    base = f"{store.root}/{RESULTS_PREFIX}"
    scheme = _guarded_protocol(store.protocol)
    if store.protocol in ("s3", "s3a"):
        basepath = f"{scheme}://{base}"
    else:  # Prefect wants a location after the scheme
        basepath = f"{scheme}://localhost/{base.lstrip('/')}"
    # Credentials stay out of the block document: the reader takes them from the store block
    # it names (a store opened through one), else s3fs from the environment.
    secret = ("key", "secret", "token")
    settings = {k: v for k, v in store.storage_options.items() if k not in secret}
    if store.block:
        settings[STORE_BLOCK_OPTION] = store.block
    return RemoteFileSystem(basepath=basepath, settings=settings)


def block_name(store: ArtifactStore) -> str:
    """One block per store URL: ``physforge-results-<sha8 of the URL>``."""
    return "physforge-results-" + hashlib.sha256(store.url.encode()).hexdigest()[:8]


def saved_result_storage(store: ArtifactStore, name: str | None = None) -> WritableFileSystem:
    """The result-storage block as saved on the Prefect API, ready to hand to tasks.

    The saved block is loaded when it already matches (one API call); otherwise it is saved.
    Tasks get the block itself, not its slug, so that they need not load it again.
    """
    block = result_storage_for(store)
    name = name or block_name(store)
    try:
        saved = RemoteFileSystem.load(name)
    except ValueError:  # not saved yet
        saved = None
    if (
        isinstance(saved, RemoteFileSystem)
        and saved.basepath == block.basepath
        and saved.settings == block.settings
    ):
        return saved
    block.save(name, overwrite=True)
    return block


def register_store_block(store: ArtifactStore, name: str | None = None) -> str:
    """Save the result-storage block on the Prefect API (idempotent); returns its slug."""
    name = name or block_name(store)
    block = saved_result_storage(store, name)
    return f"{block.get_block_type_slug()}/{name}"


def register_blocks(
    url: str,
    *,
    name: str = DEFAULT_BLOCK,
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    crash_after_s: float | None = None,
) -> dict[str, str]:
    """Save the store block, its credential Secret blocks and the result-storage block, and
    install the automation that marks a flow run Crashed once its heartbeats stop for
    ``crash_after_s`` seconds (default 90; see :mod:`physforge.storage_blocks.automations`).

    Idempotent (blocks are overwritten, the automation updated). For S3 the bucket is checked
    with the given credentials first, so a typo fails here rather than in the first flow run.
    Returns ``{role: block slug}``.
    """
    from physforge.storage_blocks.automations import (
        CRASH_AUTOMATION,
        CRASH_SILENCE_S,
        install_crash_automation,
    )

    url = normalise_url(url)
    is_s3 = url.startswith(("s3://", "s3a://"))
    if not is_s3 and not url.startswith("file://"):
        raise ConfigError(f"store URL {url!r}: expected s3://bucket/prefix or a file:// path")
    if bool(access_key_id) != bool(secret_access_key):
        raise ConfigError(
            "give both the access key id and the secret access key, or neither "
            "(then s3fs uses the worker's own AWS credentials)"
        )
    secrets: dict[str, Secret] = {}
    if is_s3 and access_key_id and secret_access_key:
        secrets = {
            "access_key_id": Secret(value=access_key_id),
            "secret_access_key": Secret(value=secret_access_key),
        }
    block = PhysForgeStore(
        url=url,
        endpoint_url=endpoint_url if is_s3 else None,
        region=region if is_s3 else None,
        **secrets,
    )
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
    install_crash_automation(CRASH_SILENCE_S if crash_after_s is None else crash_after_s)
    slugs["crash automation"] = f"automation/{CRASH_AUTOMATION}"
    store_from_block.cache_clear()
    return slugs


def _check_bucket(url: str, options: dict[str, Any]) -> None:
    import fsspec

    fs, root = fsspec.core.url_to_fs(url, **options)
    bucket = root.split("/", 1)[0]
    try:
        fs.ls(bucket, refresh=True)
    except FileNotFoundError as exc:
        raise StoreError(
            f"store {url}: bucket {bucket!r} does not exist; create it first "
            "(MinIO: mc mb <alias>/<bucket>)"
        ) from exc
    except PermissionError as exc:
        raise StoreError(
            f"store {url}: access to bucket {bucket!r} was denied with the given credentials"
        ) from exc
