"""An existing Dask cluster: with ``$PHYSFORGE_DASK_ADDRESS`` set, the tasks of a flow run on
that scheduler's workers (here ``dask scheduler`` and two ``dask worker`` processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.fixture
def external_cluster(tmp_path):
    """A scheduler and two single-threaded workers on loopback, each in its own session;
    all stopped at teardown."""
    from physforge.compute.cluster import worker_env

    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, **worker_env()}
    env.pop("PHYSFORGE_DASK_ADDRESS", None)
    logs = []

    def start(name: str, args: list[str]) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed at teardown
        logs.append(log)
        return subprocess.Popen(
            args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    procs = [
        start(
            "scheduler",
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
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists():
            assert time.monotonic() < deadline and procs[0].poll() is None, (
                tmp_path / "scheduler.log"
            ).read_text()
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        for i in range(2):
            procs.append(
                start(
                    f"worker{i}",
                    [
                        str(BIN / "dask"),
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--name",
                        f"physforge-test-{i}",
                    ],
                )
            )
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            workers = set(client.scheduler_info()["workers"])
        yield address, workers
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        for log in logs:
            log.close()


def test_benchmark_tasks_run_on_the_scheduler_from_the_environment(
    prefect_api, external_cluster, monkeypatch, tmp_path
):
    from physforge.flows.benchmark import benchmark_nightly, cases_runner
    from physforge.storage_blocks.store import ArtifactStore

    address, workers = external_cluster
    assert len(workers) == 2
    monkeypatch.setenv("PHYSFORGE_DASK_ADDRESS", address)
    runner = cases_runner()
    assert type(runner).__name__ == "DaskTaskRunner" and runner.address == address

    store = f"file://{tmp_path}/store"
    result = benchmark_nightly(
        examples=["burgers"], noise_levels=[0.0, 0.01, 0.02, 0.05], store=store
    )
    ran_on = {case["worker"] for case in result["cases"]}
    assert ran_on == workers, (ran_on, workers)  # every task on a worker, both workers used
    assert all(case["recovered"] for case in result["cases"]), result["cases"]
    assert max(case["max_rel_coef_error"] for case in result["cases"]) < 0.05

    store_obj = ArtifactStore(store)
    (key,) = store_obj.list("benchmarks")
    stored = store_obj.artifact(key).read_json("results.json")
    assert stored["total"] == 4 and stored["recovered"] == 4


def test_without_an_address_cases_run_in_process(monkeypatch):
    from prefect.task_runners import ThreadPoolTaskRunner

    from physforge.flows.benchmark import cases_runner

    monkeypatch.delenv("PHYSFORGE_DASK_ADDRESS", raising=False)
    assert isinstance(cases_runner(), ThreadPoolTaskRunner)
