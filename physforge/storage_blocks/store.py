"""The artifact store: one URL (``file://``, ``s3://``, ``memory://``), Zarr v3 and JSON inside.

Every artifact is a key prefix (``datasets/<sha>``, ``discoveries/<key>`` …) holding files and,
written last, a commit marker ``_COMMIT.json`` that lists each file with its sha256. A prefix
without its marker is treated as absent, so a crashed or interrupted write is never read as
finished, and every read is checked against the recorded hashes.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import io
import json
import os
import posixpath
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import fsspec
from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from physforge.errors import IntegrityError, StoreError

if TYPE_CHECKING:
    from physforge.storage_blocks.registry import StoreLocation

__all__ = [
    "ArtifactStore",
    "artifact_key",
    "Artifact",
    "Transaction",
    "COMMIT_MARKER",
    "resolve_store_url",
    "sha256_bytes",
]

COMMIT_MARKER = "_COMMIT.json"
DEFAULT_STORE = "./physforge-store"
_SAFE_PART = re.compile(r"^[A-Za-z0-9._=+-][A-Za-z0-9._=+-]*$")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def artifact_key(kind: str, key_parts: Sequence[Any] | str) -> str:
    """``kind/<sha256 of the parts' canonical JSON, 32 hex>``; a string is already the content
    address (``datasets/<sha of the data>``) and is used as it is."""
    if isinstance(key_parts, str):
        return f"{kind}/{key_parts}"
    doc = json.dumps(list(key_parts), sort_keys=True, default=str)
    return f"{kind}/{sha256_bytes(doc.encode())[:32]}"


def _block_store() -> StoreLocation | None:
    """The location (URL, fsspec options) of the Prefect store block named by
    ``$PHYSFORGE_STORE_BLOCK`` (see :mod:`physforge.storage_blocks.registry`); None when that
    variable is not set."""
    name = os.environ.get("PHYSFORGE_STORE_BLOCK")
    if not name:
        return None
    from physforge.storage_blocks.registry import store_from_block

    return store_from_block(name)


def resolve_store_url(url: str | None = None) -> str:
    """The store URL: the argument, else the URL of the block named by
    ``$PHYSFORGE_STORE_BLOCK``, else ``$PHYSFORGE_STORE``, else ``./physforge-store``."""
    block = None if url else _block_store()
    url = (url or (block.url if block else None) or os.environ.get("PHYSFORGE_STORE")
           or DEFAULT_STORE)
    if "://" not in url:
        url = "file://" + os.path.abspath(os.path.expanduser(url))
    return url.rstrip("/")


# botocore's own retries for every S3 call: 5xx, SlowDown/throttling and dropped or timed-out
# connections, with exponential backoff and client-side rate limiting ("adaptive"). The
# store's tenacity retries (``_io_retry``) sit on top, for what outlasts these.
S3_CLIENT_CONFIG: dict[str, Any] = {
    "retries": {"max_attempts": 10, "mode": "adaptive"},
    "connect_timeout": 10,
    "read_timeout": 60,
}


def _store_block_for(url: str) -> StoreLocation | None:
    """The store block's location when ``url`` is in its bucket."""
    if not url.startswith(("s3://", "s3a://")):
        return None
    block = _block_store()
    return block if block and _bucket(block.url) == _bucket(url) else None


def storage_options_for(url: str) -> dict[str, Any]:
    """fsspec options from the environment (never logged): the S3 endpoint for MinIO or moto."""
    if not url.startswith(("s3://", "s3a://")):
        return {}
    block = _store_block_for(url)
    if block:  # the block's endpoint and credentials
        return {"config_kwargs": S3_CLIENT_CONFIG, **block.storage_options}
    opts: dict[str, Any] = {"config_kwargs": S3_CLIENT_CONFIG}
    endpoint = os.environ.get("PHYSFORGE_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        opts["client_kwargs"] = {"endpoint_url": endpoint}
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        opts.update(key=key, secret=secret)
    return opts


def _bucket(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_RETRYABLE_S3_CODES = ("SlowDown", "Throttl", "InternalError", "ServiceUnavailable",
                       "RequestTimeout", "RequestTimeTooSkewed")


def _transient(exc: BaseException) -> bool:
    """Errors worth retrying: the network and the server, not missing keys, bad input or a
    full disk. s3fs turns a 5xx or SlowDown that outlasted botocore's retries into an OSError
    (EIO, EREMOTEIO, EBUSY), and leaves botocore's connection errors (dropped connection,
    timeouts) and unparsable error bodies as they are."""
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)):
        return False
    if isinstance(exc, (StoreError, ValueError, TypeError, KeyError)):
        return False
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
        return False
    if isinstance(exc, (OSError, ConnectionError, TimeoutError)):
        return True
    try:  # botocore comes with s3fs; file:// stores run without it
        from botocore.exceptions import ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.parsers import ResponseParserError
    except ImportError:  # pragma: no cover
        return "Throttl" in repr(exc)
    if isinstance(exc, (HTTPClientError, BotoConnectionError, ResponseParserError)):
        return True
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return int(status) >= 500 or any(c in str(err.get("Code", "")) for c in
                                        _RETRYABLE_S3_CODES)
    return "Throttl" in repr(exc) or "SlowDown" in repr(exc)


def _no_space(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno in _NO_SPACE:
            return True
        cause = cause.__cause__ or cause.__context__
    return False


_io_retry = retry(
    retry=retry_if_exception(_transient),
    wait=wait_exponential_jitter(initial=0.2, max=5.0, jitter=0.3),
    stop=stop_after_attempt(6),
    reraise=True,
)


_MAX_KEY, _MAX_PART = 1024, 255  # S3's key length; a file name's length on most filesystems


def _check_key(key: str) -> str:
    """A store key from parts that cannot escape the store root."""
    if key.startswith("/") or "://" in key:
        raise StoreError(f"store key {key!r} is refused: absolute paths and URLs are not keys")
    key = key.rstrip("/")
    if not key:
        raise StoreError("empty store key")
    if len(key) > _MAX_KEY:
        raise StoreError(f"store key {key[:60]!r}… is refused: longer than {_MAX_KEY} characters")
    for part in key.split("/"):
        if (part in ("", ".", "..") or len(part) > _MAX_PART
                or not _SAFE_PART.fullmatch(part)):  # fullmatch: no trailing newline either
            raise StoreError(
                f"store key {key!r} is refused: part {part!r} is not a plain name "
                "(letters, digits, '.', '_', '-', '=', '+'; no '..', no absolute paths or URLs)"
            )
    return key


def _files_sha256(files: Mapping[str, str]) -> str:
    """An artifact's sha256: of its manifest's file list (each file's sha256), canonical JSON."""
    return sha256_bytes(json.dumps(files, sort_keys=True).encode())


def _manifest(uri: str, raw: bytes) -> dict[str, Any]:
    """A commit marker's manifest, checked: readable, a file list of sha256s, and the artifact's
    sha256 recorded in it matching that list (a damaged marker is an error naming the
    artifact, not a JSONDecodeError or KeyError from deep inside a task)."""
    fix = f"; delete the artifact's folder {uri} and run again to rewrite it"
    try:
        manifest = json.loads(raw)
        files, recorded = manifest["files"], manifest["sha256"]
    except (ValueError, KeyError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
        raise IntegrityError(
            f"artifact {uri}: its manifest {COMMIT_MARKER} is damaged ({type(exc).__name__}: "
            f"{exc}){fix}") from exc
    if not (isinstance(files, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items())):
        raise IntegrityError(f"artifact {uri}: its manifest {COMMIT_MARKER} is damaged (the "
                             f"file list is not names and sha256s){fix}")
    if _files_sha256(files) != recorded:
        raise IntegrityError(
            f"artifact {uri}: its manifest's file list does not match the sha256 recorded in "
            f"{COMMIT_MARKER} (corrupted or edited after the commit){fix}")
    return manifest


@dataclass(init=False)
class ArtifactStore:
    """Content-addressed artifacts under one URL (None: :func:`resolve_store_url`'s default)."""

    url: str
    storage_options: dict[str, Any]
    block: str | None  # the store block whose credentials these are

    def __init__(self, url: str | None = None,
                 storage_options: dict[str, Any] | None = None) -> None:
        self.url = resolve_store_url(url)
        given_options = dict(storage_options or {})
        opts = {**storage_options_for(self.url), **given_options}
        # the store block whose credentials these are, for readers of its task results
        location = _store_block_for(self.url)
        given = any(k in given_options for k in ("key", "secret", "token"))
        self.block = location.block if location and not given else None
        self.storage_options = opts
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **opts)
        self.protocol = self.url.split("://", 1)[0]
        if self.protocol == "file":
            self.fs.makedirs(self.root, exist_ok=True)
        elif self.protocol in ("s3", "s3a"):
            self._check_bucket()

    def _check_bucket(self) -> None:
        bucket = self.root.split("/", 1)[0]
        try:
            self.fs.ls(bucket, refresh=True)
        except FileNotFoundError as exc:
            raise StoreError(f"store {self.url}: bucket {bucket!r} does not exist") from exc
        except PermissionError as exc:
            raise StoreError(
                f"store {self.url}: access to bucket {bucket!r} was denied; check the credentials "
                "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the physforge store block)"
            ) from exc

    # paths ---------------------------------------------------------------------------------
    def path(self, key: str) -> str:
        return posixpath.join(self.root, _check_key(key))

    def uri(self, key: str) -> str:
        return f"{self.protocol}://{self.path(key)}" if self.protocol != "file" else (
            "file://" + self.path(key)
        )

    # artifacts -----------------------------------------------------------------------------
    @_io_retry
    def is_committed(self, prefix: str) -> bool:
        return self.fs.exists(self.path(f"{prefix}/{COMMIT_MARKER}"))

    def artifact(self, prefix: str) -> Artifact:
        """The committed artifact at ``prefix``; a StoreError when absent or unfinished, an
        IntegrityError naming it when its manifest is damaged."""
        try:
            raw = self._cat(self.path(f"{prefix}/{COMMIT_MARKER}"))
        except FileNotFoundError as exc:
            raise StoreError(
                f"artifact {self.uri(prefix)} does not exist (or its write never finished)"
            ) from exc
        return Artifact(self, _check_key(prefix), _manifest(self.uri(prefix), raw))

    @contextmanager
    def transaction(
        self, prefix: str, meta: Mapping[str, Any] | None = None
    ) -> Iterator[Transaction]:
        """Write an artifact; it becomes visible only when the block exits without error."""
        tx = Transaction(self, _check_key(prefix), dict(meta or {}))
        try:
            yield tx
        except BaseException:
            tx.abort()
            raise
        tx.commit()

    def computed(self, kind: str, key_parts: Sequence[Any] | str,
                 write: Callable[[Transaction], object],
                 meta: Mapping[str, Any] | None = None, *, force: bool = False) -> Artifact:
        """The memoised artifact ``kind/<key of key_parts>`` (:func:`artifact_key`): ``write``
        fills a transaction only when that artifact is not committed yet (``force``: it is
        rewritten). ``write`` may add to ``tx.meta``. The key parts must name everything the
        result depends on: the inputs' content hashes, the configuration, the code version."""
        key = artifact_key(kind, key_parts)
        if force and self.is_committed(key):
            self._rm_file(self.path(f"{key}/{COMMIT_MARKER}"))
        if not self.is_committed(key):
            with self.transaction(key, meta=meta) as tx:
                write(tx)
        return self.artifact(key)

    def list(self, kind: str) -> list[str]:
        """Committed artifact prefixes under a top-level kind (``datasets``, ``discoveries`` …)."""
        base = self.path(kind)
        try:
            markers = self.fs.glob(f"{base}/*/{COMMIT_MARKER}")
        except FileNotFoundError:
            return []
        return sorted(posixpath.relpath(posixpath.dirname(m), self.root) for m in markers)

    # low-level I/O with retries ------------------------------------------------------------
    @_io_retry
    def _cat(self, path: str) -> bytes:
        return self.fs.cat_file(path)

    @_io_retry
    def _pipe_atomic(self, path: str, data: bytes) -> None:
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        if self.protocol == "file":
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        self.fs.pipe_file(tmp, data)
        try:
            self.fs.mv(tmp, path)
        finally:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)

    @_io_retry
    def _find(self, path: str) -> builtins.list[str]:
        try:
            return sorted(self.fs.find(path))
        except FileNotFoundError:
            return []

    @_io_retry
    def _exists(self, path: str) -> bool:
        return self.fs.exists(path)

    def _move(self, src: str, dst: str) -> None:
        """One file into place, replacing what is there (never deleting anything else)."""
        if self.protocol == "file":
            self.fs.makedirs(posixpath.dirname(dst), exist_ok=True)
            os.replace(src, dst)
            return
        self._copy(src, dst)  # object stores: copy, then drop the staged copy
        self._rm_file(src)

    @_io_retry
    def _copy(self, src: str, dst: str) -> None:
        self.fs.copy(src, dst)

    @_io_retry
    def _rm_file(self, path: str) -> None:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:  # a retried delete whose first answer was lost
            pass

    @_io_retry
    def _write_zarr(self, path: str, ds) -> None:
        if self._exists(path):  # a failed attempt of this same write
            self.fs.rm(path, recursive=True)
        ds.to_zarr(self.zarr_store(path), mode="w", zarr_format=3, consolidated=False,
                   compute=True)

    def zarr_store(self, path: str, read_only: bool = False):
        """A zarr v3 store object for an absolute store path."""
        import zarr.storage

        if self.protocol == "file":
            return zarr.storage.LocalStore(path, read_only=read_only)
        return zarr.storage.FsspecStore.from_url(
            f"{self.protocol}://{path}", storage_options=self.storage_options, read_only=read_only
        )


@dataclass
class Transaction:
    """Files written under one prefix, committed together by a marker written last.

    Several writers of the same content-addressed prefix may run at once (two flows ingesting
    the same dataset): no writer deletes a file it did not create, Zarr groups are written into
    a staging folder of this transaction and moved into place file by file, and the manifest
    lists exactly the files this transaction wrote, hashed as they are at commit time.
    A write that fails for lack of space raises a StoreError saying so.
    """

    store: ArtifactStore
    prefix: str
    meta: dict[str, Any]
    _names: list[str] = field(default_factory=list)
    _files: list[str] = field(default_factory=list)  # relative to the prefix
    _owned: list[str] = field(default_factory=list)  # created here: abort may remove them
    _id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def _path(self, name: str) -> str:
        return self.store.path(f"{self.prefix}/{_check_key(name)}")

    @contextmanager
    def _writing(self, name: str) -> Iterator[None]:
        """Turn a full disk (ENOSPC, EDQUOT) into a StoreError naming the artifact."""
        try:
            yield
        except Exception as exc:
            if _no_space(exc):
                raise StoreError(
                    f"artifact {self.store.uri(self.prefix)}: no space left on the device "
                    f"while writing {name!r}; nothing was committed. Free space under "
                    f"{self.store.url} or point PHYSFORGE_STORE at a larger volume"
                ) from exc
            raise

    def put_bytes(self, name: str, data: bytes) -> str:
        path = self._path(name)
        with self._writing(name):
            if not self.store._exists(path):
                self._owned.append(path)
            self.store._pipe_atomic(path, data)
        self._names.append(name)
        self._files.append(name)
        return sha256_bytes(data)

    def put_json(self, name: str, doc: Any) -> str:
        data = json.dumps(doc, indent=2, sort_keys=True, allow_nan=False).encode()
        return self.put_bytes(name, data)

    def put_zarr(self, name: str, ds) -> None:
        """An xarray Dataset as a Zarr v3 group (chunked as the Dataset is), written into a
        staging folder of this transaction, then moved into place file by file."""
        target = self._path(name)
        staging = self._path(f"{name}.tmp-{self._id}")
        self._owned.append(staging)
        with self._writing(name):
            if not self.store._exists(target):
                self._owned.append(target)
            self.store._write_zarr(staging, ds)
            for f in self.store._find(staging):
                rel = posixpath.relpath(f, staging)
                self.store._move(f, posixpath.join(target, rel))
                self._files.append(f"{name}/{rel}")
            if self.store._exists(staging):
                self.store.fs.rm(staging, recursive=True)
        self._names.append(name)

    def commit(self) -> str:
        files: dict[str, str] = {}
        for rel in self._files:
            try:
                files[rel] = sha256_bytes(self.store._cat(self._path(rel)))
            except FileNotFoundError as exc:
                raise StoreError(
                    f"artifact {self.store.uri(self.prefix)}: {rel} vanished before the commit "
                    "(removed by another writer of the same key?); nothing was committed"
                ) from exc
        sha256 = _files_sha256(files)
        manifest = {"files": files, "meta": self.meta, "created": time.time(), "sha256": sha256}
        data = json.dumps(manifest, indent=2, sort_keys=True).encode()
        with self._writing(COMMIT_MARKER):
            self.store._pipe_atomic(self._path(COMMIT_MARKER), data)
        return sha256

    def abort(self) -> None:
        """Remove what this transaction created (files another writer created first stay),
        unless another writer committed the same key."""
        if self.store.is_committed(self.prefix):
            owned = [p for p in self._owned if ".tmp-" in posixpath.basename(p)]
        else:
            owned = self._owned
        for path in owned:
            try:
                self.store.fs.rm(path, recursive=True)
            except FileNotFoundError:
                pass


@dataclass
class Artifact:
    """A committed artifact: every read is verified against the manifest's sha256."""

    store: ArtifactStore
    prefix: str
    manifest: dict[str, Any]

    @property
    def sha256(self) -> str:
        return self.manifest["sha256"]

    @property
    def meta(self) -> dict[str, Any]:
        return self.manifest.get("meta", {})

    @property
    def uri(self) -> str:
        return self.store.uri(self.prefix)

    def _verified(self, rel: str) -> bytes:
        expected = self.manifest["files"].get(rel)
        if expected is None:
            raise StoreError(f"artifact {self.uri} has no file {rel!r}")
        try:
            data = self.store._cat(self.store.path(f"{self.prefix}/{rel}"))
        except FileNotFoundError as exc:
            raise IntegrityError(
                f"artifact {self.uri}: {rel} is listed in its manifest but missing "
                "(deleted after it was written)"
            ) from exc
        if sha256_bytes(data) != expected:
            raise IntegrityError(
                f"artifact {self.uri}: {rel} does not match its recorded sha256 "
                "(corrupted or changed after it was written)"
            )
        return data

    def read_bytes(self, name: str) -> bytes:
        return self._verified(name)

    def read_json(self, name: str) -> Any:
        return json.loads(self._verified(name))

    def verify(self, name: str | None = None) -> None:
        for rel in self.manifest["files"]:
            if name is None or rel == name or rel.startswith(name + "/"):
                self._verified(rel)

    def open_zarr(self, name: str, verify: bool = True):
        """The Zarr group ``name`` as an xarray Dataset (loaded into memory once verified)."""
        import xarray as xr

        if verify:
            self.verify(name)
        path = self.store.path(f"{self.prefix}/{name}")
        return xr.open_zarr(
            self.store.zarr_store(path, read_only=True), zarr_format=3, consolidated=False
        )

    def torch_state(self, name: str):
        """A torch ``state_dict``, loaded with ``weights_only=True`` (never unpickles code)."""
        import torch

        return torch.load(io.BytesIO(self._verified(name)), weights_only=True, map_location="cpu")
