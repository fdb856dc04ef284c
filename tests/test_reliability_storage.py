"""Storage faults survived and nothing lost: a fault-injecting proxy in front of moto's S3, a
full disk under a local store, two writers of one content-addressed artifact, corrupted and
missing chunks. See docs/reliability.md for the fault matrix."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
import xarray as xr

from physforge.errors import IntegrityError, StoreError
from physforge.storage_blocks.store import COMMIT_MARKER, ArtifactStore, _transient
from physforge.testing import FAULTS, FaultyProxy

BUCKET = "physforge"
KINDS = ("datasets", "features", "discoveries", "reports")


def _dataset(nt=40, nx=16, seed=0):
    rng = np.random.default_rng(seed)
    return xr.Dataset(
        {"u": (("t", "x"), rng.standard_normal((nt, nx)))},
        coords={"t": np.arange(nt, dtype=float), "x": np.arange(nx, dtype=float)},
    )


@pytest.fixture
def faulty_s3(monkeypatch):
    """moto's S3 behind a FaultyProxy (faults off until a test sets ``rate``); the environment
    points the store at the proxy; ``upstream`` is moto itself, for checks that bypass it."""
    import boto3
    from moto.server import ThreadedMotoServer
    from s3fs import S3FileSystem

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    upstream = f"http://{host}:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "physforge-test",
        "AWS_SECRET_ACCESS_KEY": "physforge-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    client = boto3.client("s3", endpoint_url=upstream)
    client.create_bucket(Bucket=BUCKET)
    proxy = FaultyProxy(upstream, rate=0.0, seed=20261122).start()  # tests set .rate
    monkeypatch.setenv("PHYSFORGE_S3_ENDPOINT", proxy.endpoint)
    S3FileSystem.clear_instance_cache()
    try:
        yield proxy, client
    finally:
        S3FileSystem.clear_instance_cache()
        proxy.stop()
        server.stop()


def _upstream_check(client, root: str, prefix: str) -> dict:
    """Read an artifact's manifest and every file straight from moto (no proxy, no PhysForge
    code) and check each file against its recorded sha256; the manifest."""
    bucket, _, base = f"{root}/{prefix}".partition("/")
    get = lambda key: client.get_object(Bucket=bucket, Key=key)["Body"].read()  # noqa: E731
    manifest = json.loads(get(f"{base}/{COMMIT_MARKER}"))
    assert manifest["files"], prefix
    folder = f"{base}/{manifest['dir']}"  # the committing transaction's folder
    for rel, sha in manifest["files"].items():
        assert hashlib.sha256(get(f"{folder}/{rel}")).hexdigest() == sha, f"{prefix}/{rel}"
    return manifest


def test_transient_errors_are_told_from_permanent_ones():
    from botocore.exceptions import ClientError, ConnectionClosedError, NoCredentialsError

    def client_error(code, status):
        return ClientError(
            {
                "Error": {"Code": code, "Message": "x"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            "PutObject",
        )

    assert _transient(client_error("SlowDown", 503))
    assert _transient(client_error("InternalError", 500))
    assert _transient(ConnectionClosedError(endpoint_url="http://x"))
    assert _transient(OSError(errno.EIO, "Service unavailable"))  # s3fs's translation of a 5xx
    assert not _transient(client_error("AccessDenied", 403))
    assert not _transient(NoCredentialsError())
    assert not _transient(FileNotFoundError("gone"))
    assert not _transient(OSError(errno.ENOSPC, "No space left on device"))
    assert not _transient(StoreError("refused"))


def test_store_transactions_survive_every_fault_kind(faulty_s3):
    """A fifth of all S3 requests fail (500, 503, SlowDown, dropped before and after the
    server acted) while three artifacts are written (each a Zarr group in 5 chunks and a
    JSON file) and read back; every one commits (its marker's conditional put included) and
    reads back with its recorded sha256, also straight from moto."""
    proxy, client = faulty_s3
    proxy.rate = 0.2
    store = ArtifactStore(f"s3://{BUCKET}/faults")
    names = ["things/a", "things/b", "things/c"]
    for i, name in enumerate(names):
        with store.transaction(name, meta={"kind": "test"}) as tx:
            tx.put_zarr("data.zarr", _dataset(seed=i).chunk({"t": 8}))
            tx.put_json("doc.json", {"ok": i})
    for i, name in enumerate(names):
        art = store.artifact(name)
        art.verify()
        np.testing.assert_array_equal(
            art.open_zarr("data.zarr")["u"].values, _dataset(seed=i)["u"].values
        )
        assert art.read_json("doc.json") == {"ok": i}
        assert _upstream_check(client, store.root, name)["sha256"] == art.sha256
        prefix = f"faults/{name}"  # the marker and the committed folder, nothing else
        keys = {
            o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/")["Contents"]
        }
        assert keys == {f"{prefix}/{COMMIT_MARKER}"} | {
            f"{prefix}/{art.manifest['dir']}/{f}" for f in art.manifest["files"]
        }
    assert store.list("things") == names
    assert all(proxy.stats[k] > 0 for k in FAULTS), dict(proxy.stats)
    print("proxy:", dict(proxy.stats))  # the figure in docs/reliability.md (pytest -rP)


def _task_runs(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), limit=200
        )


@pytest.mark.slow
def test_discover_flow_completes_through_s3_faults(prefect_api, tmp_path, faulty_s3):
    """The whole discovery flow against S3 with 10 % of requests faulted: it completes with
    Burgers' equation, and every committed artifact (datasets, features, discoveries,
    reports) reads back, straight from the server, with its recorded sha256."""
    from physforge.config import DiscoveryConfig, PipelineConfig
    from physforge.datasets.examples import burgers
    from physforge.flows import discover_flow

    proxy, client = faulty_s3
    data = tmp_path / "burgers.nc"
    burgers(nx=64, nt=26).to_netcdf(data)
    proxy.rate = 0.1
    url = f"s3://{BUCKET}/flaky"
    cfg = PipelineConfig(discovery=DiscoveryConfig(n_bootstrap=0))
    state = discover_flow(str(data), cfg, url, return_state=True)
    assert state.is_completed(), state
    result = state.result()
    assert set(result["equations"][0]["terms"]) == {"u*u_x", "u_xx"}
    assert all(proxy.stats[k] > 0 for k in FAULTS), dict(proxy.stats)
    runs = _task_runs(state.state_details.flow_run_id)
    assert {r.state.name for r in runs} == {"Completed"}

    proxy.rate = 0.0
    store = ArtifactStore(url)
    committed = [p for kind in KINDS for p in store.list(kind)]
    assert {p.split("/")[0] for p in committed} == set(KINDS)
    print("proxy:", dict(proxy.stats), "artifacts verified:", len(committed))
    for prefix in committed:
        store.artifact(prefix).verify()
        assert (
            _upstream_check(client, store.root, prefix)["sha256"] == store.artifact(prefix).sha256
        )
    assert (
        result["discovery"]["sha256"]
        == store.artifact(result["discovery"]["uri"].split(store.root + "/", 1)[1]).sha256
    )


# --- two writers of one content-addressed artifact ---------------------------------------


def _ingest_at_once(url: str, source: str, barrier, out) -> None:
    from physforge.datasets.ingest import ingest_dataset

    barrier.wait(timeout=60)
    try:
        ref, _ = ingest_dataset(source, ArtifactStore(url))
        out.put(("ok", ref.key, ref.sha256))
    except BaseException as exc:  # reported to the test, which fails on it
        out.put(("error", repr(exc), ""))


def test_two_processes_ingesting_one_dataset_end_with_one_valid_artifact(tmp_path):
    """Two processes ingest the same file into the same store at the same moment, three
    times over (a fresh store each round): both succeed and one committed artifact, whose
    every file matches its manifest, holds the data."""
    from physforge.datasets.examples import burgers
    from physforge.datasets.ingest import open_dataset
    from physforge.refs import DatasetRef

    source = tmp_path / "burgers.nc"
    burgers(nx=128, nt=101).to_netcdf(source)
    ctx = mp.get_context("spawn")
    for rnd in range(3):
        url = f"file://{tmp_path}/store{rnd}"
        barrier, out = ctx.Barrier(2), ctx.Queue()
        procs = [
            ctx.Process(target=_ingest_at_once, args=(url, str(source), barrier, out))
            for _ in range(2)
        ]
        for p in procs:
            p.start()
        answers = [out.get(timeout=180) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert [a[0] for a in answers] == ["ok", "ok"], answers
        assert answers[0][1:] == answers[1][1:]
        store = ArtifactStore(url)
        assert store.list("datasets") == [answers[0][1]]
        art = store.artifact(answers[0][1])
        art.verify()
        base = store.path(answers[0][1])
        on_disk = {
            os.path.relpath(os.path.join(d, f), base) for d, _, fs in os.walk(base) for f in fs
        }
        # the marker and the committing writer's files; the other writer's folder is gone
        assert on_disk == {COMMIT_MARKER} | {
            f"{art.manifest['dir']}/{f}" for f in art.manifest["files"]
        }
    ref = DatasetRef(
        store=url,
        key=answers[0][1],
        sha256=answers[0][2],
        source=str(source),
        dims=["t", "x"],
        fields=["u"],
        shape=[101, 128],
        layout="grid",
    )
    np.testing.assert_allclose(
        open_dataset(ref)["u"].values, xr.open_dataset(source)["u"].transpose("t", "x").values
    )


def test_a_failing_second_writer_leaves_the_first_writers_artifact_whole(store_url):
    """Writer A has written its Zarr group; writer B (same key, another thread) writes the
    same group and then fails. B's clean-up removes only B's own folder, so A commits a whole
    artifact. (Every interleaving, on file:// and S3: tests/test_store.py.)"""
    store = ArtifactStore(store_url)
    ds = _dataset(nt=64).chunk({"t": 8})
    a_written, b_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer_a():
        try:
            with store.transaction("things/shared") as tx:
                tx.put_zarr("data.zarr", ds)
                a_written.set()
                assert b_done.wait(60)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def writer_b():
        assert a_written.wait(60)
        try:
            with store.transaction("things/shared") as tx:
                tx.put_zarr("data.zarr", ds)
                raise RuntimeError("writer B dies")
        except RuntimeError:
            pass
        finally:
            b_done.set()

    threads = [threading.Thread(target=writer_a), threading.Thread(target=writer_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    art = store.artifact("things/shared")
    art.verify()
    assert len([f for f in art.manifest["files"] if "/u/c/" in f]) == 8
    np.testing.assert_array_equal(art.open_zarr("data.zarr")["u"].values, ds["u"].values)
    assert sorted(os.listdir(store.path("things/shared"))) == sorted(
        [COMMIT_MARKER, art.manifest["dir"]]
    )


# --- integrity ------------------------------------------------------------------------------


def test_a_deleted_chunk_is_an_integrity_error_naming_the_artifact(store_url):
    store = ArtifactStore(store_url)
    with store.transaction("things/d") as tx:
        tx.put_zarr("data.zarr", _dataset(nt=64).chunk({"t": 16}))
    art = store.artifact("things/d")
    chunk = next(p for p in store.fs.find(art.path("data.zarr/u")) if "/c/" in p)
    os.remove(chunk)  # Zarr alone would read the gap back as its fill value
    with pytest.raises(IntegrityError, match=r"things/d: data.zarr/u/c/.* missing"):
        store.artifact("things/d").open_zarr("data.zarr")


@pytest.mark.parametrize("damage", ["truncated", "not-utf8", "file-list-edited", "not-a-dict"])
def test_a_damaged_manifest_is_an_integrity_error_naming_the_artifact(store_url, damage):
    """The commit marker itself damaged: an IntegrityError naming the artifact and what to
    do, not a JSONDecodeError or KeyError from inside a task."""
    store = ArtifactStore(store_url)
    with store.transaction("things/m") as tx:
        tx.put_json("a.json", {"x": 1})
        tx.put_json("b.json", {"y": 2})
    marker = store.path(f"things/m/{COMMIT_MARKER}")
    with open(marker, "rb") as f:
        raw = f.read()
    doc = json.loads(raw)
    damaged = {
        "truncated": raw[: len(raw) // 2],
        "not-utf8": b"\xff\xfe" + raw,
        # a file dropped from the list, the artifact's recorded sha256 left as it was
        "file-list-edited": json.dumps(
            {**doc, "files": {"a.json": doc["files"]["a.json"]}}
        ).encode(),
        "not-a-dict": json.dumps({**doc, "files": ["a.json"]}).encode(),
    }[damage]
    with open(marker, "wb") as f:
        f.write(damaged)
    why = "does not match the sha256 recorded" if damage == "file-list-edited" else "is damaged"
    with pytest.raises(IntegrityError, match=rf"artifact \S+/things/m: its manifest.* {why}"):
        store.artifact("things/m")


@pytest.mark.slow
def test_corrupted_dataset_chunk_fails_the_flow_with_the_artifact_named(prefect_api, tmp_path):
    """A flipped byte in a stored dataset chunk: the next run that reads it fails at once
    (no retries: IntegrityError is not transient) with the artifact and file named."""
    from physforge.config import DiscoveryConfig, FeatureConfig, PipelineConfig
    from physforge.datasets.examples import burgers
    from physforge.flows import discover_flow

    data = tmp_path / "burgers.nc"
    burgers(nx=64, nt=26).to_netcdf(data)
    url = f"file://{tmp_path}/store"
    cfg = PipelineConfig(discovery=DiscoveryConfig(n_bootstrap=0))
    discover_flow(str(data), cfg, url)
    store = ArtifactStore(url)
    [key] = store.list("datasets")
    chunk = next(p for p in store.fs.find(store.artifact(key).path("data.zarr/u")) if "/c/" in p)
    with open(chunk, "r+b") as f:
        byte = f.read(1)
        f.seek(0)
        f.write(bytes([byte[0] ^ 0xFF]))
    changed = cfg.model_copy(update={"features": FeatureConfig(max_rows=5000)})  # re-reads it
    state = discover_flow(str(data), changed, url, return_state=True)
    assert state.is_failed()
    with pytest.raises(IntegrityError, match=rf"{key}: data.zarr/u/c/\S+ does not match"):
        state.result()
    runs = {r.name.rsplit("-", 1)[0]: r for r in _task_runs(state.state_details.flow_run_id)}
    assert runs["extract_features"].run_count == 1  # refused, not retried


# --- a full disk ----------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MiB tmpfs (needs root or CAP_SYS_ADMIN; skipped with the reason otherwise)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a small filesystem for the full-disk test")
    run = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if run.returncode != 0:
        pytest.skip(f"cannot mount a 2 MiB tmpfs (needs root/CAP_SYS_ADMIN): {run.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_is_a_clear_error_and_leaves_no_partial_artifact(tiny_disk, tmp_path):
    """Ingest ~5 MB of (incompressible) data into a store on a 2 MiB filesystem: a StoreError
    that says there is no space, names the artifact, and nothing committed or left over."""
    from physforge.datasets.ingest import ingest_dataset

    t = np.linspace(0, 1, 600)
    x = np.linspace(0, 2 * np.pi, 1024, endpoint=False)
    rng = np.random.default_rng(0)
    u = np.sin(x[None, :] - t[:, None]) + 1e-3 * rng.standard_normal((t.size, x.size))
    source = tmp_path / "big.nc"
    xr.Dataset({"u": (("t", "x"), u)}, coords={"t": t, "x": x}).to_netcdf(source)
    store = ArtifactStore(f"file://{tiny_disk}/store")
    with pytest.raises(StoreError, match=r"datasets/[0-9a-f]{64}: no space left on the device"):
        ingest_dataset(str(source), store)
    assert store.list("datasets") == []
    leftovers = [os.path.join(d, f) for d, _, fs in os.walk(tiny_disk) for f in fs]
    assert leftovers == [], leftovers
    with store.transaction("things/small") as tx:  # the space came back
        tx.put_json("doc.json", {"ok": True})
    assert store.artifact("things/small").read_json("doc.json") == {"ok": True}


_FLOW_SCRIPT = """
import json, sys
from physforge.flows import discover_flow
from physforge.config import PipelineConfig
state = discover_flow(sys.argv[1], PipelineConfig.model_validate(json.loads(sys.argv[3])),
                      sys.argv[2], return_state=True)
print("STATE", state.type.value, state.state_details.flow_run_id)
"""


@pytest.mark.slow
def test_two_discover_flows_on_one_dataset_at_once(prefect_api, tmp_path):
    """Two discovery flows, in two processes, on the same file and store at the same time:
    both complete and each artifact kind holds one committed artifact that verifies."""
    from prefect.settings import PREFECT_API_URL

    from physforge.datasets.examples import burgers

    data = tmp_path / "burgers.nc"
    burgers(nx=64, nt=26).to_netcdf(data)
    url = f"file://{tmp_path}/store"
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "OMP_NUM_THREADS": "1"}
    cfg = json.dumps({"discovery": {"n_bootstrap": 0}})
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _FLOW_SCRIPT, str(data), url, cfg],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        outs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for out in outs:
        assert "STATE COMPLETED" in out, out[-3000:]
    store = ArtifactStore(url)
    for kind in KINDS:
        [prefix] = store.list(kind)
        art = store.artifact(prefix)
        art.verify()
        leftovers = [
            p
            for p in store.fs.find(store.path(prefix))  # the losing writer's files
            if not p.startswith(art.base + "/") and not p.endswith(COMMIT_MARKER)
        ]
        assert leftovers == []
