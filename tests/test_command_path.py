"""The command path: `physforge` killed mid-run leaves nothing behind; `physforge server start`
runs a real Prefect server with its UI that the CLI and `discover()` report to."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

BIN = Path(sys.executable).parent


def _alive(pids: set[int]) -> list[str]:
    left = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{pid} {' '.join(p.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            pass
    return left


def _in_session(sid: int) -> set[int]:
    found = set()
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid:
                found.add(p.pid)
        except (ProcessLookupError, PermissionError):
            pass
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_discover_killed_mid_run_leaves_no_process_behind(sig, burgers_clean, tmp_path):
    """The command is killed while its flow runs; its embedded API child (and anything else it
    started) must be gone afterwards: with SIGKILL only the kernel's parent-death signal can
    stop the child, since the command runs no code."""
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [
            str(BIN / "physforge"),
            "discover",
            str(burgers_clean),
            "--store",
            f"file://{tmp_path}/store",
            "--verbose",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 600
        while not any("Beginning flow run" in ln for ln in lines):
            assert proc.poll() is None, "".join(lines)[-3000:]
            assert time.monotonic() < deadline, "the flow did not start within 600 s"
            time.sleep(0.2)
        family = {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        servers = [pid for pid in family if "uvicorn" in " ".join(psutil.Process(pid).cmdline())]
        assert servers, f"no embedded API child among {family}"
        os.kill(proc.pid, sig)
        code = proc.wait(timeout=120)
        assert code in (-sig, 128 + sig), code
        deadline = time.monotonic() + 60
        while (left := _alive(family | _in_session(proc.pid))) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"left behind after {sig.name}: {left}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in _in_session(proc.pid):
            os.kill(pid, signal.SIGKILL)


def _cli(env, *args, timeout=600):
    return subprocess.run(
        [str(BIN / "physforge"), *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def _api(url: str, path: str, body: dict | None = None):
    req = urllib.request.Request(
        f"{url}{path}",
        method="POST" if body is not None else "GET",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture
def local_server(tmp_path):
    """`physforge server start` in a temp data dir on a free loopback port; stopped after."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_UI_URL")}
    env.update(
        PHYSFORGE_DATA_DIR=str(tmp_path / "data"), PREFECT_HOME=str(tmp_path / "client-home")
    )
    start = _cli(env, "server", "start", "--port", "0")
    try:
        assert start.returncode == 0, start.stderr[-3000:]
        url = re.search(r"started: (http://127\.0\.0\.1:\d+) \(pid (\d+)\)", start.stdout)
        assert url, start.stdout
        yield env, url.group(1), int(url.group(2))
    finally:
        _cli(env, "server", "stop", timeout=120)


def test_local_server_shows_cli_and_python_runs_and_stops(local_server, burgers_clean, tmp_path):
    env, url, pid = local_server
    status = _cli(env, "server", "status", "--json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["running"] and doc["url"] == url and doc["pid"] == pid
    assert doc["data"] == str(tmp_path / "data" / "prefect")
    assert (tmp_path / "data" / "prefect" / "prefect.db").is_file()

    # the UI itself is served (the SPA's index.html), not only the API
    req = urllib.request.Request(url + "/", headers={"Accept": "text/html"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200 and b"<html" in resp.read().lower()

    run = _cli(env, "discover", str(burgers_clean), "--store", f"file://{tmp_path}/store")
    assert run.returncode == 0, run.stderr[-3000:]
    link = re.search(r"Prefect UI:\s*(http://\S+/runs/flow-run/([0-9a-f-]{36}))", run.stdout)
    assert link, run.stdout[-3000:] + run.stderr[-3000:]
    assert link.group(1).startswith(url + "/")
    req = urllib.request.Request(link.group(1), headers={"Accept": "text/html"})
    with urllib.request.urlopen(req, timeout=30) as resp:  # as a browser opens it
        assert resp.status == 200 and b"<html" in resp.read().lower()

    api = url + "/api"
    flow_run_id = link.group(2)
    fr = _api(api, f"/flow_runs/{flow_run_id}")
    assert fr["state"]["type"] == "COMPLETED"
    tasks = _api(api, "/task_runs/filter", {"task_runs": {"flow_run_id": {"any_": [flow_run_id]}}})
    names = {t["name"].rsplit("-", 1)[0] for t in tasks}
    assert {"ingest", "extract_features", "discover", "summarise", "report"} <= names, names
    assert all(t["state"]["type"] == "COMPLETED" for t in tasks)
    arts = _api(api, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}})
    assert {"physforge-discovery", "physforge-candidates", "physforge-report"} <= {
        a["key"] for a in arts
    }
    # the run beat (PhysForge's heartbeat, which the crash automation watches)
    beat = {
        "filter": {
            "event": {"name": ["prefect.flow-run.heartbeat"]},
            "any_resource": {"id": [f"prefect.flow-run.{flow_run_id}"]},
        }
    }
    deadline = time.monotonic() + 30  # events are stored asynchronously
    while not (beats := _api(api, "/events/filter", beat)["events"]):
        assert time.monotonic() < deadline, "no heartbeat event for the CLI's flow run"
        time.sleep(1)
    assert beats[0]["resource"]["prefect.resource.id"] == f"prefect.flow-run.{flow_run_id}"

    # discover() in Python, no PREFECT_API_URL: the same server
    code = (
        "from physforge.flows import discover; "
        f"r = discover({str(burgers_clean)!r}, store='file://{tmp_path}/store-py'); "
        "print(r['equations'][0]['rhs'])"
    )
    py = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert py.returncode == 0, py.stderr[-3000:]
    runs = _api(
        api, "/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}
    )
    assert len([r for r in runs if r["id"] != flow_run_id]) >= 1, runs

    family = {pid} | {c.pid for c in psutil.Process(pid).children(recursive=True)}
    stop = _cli(env, "server", "stop", timeout=120)
    assert stop.returncode == 0 and f"pid {pid}" in stop.stdout, stop.stdout + stop.stderr
    assert not _alive(family), _alive(family)
    after = _cli(env, "server", "status")
    assert after.returncode == 1 and "not running" in after.stdout
    # with it stopped, a command falls back to its embedded API
    again = _cli(env, "discover", str(burgers_clean), "--store", f"file://{tmp_path}/store")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Prefect UI" not in again.stdout and "/runs/flow-run/" not in again.stdout


def test_server_start_refuses_a_non_loopback_host(tmp_path):
    env = {**os.environ, "PHYSFORGE_DATA_DIR": str(tmp_path / "data")}
    proc = _cli(env, "server", "start", "--host", "0.0.0.0")
    assert proc.returncode == 2
    assert "--host '0.0.0.0': the local server listens on loopback only" in proc.stderr
