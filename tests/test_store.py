"""The artifact store: atomic visibility, integrity, and keys that stay inside the root."""

from __future__ import annotations

import errno
import json
import multiprocessing as mp
import os
import posixpath
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from physforge.errors import IntegrityError, StoreError
from physforge.storage_blocks.store import COMMIT_MARKER, ArtifactStore, open_ref


def _dataset(n=64):
    return xr.Dataset(
        {"u": (("t", "x"), np.arange(n * 8.0).reshape(n, 8))},
        coords={"t": np.arange(n, dtype=float), "x": np.arange(8.0)},
    )


def test_json_and_zarr_round_trip(store_url):
    store = ArtifactStore(store_url)
    with store.transaction("things/abc") as tx:
        tx.put_json("doc.json", {"a": 1, "b": [1.5, 2.5]})
        tx.put_zarr("data.zarr", _dataset())
    art = store.artifact("things/abc")
    assert art.read_json("doc.json") == {"a": 1, "b": [1.5, 2.5]}
    np.testing.assert_array_equal(art.open_zarr("data.zarr")["u"].values, _dataset()["u"].values)
    assert len(art.sha256) == 64
    assert store.list("things") == ["things/abc"]


def test_failed_write_leaves_nothing_visible(store_url):
    store = ArtifactStore(store_url)
    with pytest.raises(RuntimeError, match="boom"):
        with store.transaction("things/broken") as tx:
            tx.put_zarr("data.zarr", _dataset())
            raise RuntimeError("boom")
    assert not store.is_committed("things/broken")
    with pytest.raises(StoreError, match="does not exist"):
        store.artifact("things/broken")
    assert store.fs.find(store.path("things/broken")) == []  # the writer's folder went too


def _slow_writer(url: str) -> None:
    store = ArtifactStore(url)
    with store.transaction("things/killed") as tx:
        tx.put_zarr("data.zarr", _dataset(4096))
        tx.put_bytes("marker-before-kill", b"x")
        time.sleep(60)  # killed here, before the commit marker is written


def test_write_killed_half_way_is_never_read(store_url):
    """A writer process killed mid-write (SIGKILL, no cleanup) leaves no finished artifact."""
    proc = mp.get_context("spawn").Process(target=_slow_writer, args=(store_url,))
    proc.start()
    store = ArtifactStore(store_url)
    deadline = time.time() + 60
    while not store.fs.glob(store.path("things/killed") + "/tx-*/marker-before-kill"):
        assert time.time() < deadline, "writer never got going"
        time.sleep(0.1)
    proc.kill()
    proc.join()
    assert store.fs.glob(store.path("things/killed") + "/tx-*/data.zarr")  # data is there …
    assert not store.is_committed("things/killed")  # … but not visible as an artifact
    with pytest.raises(StoreError, match="never finished"):
        store.artifact("things/killed")
    assert store.list("things") == []


def test_corrupted_file_is_refused_by_name(store_url):
    store = ArtifactStore(store_url)
    with store.transaction("things/c") as tx:
        tx.put_zarr("data.zarr", _dataset())
    art = store.artifact("things/c")
    chunk = next(p for p in store.fs.find(art.path("data.zarr/u")) if "/c/" in p)
    with open(chunk, "r+b") as f:
        f.seek(0)
        f.write(b"\x00\x01garbage")
    with pytest.raises(IntegrityError, match=r"things/c.*data.zarr/u/c"):
        art.open_zarr("data.zarr")


@pytest.mark.parametrize(
    "key", ["../escape", "/etc/passwd", "a/../../b", "s3://other/x", "a//b", "a/./b", "~root/x"]
)
def test_keys_cannot_escape_the_store(store_url, key):
    with pytest.raises(StoreError, match="refused"):
        ArtifactStore(store_url).path(key)


def test_store_url_defaults_and_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PHYSFORGE_STORE", raising=False)
    assert ArtifactStore().url == f"file://{tmp_path}/physforge-store"
    monkeypatch.setenv("PHYSFORGE_STORE", str(tmp_path / "elsewhere"))
    assert ArtifactStore().url == f"file://{tmp_path}/elsewhere"


def test_manifest_lists_every_file_with_sha(store_url):
    store = ArtifactStore(store_url)
    with store.transaction("things/m", meta={"kind": "test"}) as tx:
        tx.put_json("a.json", [1])
        tx.put_zarr("z.zarr", _dataset())
    manifest = json.loads(open(store.path(f"things/m/{COMMIT_MARKER}")).read())
    assert manifest["meta"] == {"kind": "test"}
    assert "a.json" in manifest["files"] and any(f.startswith("z.zarr/") for f in manifest["files"])
    base = store.path("things/m")
    on_disk = {os.path.relpath(p, base) for p in store.fs.find(base)}
    assert on_disk == {COMMIT_MARKER} | {f"{manifest['dir']}/{f}" for f in manifest["files"]}


# --- the same on file:// and on S3 (moto's server) ----------------------------------------


@pytest.fixture(params=["file", "s3"])
def any_store(request, tmp_path):
    if request.param == "file":
        return ArtifactStore(f"file://{tmp_path}/store")
    request.getfixturevalue("s3_server")
    # moto keeps one in-memory S3 per process, whatever server serves it: a root per test
    return ArtifactStore(f"s3://physforge/{uuid.uuid4().hex}")


def _files(store: ArtifactStore, prefix: str) -> set[str]:
    """Every file under ``prefix``, relative to it, as the storage lists it now."""
    base = store.path(prefix)
    return {posixpath.relpath(p, base) for p in store._find(base)}


def _committed_files(art) -> set[str]:
    return {COMMIT_MARKER} | {f"{art.manifest['dir']}/{f}" for f in art.manifest["files"]}


def _plant(store: ArtifactStore, path: str, data: bytes) -> None:
    """What anyone with write access to the storage can do, bypassing PhysForge."""
    if store.protocol == "file":
        os.makedirs(posixpath.dirname(path), exist_ok=True)
    store.fs.pipe_file(path, data)


def test_planted_array_and_changed_chunk_are_refused_by_name(any_store):
    """After the commit, an extra array folder is planted in the Zarr group (a copy of ``u``
    named ``evil``: Zarr itself would return it), then a chunk is swapped for another valid
    chunk (Zarr would decode wrong values without a word). Each is refused by name; a
    dataset already opened keeps the verified values (nothing is re-read from storage)."""
    store = any_store
    ds = _dataset().chunk({"t": 16})
    with store.transaction("things/z") as tx:
        tx.put_zarr("data.zarr", ds)
    art = store.artifact("things/z")
    group = art.path("data.zarr")
    for f in sorted(store.fs.find(f"{group}/u")):
        _plant(store, f.replace(f"{group}/u", f"{group}/evil"), store.fs.cat_file(f))
    raw = xr.open_zarr(store.zarr_store(group, read_only=True), zarr_format=3, consolidated=False)
    assert "evil" in raw  # the plant is live: an unchecked reader returns it
    with pytest.raises(
        IntegrityError,
        match=r"things/z: data.zarr/evil/c/0/0, (data.zarr/evil/"
        r"\S+, )*data.zarr/evil/zarr.json are not listed "
        r"in its manifest",
    ):
        store.artifact("things/z").open_zarr("data.zarr")
    with pytest.raises(IntegrityError, match=r"things/z: data.zarr/evil/c/0/0, .* are not listed"):
        store.artifact("things/z").verify()

    store.fs.rm(f"{group}/evil", recursive=True)
    opened = store.artifact("things/z").open_zarr("data.zarr")
    first, second = f"{group}/u/c/0/0", f"{group}/u/c/1/0"
    _plant(store, first, store.fs.cat_file(second))  # a valid chunk, the wrong one
    changed = xr.open_zarr(
        store.zarr_store(group, read_only=True), zarr_format=3, consolidated=False
    )["u"].values
    assert not np.array_equal(changed, ds["u"].values)  # an unchecked reader gets wrong data
    with pytest.raises(
        IntegrityError,
        match=r"things/z: data.zarr/u/c/0/0 does not match "
        r"its recorded sha256",
    ):
        store.artifact("things/z").open_zarr("data.zarr")
    np.testing.assert_array_equal(opened["u"].values, ds["u"].values)


def test_a_reader_checks_the_refs_sha256(store_url):
    """A ref records the sha256 of the artifact it names; an artifact rewritten since (other
    content under the same key) is refused when read through the old ref, and the pipeline's
    dataset reader does the same."""
    from physforge.datasets.examples import burgers
    from physforge.datasets.ingest import ingest_dataset, open_dataset
    from physforge.refs import Ref

    store = ArtifactStore(store_url)
    with store.transaction("things/r") as tx:
        tx.put_json("a.json", {"v": 1})
    ref = Ref(store=store.url, key="things/r", sha256=store.artifact("things/r").sha256)
    assert open_ref(ref).read_json("a.json") == {"v": 1}
    store.fs.rm(store.path(f"things/r/{COMMIT_MARKER}"))  # uncommitted, then written again
    with store.transaction("things/r") as tx:
        tx.put_json("a.json", {"v": 2})
    with pytest.raises(
        IntegrityError,
        match=r"things/r: its manifest records sha256 \w+…, "
        r"not the \w+… of the ref",
    ):
        open_ref(ref)

    source = Path(store.root).parent / "burgers.nc"
    burgers(nx=32, nt=11).to_netcdf(source)
    dref, _ = ingest_dataset(str(source), store)
    assert dref.sha256 == store.artifact(dref.key).meta["content_sha256"]
    assert open_dataset(dref)["u"].shape == (11, 32)
    with pytest.raises(IntegrityError, match=rf"{dref.key}: its manifest records sha256"):
        open_dataset(dref.model_copy(update={"sha256": "0" * 64}))


def _broken_create(path, data):
    raise OSError(errno.EIO, "injected: the marker write failed")


def test_a_failed_marker_write_leaves_nothing(any_store):
    """The commit's marker write fails: the error reaches the caller and the transaction's
    files are gone (the commit runs inside the transaction's try)."""
    any_store._create = _broken_create
    with pytest.raises(OSError, match="injected: the marker write failed"):
        with any_store.transaction("things/nomarker") as tx:
            tx.put_zarr("data.zarr", _dataset())
            tx.put_json("doc.json", {"a": 1})
    assert not any_store.is_committed("things/nomarker")
    assert _files(any_store, "things/nomarker") == set()


ORDERS = ["AABB", "ABAB", "ABBA", "BAAB", "BABA", "BBAA"]  # every interleaving of 2 + 2 steps


@pytest.mark.parametrize("failure", ["in-block", "marker", "none"])
@pytest.mark.parametrize("order", ORDERS)
def test_two_writers_of_one_key_in_every_order(any_store, order, failure):
    """Writers A and B of one key, each with its own store object (as two processes), stepped
    through every interleaving of their two steps: (1) open the transaction and write a Zarr
    group and a JSON file, (2) end it. A ends with a commit; B ends with an exception in the
    block ("in-block"), a failed marker write ("marker") or a commit ("none"). Their data
    differ, so a mixed artifact would show. Afterwards the first writer to commit owns the
    artifact whole: it verifies, reads back that writer's data, and the prefix holds the
    marker and that writer's files only (the other's files removed, no staging left)."""
    stores = {"A": any_store, "B": ArtifactStore(any_store.url)}
    if failure == "marker":
        stores["B"]._create = _broken_create
    data = {"A": _dataset().chunk({"t": 16}), "B": (_dataset() + 1000.0).chunk({"t": 16})}
    open_cms, committed = {}, []
    for who in order:
        if who not in open_cms:
            cm = open_cms[who] = stores[who].transaction("things/shared", meta={"writer": who})
            tx = cm.__enter__()
            tx.put_zarr("data.zarr", data[who])
            tx.put_json("doc.json", {"writer": who})
        elif who == "B" and failure == "in-block":
            err = RuntimeError("writer B dies")
            assert open_cms[who].__exit__(RuntimeError, err, None) is False
        elif who == "B" and failure == "marker":
            with pytest.raises(OSError, match="injected"):
                open_cms[who].__exit__(None, None, None)
        else:
            open_cms[who].__exit__(None, None, None)
            committed.append(who)
    winner = committed[0]
    art = ArtifactStore(any_store.url).artifact("things/shared")
    assert art.meta == {"writer": winner}
    art.verify()
    np.testing.assert_array_equal(art.open_zarr("data.zarr")["u"].values, data[winner]["u"].values)
    assert art.read_json("doc.json") == {"writer": winner}
    assert _files(any_store, "things/shared") == _committed_files(art)
