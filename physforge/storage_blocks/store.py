"""The artifact store: one URL (``file://``, ``s3://``, ``memory://``), Zarr v3 and JSON inside.

Every artifact is a key prefix (``datasets/<sha>``, ``discoveries/<key>`` …). A writer puts its
files in a folder of its own, ``<prefix>/tx-<id>/``, and commits by creating the marker
``<prefix>/_COMMIT.json`` atomically and only if it is absent (exclusive create on ``file://``,
a conditional ``If-None-Match: *`` put on S3). The marker's manifest names that folder and
lists each file in it with its sha256. A prefix without its marker is treated as absent, so a
crashed or interrupted write is never read as finished; every read is checked against the
recorded hashes, and a Zarr group is decoded only from its listed files' verified bytes."""

from __future__ import annotations

import asyncio
import builtins
import errno
import hashlib
import io
import json
import logging
import os
import posixpath
import re
import threading
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
    "CONTENT_SHA256",
    "resolve_store_url",
    "open_ref",
    "sha256_bytes",
]

COMMIT_MARKER = "_COMMIT.json"
CONTENT_SHA256 = "content_sha256"  # manifest meta of a dataset: the ref's content hash
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
    url = (
        url or (block.url if block else None) or os.environ.get("PHYSFORGE_STORE") or DEFAULT_STORE
    )
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
_RETRYABLE_S3_CODES = (
    "SlowDown",
    "Throttl",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeTooSkewed",
)


def _transient(exc: BaseException) -> bool:
    """Errors worth retrying: the network and the server, not missing keys, bad input or a
    full disk. s3fs turns a 5xx or SlowDown that outlasted botocore's retries into an OSError
    (EIO, EREMOTEIO, EBUSY), and leaves botocore's connection errors (dropped connection,
    timeouts) and unparsable error bodies as they are."""
    if isinstance(
        exc,
        (
            FileNotFoundError,
            FileExistsError,
            IsADirectoryError,
            NotADirectoryError,
            PermissionError,
        ),
    ):
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
        return int(status) >= 500 or any(c in str(err.get("Code", "")) for c in _RETRYABLE_S3_CODES)
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
        if (
            part in ("", ".", "..") or len(part) > _MAX_PART or not _SAFE_PART.fullmatch(part)
        ):  # fullmatch: no trailing newline either
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
            f"{exc}){fix}"
        ) from exc
    if not (
        isinstance(files, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
    ):
        raise IntegrityError(
            f"artifact {uri}: its manifest {COMMIT_MARKER} is damaged (the "
            f"file list is not names and sha256s){fix}"
        )
    folder = manifest.get("dir")
    if folder is not None and not (isinstance(folder, str) and _TX_DIR.fullmatch(folder)):
        raise IntegrityError(
            f"artifact {uri}: its manifest {COMMIT_MARKER} is damaged (it names "
            f"{folder!r}, not a transaction folder tx-<id>){fix}"
        )
    if _files_sha256(files) != recorded:
        raise IntegrityError(
            f"artifact {uri}: its manifest's file list does not match the sha256 recorded in "
            f"{COMMIT_MARKER} (corrupted or edited after the commit){fix}"
        )
    return manifest


_TX_DIR = re.compile(r"^tx-[0-9a-f]{24}$")
_MEMORY_CLAIMS = threading.Lock()  # memory:// has no atomic create; one process holds it all
# storage option names whose values are credentials: masked wherever a store is printed
_SECRET_OPTIONS = {
    "key",
    "secret",
    "token",
    "password",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "session_token",
}
_log = logging.getLogger("physforge.store")


def _masked(value: Any) -> Any:
    """``value`` with every credential in it (by option name, at any depth) replaced by ***."""
    if isinstance(value, Mapping):
        return {
            k: "***" if str(k).lower() in _SECRET_OPTIONS and v else _masked(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_masked(v) for v in value)
    return value


@dataclass(init=False, repr=False)
class ArtifactStore:
    """Content-addressed artifacts under one URL (None: :func:`resolve_store_url`'s default)."""

    url: str
    storage_options: dict[str, Any]
    block: str | None  # the store block whose credentials these are

    def __init__(
        self, url: str | None = None, storage_options: dict[str, Any] | None = None
    ) -> None:
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

    def __repr__(self) -> str:  # credentials masked: stores get printed and logged
        return f"ArtifactStore(url={self.url!r}, storage_options={_masked(self.storage_options)!r})"

    __str__ = __repr__

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
        return (
            f"{self.protocol}://{self.path(key)}"
            if self.protocol != "file"
            else ("file://" + self.path(key))
        )

    # artifacts -----------------------------------------------------------------------------
    @_io_retry
    def is_committed(self, prefix: str) -> bool:
        return self.fs.exists(self.path(f"{prefix}/{COMMIT_MARKER}"))

    def artifact(self, prefix: str, sha256: str | None = None) -> Artifact:
        """The committed artifact at ``prefix``; a StoreError when absent or unfinished, an
        IntegrityError naming it when its manifest is damaged or, given ``sha256`` (a ref's),
        when the manifest records another sha256."""
        uri = self.uri(prefix)
        try:
            raw = self._cat(self.path(f"{prefix}/{COMMIT_MARKER}"))
        except FileNotFoundError as exc:
            raise StoreError(
                f"artifact {uri} does not exist (or its write never finished)"
            ) from exc
        art = Artifact(self, _check_key(prefix), _manifest(uri, raw))
        if sha256 is not None and sha256 not in art.sha256s:
            raise IntegrityError(
                f"artifact {uri}: its manifest records sha256 {art.sha256[:16]}…, not the "
                f"{sha256[:16]}… of the ref that names it (the artifact was rewritten after the "
                "ref was made); run again to recompute from the artifact as it is now"
            )
        return art

    @contextmanager
    def transaction(
        self, prefix: str, meta: Mapping[str, Any] | None = None
    ) -> Iterator[Transaction]:
        """Write an artifact; it becomes visible only when the block exits without error.

        The commit is inside the ``try``: a commit that fails (its marker write included) is
        aborted like a failing block, so it leaves nothing behind."""
        tx = Transaction(self, _check_key(prefix), dict(meta or {}))
        try:
            yield tx
            tx.commit()
        except BaseException:
            tx.abort()
            raise

    def computed(
        self,
        kind: str,
        key_parts: Sequence[Any] | str,
        write: Callable[[Transaction], object],
        meta: Mapping[str, Any] | None = None,
        *,
        force: bool = False,
    ) -> Artifact:
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
    def _cat_many(self, paths: builtins.list[str]) -> dict[str, bytes | FileNotFoundError]:
        """Each path's bytes, or the FileNotFoundError that reading it raised; read
        concurrently on object stores. Any other error is raised (and the batch retried)."""
        results: builtins.list[Any] = []
        if getattr(self.fs, "async_impl", False):
            from fsspec.asyn import sync

            async def batch(ps):
                return await asyncio.gather(
                    *[self.fs._cat_file(p) for p in ps], return_exceptions=True
                )

            for i in range(0, len(paths), 64):
                results += sync(self.fs.loop, batch, paths[i : i + 64])
        else:
            for p in paths:
                try:
                    results.append(self.fs.cat_file(p))
                except FileNotFoundError as exc:
                    results.append(exc)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, FileNotFoundError):
                raise r
        return dict(zip(paths, results, strict=True))

    @_io_retry
    def _pipe(self, path: str, data: bytes) -> None:
        if self.protocol == "file":
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        self.fs.pipe_file(path, data)

    def _claim(self, path: str, data: bytes) -> bool:
        """Create ``path`` holding ``data`` only if nothing is there, atomically: True if this
        call created it, False if it existed. ``file://``: the bytes go to a file of their own,
        hard-linked into place (link(2) fails if the name exists; a reader sees the whole file
        or none). S3: PutObject with ``If-None-Match: *`` (refused with 412 if the key exists).
        A retried create whose first answer was lost reads as False; the caller tells its own
        marker from another writer's by the transaction folder the marker names."""
        try:
            self._create(path, data)
        except FileExistsError:
            return False
        return True

    @_io_retry
    def _create(self, path: str, data: bytes) -> None:
        if self.protocol == "file":
            os.makedirs(posixpath.dirname(path), exist_ok=True)
            tmp = f"{path}.{uuid.uuid4().hex}.tmp"
            with open(tmp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            finally:
                os.unlink(tmp)
        elif self.protocol == "memory":
            with _MEMORY_CLAIMS:
                if self.fs.exists(path):
                    raise FileExistsError(path)
                self.fs.pipe_file(path, data)
        else:
            self.fs.pipe_file(path, data, mode="create")

    @_io_retry
    def _find(self, path: str) -> builtins.list[str]:
        try:
            self.fs.invalidate_cache(path)
            return sorted(self.fs.find(path))
        except FileNotFoundError:
            return []

    @_io_retry
    def _exists(self, path: str) -> bool:
        return self.fs.exists(path)

    @_io_retry
    def _rm_file(self, path: str) -> None:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:  # a retried delete whose first answer was lost
            pass

    @_io_retry
    def _rm_tree(self, path: str) -> None:
        try:
            self.fs.rm(path, recursive=True)
        except FileNotFoundError:  # never written, or a retried delete whose answer was lost
            pass

    @_io_retry
    def _write_zarr(self, path: str, ds) -> None:
        if self._exists(path):  # a failed attempt of this same write (this transaction's own)
            self.fs.rm(path, recursive=True)
        ds.to_zarr(self.zarr_store(path), mode="w", zarr_format=3, consolidated=False, compute=True)

    def zarr_store(self, path: str, read_only: bool = False):
        """A zarr v3 store object for an absolute store path."""
        import zarr.storage

        if self.protocol == "file":
            return zarr.storage.LocalStore(path, read_only=read_only)
        return zarr.storage.FsspecStore.from_url(
            f"{self.protocol}://{path}", storage_options=self.storage_options, read_only=read_only
        )


def open_ref(ref: Any) -> Artifact:
    """The artifact a ref names (``store``, ``key``, ``sha256``), checked against the ref:
    an IntegrityError if its manifest records another sha256."""
    return ArtifactStore(ref.store).artifact(ref.key, sha256=ref.sha256)


@dataclass(repr=False)
class Transaction:
    """Files written under one prefix, committed together by a marker written last.

    Every transaction writes into a folder of its own, ``<prefix>/tx-<random id>/``, and
    deletes nothing outside it. The commit creates the marker ``<prefix>/_COMMIT.json``
    atomically and only if it does not exist yet (see :meth:`ArtifactStore._claim`); the
    manifest in it names this transaction's folder and lists exactly the files there with
    their sha256. Several writers of one content-addressed prefix (two flows ingesting the
    same dataset) may run at once: the first commit wins, a later writer finds the marker
    taken, removes its own folder and uses the committed artifact; a writer that fails
    removes its own folder. No writer can delete, or change, another's files. A write that
    fails for lack of space raises a StoreError saying so.
    """

    store: ArtifactStore
    prefix: str
    meta: dict[str, Any]
    _files: list[str] = field(default_factory=list)  # relative to this transaction's folder
    _id: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    _sha256: str | None = None
    _committed_here: bool = False

    def __repr__(self) -> str:
        return f"Transaction({self.store!r}, prefix={self.prefix!r}, folder={self.folder!r})"

    @property
    def folder(self) -> str:
        """This transaction's own folder under the prefix (``tx-<id>``)."""
        return f"tx-{self._id}"

    def _path(self, name: str) -> str:
        return self.store.path(f"{self.prefix}/{self.folder}/{_check_key(name)}")

    def _add(self, rel: str) -> None:
        if rel not in self._files:
            self._files.append(rel)

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
            self.store._pipe(path, data)
        self._add(name)
        return sha256_bytes(data)

    def put_json(self, name: str, doc: Any) -> str:
        data = json.dumps(doc, indent=2, sort_keys=True, allow_nan=False).encode()
        return self.put_bytes(name, data)

    def put_zarr(self, name: str, ds) -> None:
        """An xarray Dataset as a Zarr v3 group (chunked as the Dataset is)."""
        target = self._path(name)
        with self._writing(name):
            self.store._write_zarr(target, ds)
            written = self.store._find(target)
        for f in written:
            self._add(f"{name}/{posixpath.relpath(f, target)}")

    def commit(self) -> str:
        """Hash what this transaction wrote and claim the marker; the committed artifact's
        sha256 (another writer's, when that writer committed the prefix first)."""
        if self._sha256 is not None:
            return self._sha256
        uri = self.store.uri(self.prefix)
        paths = {self._path(rel): rel for rel in self._files}
        blobs = self.store._cat_many(list(paths))
        files: dict[str, str] = {}
        for path, rel in paths.items():
            data = blobs[path]
            if isinstance(data, FileNotFoundError):
                raise StoreError(
                    f"artifact {uri}: {rel} vanished from this transaction's "
                    f"folder {self.folder} before the commit; nothing was "
                    "committed"
                ) from data
            files[rel] = sha256_bytes(data)
        sha256 = _files_sha256(files)
        manifest = {
            "files": files,
            "meta": self.meta,
            "created": time.time(),
            "dir": self.folder,
            "sha256": sha256,
        }
        data = json.dumps(manifest, indent=2, sort_keys=True).encode()
        with self._writing(COMMIT_MARKER):
            created = self.store._claim(self.store.path(f"{self.prefix}/{COMMIT_MARKER}"), data)
        if created:
            self._committed_here = True
            self._sha256 = sha256
            return sha256
        committed = self.store.artifact(self.prefix)
        if committed.manifest.get("dir") == self.folder:  # ours: a retry after a lost answer
            self._committed_here = True
        else:  # another writer committed first: its artifact stands, this one's files go
            _log.info(
                "artifact %s was committed by another writer first; dropping %s", uri, self.folder
            )
            self._discard()
        self._sha256 = committed.sha256
        return self._sha256

    def _discard(self) -> None:
        self.store._rm_tree(self.store.path(f"{self.prefix}/{self.folder}"))

    def abort(self) -> None:
        """Remove this transaction's folder, and nothing else; left in place when the marker
        names it (the commit went through although its answer was lost) or when the marker
        cannot be read to tell (files that are never read; safer than deleting committed
        data)."""
        if self._committed_here:
            return
        try:
            raw = self.store._cat(self.store.path(f"{self.prefix}/{COMMIT_MARKER}"))
            ours = json.loads(raw).get("dir") == self.folder
        except FileNotFoundError:
            ours = False
        except (ValueError, AttributeError):  # a damaged marker names no folder of ours
            ours = False
        except Exception as exc:  # noqa: BLE001 - cannot tell: keep the files
            _log.warning(
                "artifact %s: could not read its marker while aborting (%s); left %s in place",
                self.store.uri(self.prefix),
                exc,
                self.folder,
            )
            return
        if not ours:
            self._discard()


@dataclass(repr=False)
class Artifact:
    """A committed artifact: every read is verified against the manifest's sha256, and a
    Zarr group is read only from the files its manifest lists."""

    store: ArtifactStore
    prefix: str
    manifest: dict[str, Any]

    def __repr__(self) -> str:
        return f"Artifact({self.uri!r}, sha256={self.sha256[:16]!r}…)"

    @property
    def sha256(self) -> str:
        return self.manifest["sha256"]

    @property
    def meta(self) -> dict[str, Any]:
        return self.manifest.get("meta", {})

    @property
    def sha256s(self) -> set[str]:
        """The hashes a ref may name this artifact by: the manifest's, and for a dataset the
        sha256 of its canonical content (independent of storage chunks) recorded with it."""
        out = {self.sha256}
        content = self.meta.get(CONTENT_SHA256)
        if isinstance(content, str):
            out.add(content)
        elif self.prefix.startswith("datasets/"):  # written before it was recorded: the key
            out.add(self.prefix.rsplit("/", 1)[-1])
        return out

    @property
    def uri(self) -> str:
        return self.store.uri(self.prefix)

    @property
    def base(self) -> str:
        """The folder holding the artifact's files: the committing transaction's folder
        (artifacts written before transaction folders existed keep theirs in the prefix)."""
        folder = self.manifest.get("dir")
        return self.store.path(f"{self.prefix}/{folder}" if folder else self.prefix)

    def path(self, rel: str) -> str:
        """The store path of the artifact's file ``rel``."""
        return posixpath.join(self.base, _check_key(rel))

    def file_uri(self, rel: str) -> str:
        path = self.path(rel)
        return (
            f"{self.store.protocol}://{path}"
            if self.store.protocol != "file"
            else ("file://" + path)
        )

    def _refuse(self, problems: list[str]) -> IntegrityError:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        return IntegrityError(f"artifact {self.uri}: " + "; ".join(problems[:5]) + more)

    def _unlisted(self, name: str | None) -> list[str]:
        """Files in the artifact's folder (or in its group ``name``) that its manifest does
        not list: written there after the commit."""
        files = self.manifest["files"]
        if name is None and not self.manifest.get("dir"):  # shared prefix: its groups only
            groups = sorted({rel.split("/", 1)[0] for rel in files if "/" in rel})
            return [x for g in groups for x in self._unlisted(g)]
        scope = self.path(name) if name else self.base
        found = (posixpath.relpath(f, self.base) for f in self.store._find(scope))
        return [rel for rel in found if rel not in files]

    def _read(self, rels: list[str], unlisted: list[str]) -> dict[str, bytes]:
        """The listed files ``rels``, each checked against its recorded sha256; an
        IntegrityError naming every file that fails, and each of ``unlisted``."""
        problems = []
        if unlisted:
            names = ", ".join(unlisted[:8]) + (
                f" … ({len(unlisted)} files)" if len(unlisted) > 8 else ""
            )
            problems.append(
                f"{names} {'is' if len(unlisted) == 1 else 'are'} not listed in "
                "its manifest (added after the commit)"
            )
        paths = {self.path(rel): rel for rel in rels}
        blobs = self.store._cat_many(list(paths))
        out: dict[str, bytes] = {}
        for path, rel in paths.items():
            data = blobs[path]
            if isinstance(data, FileNotFoundError):
                problems.append(
                    f"{rel} is listed in its manifest but missing (deleted after it was written)"
                )
            elif sha256_bytes(data) != self.manifest["files"][rel]:
                problems.append(
                    f"{rel} does not match its recorded sha256 (corrupted or "
                    "changed after it was written)"
                )
            else:
                out[rel] = data
        if problems:
            raise self._refuse(problems)
        return out

    def _verified(self, rel: str) -> bytes:
        if rel not in self.manifest["files"]:
            raise StoreError(f"artifact {self.uri} has no file {rel!r}")
        return self._read([rel], [])[rel]

    def read_bytes(self, name: str) -> bytes:
        return self._verified(name)

    def read_json(self, name: str) -> Any:
        return json.loads(self._verified(name))

    def _group(self, name: str) -> list[str]:
        rels = [rel for rel in self.manifest["files"] if rel.startswith(name + "/")]
        if not rels:
            raise StoreError(f"artifact {self.uri} has no Zarr group {name!r}")
        return rels

    def verify(self, name: str | None = None) -> None:
        """Check the artifact (or its file or group ``name``): no file the manifest does not
        list, every listed file present with its recorded sha256."""
        if name is None:
            self._read(list(self.manifest["files"]), self._unlisted(None))
        elif name in self.manifest["files"]:
            self._verified(name)
        else:
            self._read(self._group(name), self._unlisted(name))

    def open_zarr(self, name: str):
        """The Zarr group ``name`` as an xarray Dataset, decoded from bytes held in memory
        that were checked against the manifest: the listed files only (a folder holding
        anything else is refused), never re-read from storage."""
        import xarray as xr
        import zarr.storage
        from zarr.core.buffer import default_buffer_prototype

        blobs = self._read(self._group(name), self._unlisted(name))
        buffer = default_buffer_prototype().buffer
        start = len(name) + 1
        mem = zarr.storage.MemoryStore(
            {rel[start:]: buffer.from_bytes(data) for rel, data in blobs.items()}, read_only=True
        )
        return xr.open_zarr(mem, zarr_format=3, consolidated=False)

    def torch_state(self, name: str):
        """A torch ``state_dict``, loaded with ``weights_only=True`` (never unpickles code)."""
        import torch

        return torch.load(io.BytesIO(self._verified(name)), weights_only=True, map_location="cpu")
