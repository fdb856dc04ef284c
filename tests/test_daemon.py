"""The warm process behind the ``physforge`` command: same results, exit codes, streams and
environment as a process of its own; re-runs served from cache; stops when told or idle."""

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
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the warm process is Linux-only")


@pytest.fixture
def warm_env(tmp_path):
    """An environment in which `physforge` uses a warm process of its own (own socket dir,
    own Prefect home), stopped at the end."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_API", "PHYSFORGE_"))}
    env.update({
        "PHYSFORGE_DAEMON": "1",
        "PHYSFORGE_DAEMON_DIR": str(tmp_path / "daemon"),
        "PHYSFORGE_DAEMON_IDLE": "120",
        "PHYSFORGE_STORE": f"file://{tmp_path}/store",
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
    })
    yield env
    subprocess.run([str(BIN / "physforge"), "daemon", "stop"], env=env, capture_output=True,
                   timeout=60)
    for info in (tmp_path / "daemon").glob("*.json"):  # belt and braces
        try:
            os.kill(json.loads(info.read_text())["pid"], signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass


def _physforge(env, *args, cwd=None, timeout=600):
    return subprocess.run([str(BIN / "physforge"), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def _daemons(env) -> list[dict]:
    proc = _physforge(env, "daemon", "status", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _task_states(env, flow_run_id: str) -> dict[str, str]:
    """Task-run states of a flow run, read from the warm process's own Prefect API."""
    import httpx

    (daemon,) = [d for d in _daemons(env) if d["current"]]
    body = {"flow_runs": {"id": {"any_": [flow_run_id]}}}
    runs = httpx.post(f"{daemon['api']}/task_runs/filter", json=body, timeout=30).json()
    return {r["name"].rsplit("-", 1)[0]: r["state"]["name"] for r in runs}


def test_discover_twice_through_the_warm_process(warm_env, tmp_path):
    data = tmp_path / "b.nc"
    made = _physforge(warm_env, "example", "burgers", "--noise", "0.01", "-o", str(data))
    assert made.returncode == 0, made.stderr
    assert "starting a warm process" in made.stderr
    assert data.exists()
    (daemon,) = _daemons(warm_env)
    assert daemon["current"] and daemon["api"].startswith("http://127.0.0.1:")

    first = _physforge(warm_env, "discover", str(data), "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)  # stdout is the JSON and nothing else
    best = result["equations"][0]
    assert set(best["terms"]) == {"u*u_x", "u_xx"}
    assert best["terms"]["u*u_x"] == pytest.approx(-1.0, rel=1e-2)
    assert best["terms"]["u_xx"] == pytest.approx(0.1, rel=1e-2)
    # the caller's environment reached the command: artifacts are in its store
    assert any((tmp_path / "store" / "discoveries").iterdir())

    second = _physforge(warm_env, "discover", str(data), "--json", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["equations"] == result["equations"]
    assert "Cached" in second.stderr and "Completed()" in second.stderr
    flow_run = second.stderr.split("/runs/flow-run/")[1].split()[0]
    states = _task_states(warm_env, flow_run)
    assert states == dict.fromkeys(
        ["ingest", "extract_features", "discover", "summarise", "report"], "Cached"), states
    # Prefect settings files in the caller's directory count, as in a process of its own
    project = tmp_path / "project"
    project.mkdir()
    (project / "prefect.toml").write_text('[logging]\nlevel = "ERROR"\n')
    quiet = _physforge(warm_env, "discover", str(data), "--json", cwd=project)
    assert quiet.returncode == 0, quiet.stderr
    assert json.loads(quiet.stdout)["equations"] == result["equations"]
    assert "Completed()" not in quiet.stderr and "Cached" not in quiet.stderr, quiet.stderr
    # one warm process served all of it
    assert [d["pid"] for d in _daemons(warm_env)] == [daemon["pid"]]


def test_errors_exit_codes_and_relative_paths_are_the_callers(warm_env, tmp_path):
    missing = _physforge(warm_env, "discover", "nowhere.nc", cwd=tmp_path)
    assert missing.returncode == 2
    assert "nowhere.nc" in missing.stderr and "error" in missing.stderr
    bad = _physforge(warm_env, "example", "no-such-pde", cwd=tmp_path)
    assert bad.returncode == 2 and "no-such-pde" in bad.stderr
    assert _physforge(warm_env, "example", "burgers", "-o", "rel.nc",
                      cwd=tmp_path).returncode == 0
    assert (tmp_path / "rel.nc").exists()  # relative to the caller's directory
    (daemon,) = _daemons(warm_env)
    assert daemon["current"]


def test_ctrl_c_reaches_the_command(warm_env, tmp_path):
    assert _physforge(warm_env, "example", "burgers", "-o", "b.nc",
                      cwd=tmp_path).returncode == 0  # starts the warm process
    proc = subprocess.Popen([str(BIN / "physforge"), "discover", "b.nc"], env=warm_env,
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    while not list((tmp_path / "store").glob("datasets/*")) and time.time() < deadline:
        time.sleep(0.1)  # the flow is running once the dataset is being written
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert not list((tmp_path / "store").glob("discoveries/*")), "the run went on"


def test_stop_status_and_switch_off(warm_env, tmp_path):
    assert _physforge(warm_env, "example", "burgers", "-o", "b.nc",
                      cwd=tmp_path).returncode == 0
    (daemon,) = _daemons(warm_env)
    stopped = _physforge(warm_env, "daemon", "stop")
    assert stopped.returncode == 0 and str(daemon["pid"]) in stopped.stderr
    with pytest.raises(ProcessLookupError):
        os.kill(daemon["pid"], 0)
    assert _daemons(warm_env) == []
    off = {**warm_env, "PHYSFORGE_DAEMON": "0"}
    plain = _physforge(off, "example", "burgers", "-o", "c.nc", cwd=tmp_path)
    assert plain.returncode == 0 and "warm process" not in plain.stderr
    assert _daemons(warm_env) == []


def test_idle_warm_process_stops_by_itself(warm_env, tmp_path):
    env = {**warm_env, "PHYSFORGE_DAEMON_IDLE": "2"}
    assert _physforge(env, "example", "burgers", "-o", "b.nc", cwd=tmp_path).returncode == 0
    (daemon,) = _daemons(env)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            os.kill(daemon["pid"], 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the idle warm process did not stop")
    assert not list(Path(env["PHYSFORGE_DAEMON_DIR"]).glob("*.sock"))


def test_socket_directory_is_private(warm_env, tmp_path):
    assert _physforge(warm_env, "example", "burgers", "-o", "b.nc",
                      cwd=tmp_path).returncode == 0
    where = Path(warm_env["PHYSFORGE_DAEMON_DIR"])
    assert where.stat().st_mode & 0o777 == 0o700
    (sock,) = where.glob("*.sock")
    assert sock.stat().st_mode & 0o077 == 0
