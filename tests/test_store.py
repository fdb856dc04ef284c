"""The artifact store: atomic visibility, integrity, and keys that stay inside the root."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time

import numpy as np
import pytest
import xarray as xr

from physforge.errors import IntegrityError, StoreError
from physforge.storage_blocks.store import COMMIT_MARKER, ArtifactStore


def _dataset(n=64):
    return xr.Dataset({"u": (("t", "x"), np.arange(n * 8.0).reshape(n, 8))},
                      coords={"t": np.arange(n, dtype=float), "x": np.arange(8.0)})


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
    assert not store.fs.exists(store.path("things/broken/data.zarr"))


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
    while not store.fs.exists(store.path("things/killed/marker-before-kill")):
        assert time.time() < deadline, "writer never got going"
        time.sleep(0.1)
    proc.kill()
    proc.join()
    assert store.fs.exists(store.path("things/killed/data.zarr"))  # data is there …
    assert not store.is_committed("things/killed")  # … but not visible as an artifact
    with pytest.raises(StoreError, match="never finished"):
        store.artifact("things/killed")
    assert store.list("things") == []


def test_corrupted_file_is_refused_by_name(store_url):
    store = ArtifactStore(store_url)
    with store.transaction("things/c") as tx:
        tx.put_zarr("data.zarr", _dataset())
    chunk = next(p for p in store.fs.find(store.path("things/c/data.zarr/u")) if "/c/" in p)
    with open(chunk, "r+b") as f:
        f.seek(0)
        f.write(b"\x00\x01garbage")
    with pytest.raises(IntegrityError, match=r"things/c.*data.zarr/u/c"):
        store.artifact("things/c").open_zarr("data.zarr")


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "s3://other/x", "a//b",
                                 "a/./b", "~root/x"])
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
    assert set(manifest["files"]) == on_disk - {COMMIT_MARKER}
