"""Load: N concurrent small discovery runs through the `discover` deployment and a process worker.

Starts its own stack on loopback (a throw-away PostgreSQL cluster, or SQLite with ``--db
sqlite``, behind a Prefect server with a temporary PREFECT_HOME, the
`physforge-process` pool, `prefect deploy --name discover` from prefect.yaml, one process
worker with a concurrency limit), makes a few small Burgers datasets (64 x 26, different noise
seeds, so that several runs write the same content-addressed artifacts at once), submits all
runs at the same moment from threads, and waits for every one to end. Prints:

- throughput (completed runs per minute, first submission to last end) and run wall times;
- peak memory (summed RSS of the worker and every flow-run process and kernel under it, and of
  the server), sampled every 0.25 s;
- failed, crashed and lost runs (lost: submitted but never reached a final state, or never
  known to the API), the flow runs the deployment holds (duplicates would show here), the
  task states (Completed / Cached) and retried tasks, the 503s the API answered (database busy)
  and the submissions' retries; and an integrity check: every committed artifact in the store
  verified against its manifest.

    .venv/bin/python benchmarks/load.py [--runs 50] [--limit 4] [--datasets 10] [--json out.json]

Everything it starts is stopped on exit, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

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
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
SUBMIT_ATTEMPTS = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree_rss(proc: subprocess.Popen) -> int:
    try:
        root = psutil.Process(proc.pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, to a process this script started and everything under it."""
    try:
        root = psutil.Process(proc.pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in tree:
            try:
                p.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        _, tree = psutil.wait_procs(tree, timeout=15)
        if not tree:
            return


class Stack:
    def __init__(self, home: Path, limit: int, db: str, store: str):
        self.home, self.limit, self.db, self.procs, self.store = home, limit, db, {}, store
        self.api = f"http://127.0.0.1:{_free_port()}/api"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
        self.env.update(
            PREFECT_HOME=str(home),
            PREFECT_API_URL=self.api,
            OMP_NUM_THREADS="1",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_CLI_PROMPT="false",
            PREFECT_WORKER_QUERY_SECONDS="2",
            PREFECT_WORKER_PREFETCH_SECONDS="4",
            PHYSFORGE_DAEMON="0",
            PREFECT_SERVER_LOG_RETRYABLE_ERRORS="true",  # counted: api_503s
            PHYSFORGE_HOME=str(REPO),
        )

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(
            args,
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self.procs[name]

    def run(self, *args: str) -> None:
        out = subprocess.run(
            args, env=self.env, cwd=REPO, capture_output=True, text=True, timeout=600
        )
        if out.returncode:
            raise RuntimeError(f"{args}: {out.stdout[-2000:]}\n{out.stderr[-2000:]}")

    def http(self, method: str, path: str, **kw):
        """A read of the API, retried like Prefect's own client does on 429/502/503 (the
        SQLite-backed server answers 503 while its database is locked by concurrent writes)."""
        for attempt in range(8):
            try:
                r = httpx.request(method, self.api + path, timeout=60, **kw)
                if r.status_code not in (429, 502, 503):
                    r.raise_for_status()
                    return r.json()
            except httpx.TransportError:
                if attempt == 7:
                    raise
            time.sleep(min(2**attempt * 0.25, 10))
        r.raise_for_status()
        return r.json()

    def submit(self, deployment_id: str, name: str, params: dict) -> tuple[str, int]:
        """Create a flow run through Prefect's client; its id and the number of retries.

        The server answers 503 when its database is busy (with SQLite: a write transaction
        that lost to another, SQLITE_BUSY_SNAPSHOT, at once, whatever the busy timeout):
        retried with jittered backoff capped at 16 s (the client's own doubles to 32 s and
        more). The idempotency key makes a retry that follows a creation whose answer was lost
        return that run instead of making a second one."""
        from prefect.client.orchestration import get_client
        from prefect.exceptions import PrefectHTTPStatusError
        from prefect.settings import (
            PREFECT_API_URL,
            PREFECT_CLIENT_MAX_RETRIES,
            temporary_settings,
        )

        rng = random.Random(name)
        with temporary_settings(updates={PREFECT_API_URL: self.api, PREFECT_CLIENT_MAX_RETRIES: 0}):
            with get_client(sync_client=True) as client:
                for attempt in range(SUBMIT_ATTEMPTS):
                    try:
                        run = client.create_flow_run_from_deployment(
                            deployment_id, parameters=params, name=name, idempotency_key=name
                        )
                        return str(run.id), attempt
                    except (PrefectHTTPStatusError, httpx.TransportError) as exc:
                        status = getattr(getattr(exc, "response", None), "status_code", None)
                        if status not in (None, 429, 502, 503) or attempt + 1 == SUBMIT_ATTEMPTS:
                            raise
                    time.sleep(rng.uniform(0.5, 1.5) * min(2**attempt, 16))
        raise AssertionError("unreachable")

    def postgres(self) -> str:
        """A throw-away PostgreSQL cluster on a loopback port (trust auth, so no password
        anywhere); its SQLAlchemy URL. As root, it runs as the ``postgres`` user."""
        import pwd

        data, port = self.home / "pg", _free_port()
        data.mkdir()
        user = "postgres" if os.geteuid() == 0 else None
        if user:
            pw = pwd.getpwnam(user)
            os.chown(data, pw.pw_uid, pw.pw_gid)
            os.chmod(self.home.parent, 0o711)  # mkdtemp's 0700: let the postgres user through
        init = subprocess.run(
            [
                shutil.which("initdb"),
                "-D",
                str(data),
                "-U",
                "prefect",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            capture_output=True,
            text=True,
            user=user,
            cwd="/",
        )
        if init.returncode:
            raise RuntimeError(f"initdb failed: {init.stdout[-2000:]}{init.stderr[-2000:]}")
        log = open(self.home / "postgres.log", "ab")  # noqa: SIM115 - closed with the process
        self.procs["postgres"] = subprocess.Popen(
            [
                shutil.which("postgres"),
                "-D",
                str(data),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                str(data),
                "-c",
                "max_connections=100",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user,
            cwd="/",
        )
        deadline = time.monotonic() + 60
        while True:
            if self.procs["postgres"].poll() is not None:
                raise RuntimeError((self.home / "postgres.log").read_text()[-3000:])
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("no PostgreSQL within 60 s")
            time.sleep(0.3)
        time.sleep(1)  # the port opens before the cluster accepts connections
        return f"postgresql+asyncpg://prefect@127.0.0.1:{port}/postgres"

    def up(self) -> None:
        if self.db == "postgres":
            self.env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = self.postgres()
        server = self.start(
            "server",
            [
                str(BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                self.api.split(":")[2][:-4],
            ],
        )
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise RuntimeError((self.home / "server.log").read_text()[-3000:])
            try:
                if httpx.get(f"{self.api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("no Prefect server within 120 s")
            time.sleep(0.5)
        # the README's steps, deployment defaults only (prefect.yaml: heartbeats every 30 s;
        # `blocks register`: the store block and the crashed-run automation); no client
        # settings beyond what a deployment sets
        self.run(str(BIN / "physforge"), "blocks", "register", "--store", self.store)
        self.run(
            str(BIN / "prefect"), "work-pool", "create", "physforge-process", "--type", "process"
        )
        self.run(str(BIN / "prefect"), "--no-prompt", "deploy", "--name", "discover")
        self.start(
            "worker",
            [
                str(BIN / "prefect"),
                "worker",
                "start",
                "--pool",
                "physforge-process",
                "--type",
                "process",
                "--limit",
                str(self.limit),
            ],
        )

    def down(self) -> None:
        for proc in reversed(list(self.procs.values())):
            _stop(proc)


def make_datasets(folder: Path, n: int) -> list[Path]:
    from physforge.datasets.examples import burgers

    clean = burgers(nx=64, nt=26)
    rng_u = clean["u"].values
    paths = []
    import numpy as np

    for i in range(n):
        noisy = clean.copy()
        noise = np.random.default_rng(i).standard_normal(rng_u.shape)
        noisy["u"] = clean["u"] + 0.001 * float(np.std(rng_u)) * noise
        path = folder / f"burgers-{i:02d}.nc"
        noisy.to_netcdf(path)
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--limit", type=int, default=4, help="the worker's concurrency limit")
    ap.add_argument("--datasets", type=int, default=10, help="distinct datasets, round robin")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the runs")
    ap.add_argument("--json", type=Path, help="write the figures here as JSON")
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary folder (store, logs); kept anyway on failure",
    )
    ap.add_argument(
        "--db",
        choices=("postgres", "sqlite"),
        default="postgres" if shutil.which("initdb") else "sqlite",
        help="the Prefect server's database (default: PostgreSQL where its "
        "binaries are installed, the production setting; SQLite locks under "
        "concurrent writers)",
    )
    args = ap.parse_args()
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so that the stack below is stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    tmp = Path(tempfile.mkdtemp(prefix="physforge-load-"))
    (tmp / "prefect").mkdir()
    store = f"file://{tmp}/store"
    stack = Stack(tmp / "prefect", args.limit, args.db, store)
    peaks = {"worker": 0, "server": 0, "postgres": 0}
    sampling = threading.Event()
    ok = False

    def sample() -> None:
        while not sampling.is_set():
            for name in peaks:
                if name in stack.procs:
                    peaks[name] = max(peaks[name], _tree_rss(stack.procs[name]))
            sampling.wait(0.25)

    try:
        data = make_datasets(tmp, args.datasets)
        t_setup = time.perf_counter()
        stack.up()
        setup_s = time.perf_counter() - t_setup
        deployment = stack.http("GET", "/deployments/name/discover/discover")["id"]
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        ids: list[str | None] = [None] * args.runs
        retries = [0] * args.runs
        go = threading.Event()

        def submit(i: int) -> None:
            params = {
                "dataset": str(data[i % len(data)]),  # store: the registered block
                "config": {"discovery": {"n_bootstrap": 0}},
            }
            go.wait()
            try:
                ids[i], retries[i] = stack.submit(deployment, f"load-{i:03d}", params)
            except Exception as exc:  # noqa: BLE001 - counted as lost and reported
                print(f"submission {i} failed: {exc!r}", file=sys.stderr)

        import prefect.client.orchestration  # noqa: F401 - imported before the clock starts

        # daemon threads: a stopped benchmark does not wait for submissions still retrying
        threads = [
            threading.Thread(target=submit, args=(i,), daemon=True) for i in range(args.runs)
        ]
        for t in threads:
            t.start()
        t0 = time.time()
        go.set()  # all at once
        for t in threads:
            t.join()
        submit_s = time.time() - t0
        known = [i for i in ids if i]
        runs: dict[str, dict] = {}
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            got = stack.http(
                "POST",
                "/flow_runs/filter",
                json={"flow_runs": {"id": {"any_": known}}, "limit": 200},
            )
            runs = {r["id"]: r for r in got}
            done = sum(1 for r in runs.values() if r["state"]["type"] in FINAL)
            print(
                f"\r{time.time() - t0:7.1f} s: {done}/{len(known)} final",
                end="",
                file=sys.stderr,
                flush=True,
            )
            if done == len(known):
                break
            time.sleep(2)
        print(file=sys.stderr)
        sampling.set()
        sampler.join()

        states: dict[str, int] = {}
        for r in runs.values():
            states[r["state"]["name"]] = states.get(r["state"]["name"], 0) + 1
        completed = [r for r in runs.values() if r["state"]["type"] == "COMPLETED"]
        failed = [r for r in runs.values() if r["state"]["type"] in ("FAILED", "CANCELLED")]
        crashed = [r for r in runs.values() if r["state"]["type"] == "CRASHED"]
        lost = (
            (args.runs - len(known))
            + len(known)
            - len([r for r in runs.values() if r["state"]["type"] in FINAL])
        )
        ends = [r["end_time"] for r in completed if r.get("end_time")]
        from datetime import datetime

        def ts(s: str) -> float:
            return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

        span = (max(ts(e) for e in ends) - t0) if ends else float("nan")
        walls = sorted(
            ts(r["end_time"]) - ts(r["start_time"])
            for r in completed
            if r.get("end_time") and r.get("start_time")
        )

        task_states: dict[str, int] = {}
        retried_tasks = 0
        for offset in range(0, 10 * max(len(known), 1), 200):
            page = stack.http(
                "POST",
                "/task_runs/filter",
                json={"flow_runs": {"id": {"any_": known}}, "limit": 200, "offset": offset},
            )
            for t in page:
                name = (t.get("state") or {}).get("name", "None")
                task_states[name] = task_states.get(name, 0) + 1
                retried_tasks += t.get("run_count", 1) > 1
            if len(page) < 200:
                break
        made = stack.http(
            "POST", "/flow_runs/count", json={"deployments": {"id": {"any_": [deployment]}}}
        )

        from physforge.storage_blocks.store import ArtifactStore

        art_store = ArtifactStore(store)
        checked, bad = 0, []
        for kind in ("datasets", "features", "discoveries", "reports"):
            for prefix in art_store.list(kind):
                try:
                    art_store.artifact(prefix).verify()
                    checked += 1
                except Exception as exc:  # noqa: BLE001 - every failure is reported
                    bad.append(f"{prefix}: {exc}")
        figures = {
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
            "database": args.db,
            "runs": args.runs,
            "worker_limit": args.limit,
            "datasets": args.datasets,
            "setup_s": round(setup_s, 1),
            "submit_s": round(submit_s, 2),
            "states": states,
            "completed": len(completed),
            "failed": len(failed),
            "crashed": len(crashed),
            "lost": lost,
            "flow_runs_created": made,
            "submission_retries": sum(retries),
            "api_503s": (stack.home / "server.log")
            .read_text(errors="replace")
            .count("Encountered retryable exception"),
            "task_states": task_states,
            "tasks_retried": retried_tasks,
            "span_s": round(span, 1),
            "throughput_runs_per_min": round(60 * len(completed) / span, 2) if ends else 0,
            "run_wall_s_median": round(statistics.median(walls), 1) if walls else None,
            "run_wall_s_p95": round(walls[int(0.95 * (len(walls) - 1))], 1) if walls else None,
            "peak_rss_worker_tree_mib": round(peaks["worker"] / 2**20),
            "peak_rss_server_mib": round(peaks["server"] / 2**20),
            "peak_rss_postgres_mib": round(peaks["postgres"] / 2**20),
            "artifacts_verified": checked,
            "artifacts_bad": bad,
        }
        print(json.dumps(figures, indent=2))
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
        if failed or crashed or lost or bad or made != args.runs:
            for r in failed + crashed:
                print(
                    f"{r['name']}: {r['state']['name']}: {r['state'].get('message')}",
                    file=sys.stderr,
                )
            sys.exit(1)
        ok = True
    finally:
        sampling.set()
        stack.down()
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"store and logs kept in {tmp}", file=sys.stderr)


if __name__ == "__main__":
    main()
