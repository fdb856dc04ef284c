"""Where surrogate members run: cluster choice, LocalCluster, an external scheduler, a killed
worker, and the GPU path (skipped with its reason where no CUDA device exists)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from physforge.compute.cluster import (
    ADDRESS_ENV,
    choose_cluster,
    cuda_device_count,
    task_runner,
    worker_env,
)
from physforge.config import SurrogateConfig
from physforge.errors import BackendUnavailableError

BIN = Path(sys.executable).parent
HAS_CUDA = cuda_device_count() > 0
FAST = dict(width=16, depth=2, lbfgs_steps=0, max_points=400)


def _dataset_ref(store_url: str):
    """Burgers (5 % noise, 26 × 64) written as a canonical dataset, without the ingest stage."""
    from physforge.datasets.examples import make_example
    from physforge.refs import DatasetRef
    from physforge.storage_blocks.store import ArtifactStore

    ds = make_example("burgers", noise=0.05).isel(t=slice(0, None, 4), x=slice(0, None, 4))
    ds.attrs.update(physforge_time="t", physforge_space="x")
    store = ArtifactStore(store_url)
    sha = hashlib.sha256(ds.u.values.tobytes() + ds.t.values.tobytes()).hexdigest()
    with store.transaction(f"datasets/{sha}", meta={"kind": "dataset"}) as tx:
        tx.put_zarr("data.zarr", ds)
    return DatasetRef(
        store=store.url,
        key=f"datasets/{sha}",
        sha256=sha,
        source="burgers",
        dims=["t", "x"],
        fields=["u"],
        shape=list(ds.u.shape),
    )


def _card(ref) -> dict:
    from physforge.storage_blocks.store import ArtifactStore

    return ArtifactStore(ref.store).artifact(ref.key).read_json("card.json")


def test_cluster_choice_order(monkeypatch):
    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    local = choose_cluster(members=3, n_workers=2, gpus=0)
    assert local.kind == "local" and local.cluster_kwargs["n_workers"] == 2
    assert local.cluster_kwargs["threads_per_worker"] == 1 and local.resources is None
    assert choose_cluster("tcp://10.0.0.1:8786", gpus=4).kind == "address"
    monkeypatch.setenv(ADDRESS_ENV, "tcp://127.0.0.1:1")
    chosen = choose_cluster(gpus=2)
    assert (chosen.kind, chosen.address) == ("address", "tcp://127.0.0.1:1")
    monkeypatch.delenv(ADDRESS_ENV)
    gpu = choose_cluster(members=4, gpus=2)
    assert gpu.kind == "cuda" and gpu.n_workers == 2 and gpu.resources == {"GPU": 1}
    assert gpu.cluster_kwargs["resources"] == {"GPU": 1}


@pytest.mark.skipif(HAS_CUDA, reason="dask-cuda may be installed on CUDA machines")
def test_gpu_choice_without_dask_cuda_names_the_extra():
    with pytest.raises(BackendUnavailableError, match=r"`gpu` extra"):
        task_runner(choose_cluster(gpus=1))


def test_worker_env_passes_prefect_and_physforge_settings(monkeypatch):
    monkeypatch.setenv("PHYSFORGE_STORE", "s3://bucket/x")
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    monkeypatch.setenv("UNRELATED_SECRET_THING", "no")
    env = worker_env()
    assert env["PHYSFORGE_STORE"] == "s3://bucket/x"
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"
    assert env["OMP_NUM_THREADS"] and "UNRELATED_SECRET_THING" not in env


def test_two_members_run_in_parallel_on_a_local_cluster(prefect_api, tmp_path, monkeypatch):
    from physforge.flows.surrogate import train_surrogate

    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    ds_ref = _dataset_ref(f"file://{tmp_path}/store")
    cfg = SurrogateConfig(
        members=2, n_workers=2, adam_steps=800, checkpoint_every=200, device="cpu", **FAST
    )
    ref = train_surrogate(ds_ref, cfg)
    card = _card(ref)
    assert card["cluster"]["kind"] == "local" and card["cluster"]["n_workers"] == 2
    members = card["members"]
    assert len({m["worker"] for m in members}) == 2, members  # one member per worker
    assert len({m["pid"] for m in members}) == 2 and os.getpid() not in {m["pid"] for m in members}
    # the two training intervals overlap: they ran at the same time
    assert max(m["started"] for m in members) < min(m["finished"] for m in members), members
    assert card["architecture"]["kind"] == "fnn" and card["data"]["sha256"] == ds_ref.sha256

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:  # a Prefect progress artifact per member
        done = [
            a
            for a in client.read_artifacts()
            if a.type == "progress" and ref.key in (a.description or "")
        ]
    assert len(done) == 2 and all(float(a.data) == 100.0 for a in done), done

    from physforge.pinn.ensemble import SurrogateEnsemble
    from physforge.storage_blocks.store import ArtifactStore

    art = ArtifactStore(ref.store).artifact(ref.key)
    pred = art.open_zarr("predictions.zarr")
    assert set(pred.data_vars) == {"u", "u_std"} and pred.u.shape == tuple(ds_ref.shape)
    assert art.open_zarr("history.zarr").loss.shape[0] == 2
    ens = SurrogateEnsemble.load(ref.store, ref.key)
    d = ens.derivatives(
        {"t": pred.t.values[:, None], "x": pred.x.values[None, :]}, ["u"], [(), ("x",), ("x", "x")]
    )
    assert d["u_xx"].shape == tuple(ds_ref.shape)


@pytest.fixture
def dask_processes(tmp_path):
    """``dask scheduler`` and two ``dask worker`` processes on loopback; stopped afterwards."""
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [
                str(BIN / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                ":0",
                "--scheduler-file",
                str(sched_file),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        str(BIN / "dask"),
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--preload",
                        "physforge.compute.preload",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=90)
            workers = set(client.scheduler_info()["workers"])
        yield address, workers
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_members_run_on_an_existing_scheduler(prefect_api, tmp_path, monkeypatch, dask_processes):
    from physforge.flows.surrogate import train_surrogate

    address, workers = dask_processes
    monkeypatch.setenv(ADDRESS_ENV, address)
    ds_ref = _dataset_ref(f"file://{tmp_path}/store")
    ref = train_surrogate(
        ds_ref, SurrogateConfig(members=2, adam_steps=300, checkpoint_every=100, **FAST)
    )
    card = _card(ref)
    assert card["cluster"]["kind"] == "address" and card["cluster"]["address"] == address
    ran_on = {m["worker"] for m in card["members"]}
    assert ran_on <= workers and ran_on, (ran_on, workers)


def test_killed_worker_is_retried_and_resumes_from_its_checkpoint(
    prefect_api, tmp_path, monkeypatch
):
    """SIGKILL the Dask worker process training a member; Dask reruns the task on another
    worker and training continues from the last committed checkpoint."""
    from physforge.flows.surrogate import train_surrogate
    from physforge.pinn.checkpoint import latest_checkpoint, list_checkpoints
    from physforge.storage_blocks.store import ArtifactStore
    from physforge.tasks.surrogate import checkpoint_prefix, surrogate_key

    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    ds_ref = _dataset_ref(f"file://{tmp_path}/store")
    cfg = SurrogateConfig(
        members=1, n_workers=2, adam_steps=3000, checkpoint_every=100, device="cpu", **FAST
    )
    store = ArtifactStore(ds_ref.store)
    prefix = checkpoint_prefix(surrogate_key(ds_ref, cfg), 0)
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(ref=train_surrogate(ds_ref, cfg)))
    runner.start()
    deadline = time.time() + 120
    while not list_checkpoints(store, prefix) and time.time() < deadline and runner.is_alive():
        time.sleep(0.05)
    first = latest_checkpoint(store, prefix)
    assert first is not None, "no checkpoint was committed"
    killed_pid = first.meta["pid"]
    os.kill(killed_pid, signal.SIGKILL)
    runner.join(timeout=240)
    assert "ref" in result, "training did not finish after the worker was killed"
    member = _card(result["ref"])["members"][0]
    assert member["pid"] != killed_pid
    assert member["resumed_from_step"] >= first.step > 0
    assert member["steps"] == cfg.adam_steps


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device")
def test_members_train_on_gpus_through_local_cuda_cluster(prefect_api, tmp_path, monkeypatch):
    from physforge.flows.surrogate import train_surrogate

    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    ds_ref = _dataset_ref(f"file://{tmp_path}/store")
    ref = train_surrogate(ds_ref, SurrogateConfig(members=2, adam_steps=300, **FAST))
    card = _card(ref)
    assert card["cluster"]["kind"] == "cuda"
    assert all(m["device"].startswith("cuda") for m in card["members"])
