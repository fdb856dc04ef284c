"""Process faults: a Prefect worker (and the flow-run process under it) killed mid-flow, as a
lost node would be. The stack is set up only as the README says (server, `physforge blocks
register`, work pool, `prefect deploy` from prefect.yaml, a process worker): the deployment's
heartbeats stop, the automation that `blocks register` installed marks the run Crashed, and
running it again returns every task that had completed from its cache.

The training-worker counterpart (a PINN member killed mid-training resumes from its last
checkpoint) is tests/test_pinn.py::test_killed_training_resumes_from_its_last_checkpoint.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from physforge.storage_blocks.automations import CRASH_SILENCE_S  # the default register sets

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
_DROP = (
    "AWS_",
    "PHYSFORGE_S3_",
    "PHYSFORGE_STORE",
    "PHYSFORGE_DASK_ADDRESS",
    "PREFECT_API_",
    "PREFECT_SERVER_API_AUTH",
    "PREFECT_HOME",
    "PREFECT_PROFILES",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_tree(proc: subprocess.Popen, sig=signal.SIGKILL) -> list[int]:
    """``sig`` to a process we started and every process under it; their pids."""
    import psutil

    try:
        root = psutil.Process(proc.pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    for p in tree:
        try:
            p.send_signal(sig)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(tree, timeout=20)
    return [p.pid for p in tree]


class _Stack:
    def __init__(self, home: Path):
        self.home, self.procs = home, []
        self.api = f"http://127.0.0.1:{_free_port()}/api"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
        self.env.update(
            PREFECT_HOME=str(home),
            PREFECT_API_URL=self.api,
            OMP_NUM_THREADS="1",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_CLI_PROMPT="false",
            PREFECT_WORKER_QUERY_SECONDS="1",
            PREFECT_WORKER_PREFETCH_SECONDS="2",
            PHYSFORGE_HOME=str(REPO),
        )

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            args,
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def run(self, *args: str, timeout: float = 300) -> str:
        out = subprocess.run(
            args, env=self.env, cwd=REPO, capture_output=True, text=True, timeout=timeout
        )
        assert out.returncode == 0, f"{args}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        return out.stdout

    def http(self, method: str, path: str, **kw):
        r = httpx.request(method, self.api + path, timeout=30, **kw)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                _kill_tree(proc, signal.SIGTERM)
            if proc.poll() is None:
                _kill_tree(proc)


@pytest.fixture
def stack(tmp_path):
    """A Prefect server on loopback, then the README's steps: `physforge blocks register`
    (store block, result storage, crashed-run automation), the process work pool and the
    `discover` deployment from prefect.yaml; workers are started by the test."""
    st = _Stack(tmp_path / "prefect")
    st.home.mkdir()
    try:
        server = st.start(
            "server",
            [
                str(BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                st.api.split(":")[2][:-4],
            ],
        )
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, st.log("server")
            try:
                if httpx.get(f"{st.api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "no server in 120 s\n" + st.log("server")
            time.sleep(0.5)
        out = st.run(
            str(BIN / "physforge"), "blocks", "register", "--store", str(st.home.parent / "store")
        )
        assert "automation/physforge-crashed-flow-runs" in out, out
        st.run(
            str(BIN / "prefect"), "work-pool", "create", "physforge-process", "--type", "process"
        )
        st.run(str(BIN / "prefect"), "--no-prompt", "deploy", "--name", "discover")
        yield st
    finally:
        st.stop()


def _task_runs(st: _Stack, flow_run_id: str) -> dict[str, str | None]:
    runs = st.http(
        "POST",
        "/task_runs/filter",
        json={"flow_runs": {"id": {"any_": [flow_run_id]}}, "limit": 100},
    )
    # a task run can be read between its creation and its first state: no state yet
    return {r["name"].rsplit("-", 1)[0]: (r.get("state") or {}).get("name") for r in runs}


def _flow_state(st: _Stack, flow_run_id: str) -> str:
    return st.http("GET", f"/flow_runs/{flow_run_id}")["state"]["name"]


def _submit(st: _Stack, deployment_id: str, params: dict) -> str:
    return st.http(
        "POST", f"/deployments/{deployment_id}/create_flow_run", json={"parameters": params}
    )["id"]


def _wait(what, check, timeout: float, st: _Stack, poll: float = 0.3):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what} not within {timeout} s\n" + st.log("worker")
        time.sleep(poll)


@pytest.mark.timeout(1500)  # a server start, 90 s of silence by default and a re-run, on 2 cores
def test_worker_killed_mid_flow_is_crashed_and_the_rerun_reuses_the_cache(stack, tmp_path):
    from physforge.datasets.examples import burgers

    st = stack
    data = tmp_path / "burgers.nc"
    burgers(nx=64, nt=26).to_netcdf(data)
    params = {"dataset": str(data), "config": {"discovery": {"n_bootstrap": 0}}}  # store: block
    deployment = st.http("GET", "/deployments/name/discover/discover")["id"]
    worker_args = [
        str(BIN / "prefect"),
        "worker",
        "start",
        "--pool",
        "physforge-process",
        "--type",
        "process",
    ]

    worker = st.start("worker", worker_args)
    run1 = _submit(st, deployment, params)
    # kill the worker and its flow-run process once the run is past discovery, mid-report
    before = _wait(
        "the run reaching its report task",
        lambda: (
            (
                (states := _task_runs(st, run1)).get("report") == "Running"
                or states.get("summarise") == "Completed"
            )
            and states
        ),
        240,
        st,
        poll=0.2,
    )
    killed = _kill_tree(worker)
    t_kill = time.monotonic()
    assert len(killed) >= 2, "the flow-run process was not under the worker"
    assert _flow_state(st, run1) == "Running"  # nobody left to say otherwise …
    done = {t for t, s in _task_runs(st, run1).items() if s == "Completed"}
    assert {"ingest", "extract_features", "discover"} <= done, before
    # … until its heartbeats are missed and the automation marks it Crashed
    _wait(
        "the Crashed state",
        lambda: _flow_state(st, run1) == "Crashed",
        CRASH_SILENCE_S + 90,
        st,
        poll=2,
    )
    print(f"killed {len(killed)} processes; Crashed after {time.monotonic() - t_kill:.0f} s")

    st.start("worker2", worker_args)
    run2 = _submit(st, deployment, params)
    _wait(
        "the re-run",
        lambda: _flow_state(st, run2) in ("Completed", "Failed", "Crashed"),
        300,
        st,
        poll=1,
    )
    assert _flow_state(st, run2) == "Completed", st.log("worker2")
    states = _task_runs(st, run2)
    assert {t: states[t] for t in done} == dict.fromkeys(done, "Cached"), states
    assert set(states) == {
        "ingest",
        "extract_features",
        "discover",
        "summarise",
        "report",
        "remember",
    }
    print("re-run task states:", states)
    from physforge.storage_blocks.store import ArtifactStore

    store = ArtifactStore(f"file://{tmp_path}/store")  # the registered block's store
    [key] = store.list("discoveries")
    result = store.artifact(key).read_json("result.json")
    assert set(result["equations"][0]["terms"]) == {"u*u_x", "u_xx"}
