"""A discovery done before is returned from the store, without a flow run (physforge.runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from physforge.config import DiscoveryConfig, PipelineConfig
from physforge.storage_blocks.store import ArtifactStore

BIN = Path(sys.executable).parent
CFG = PipelineConfig(discovery=DiscoveryConfig(n_bootstrap=0))


@pytest.fixture
def small(tmp_path) -> Path:
    from physforge.datasets.examples import burgers

    path = tmp_path / "burgers.nc"
    burgers(nx=64, nt=26).to_netcdf(path)
    return path


def _flow_runs() -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return len(client.read_flow_runs())


def test_a_repeated_discovery_is_recalled_and_a_changed_one_is_not(prefect_api, small, tmp_path):
    from physforge.flows import discover

    url = f"file://{tmp_path}/store"
    first = discover(str(small), CFG, url)
    runs = _flow_runs()
    again = discover(str(small), CFG, url)
    assert _flow_runs() == runs  # no flow run
    assert again["equations"] == first["equations"]
    assert again["report"] == first["report"] and "cached" not in first
    assert again["cached"]["flow_run_id"] and again["cached"]["record"].startswith(url)

    other = CFG.model_copy(update={"discovery": DiscoveryConfig(n_bootstrap=0, backend="sr3")})
    assert "cached" not in discover(str(small), other, url)  # a changed config: a flow run
    assert _flow_runs() == runs + 1

    # a damaged record is no hit: the flow runs (its tasks cached) and rewrites it
    from physforge.runs import run_key

    record = Path(ArtifactStore(url).artifact(run_key(str(small), CFG)).path("result.json"))
    record.write_text(record.read_text().replace("u_xx", "u_xxx"))
    fixed = discover(str(small), CFG, url)
    assert "cached" not in fixed and fixed["equations"] == first["equations"]
    assert _flow_runs() == runs + 2
    assert discover(str(small), CFG, url)["cached"]


def test_the_cli_prints_a_recalled_discovery_without_starting_an_api(small, tmp_path):
    """The second command finds the first one's result: the same table and report, a line
    saying so, no Prefect API started (none is configured: it would be an embedded one) and
    neither Prefect nor torch imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    cmd = [str(BIN / "physforge"), "discover", str(small), "--store", f"file://{tmp_path}/s"]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout == first.stdout
    assert "cached: the result of flow run" in second.stderr
    assert "nothing was recomputed" in second.stderr
    assert "Starting temporary server" not in second.stderr
    # nor is Prefect imported: a recalled discovery costs the CLI's own start-up
    timed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "physforge.cli", *cmd[1:]],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert timed.returncode == 0 and "nothing was recomputed" in timed.stderr, timed.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in timed.stderr.splitlines()}
    assert "prefect" not in imported and "torch" not in imported
    as_json = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert as_json.returncode == 0, as_json.stderr[-3000:]
    doc = json.loads(as_json.stdout)
    assert set(doc["equations"][0]["terms"]) == {"u*u_x", "u_xx"} and doc["cached"]["flow_run_id"]


def test_the_memo_key_covers_data_config_and_report_template(small, tmp_path, monkeypatch):
    """What the result depends on is in the key: the file's bytes, any option, the report
    template in use; an unreadable source has no key (the flow reports why)."""
    import shutil

    from physforge.reporting.notebook import template_path
    from physforge.runs import run_key

    key = run_key(str(small), CFG)
    assert key and key.startswith("runs/") and run_key(str(small), CFG) == key
    assert run_key(str(small), PipelineConfig()) != key
    other = tmp_path / "other.nc"
    shutil.copy(small, other)
    assert run_key(str(other), CFG) == key  # the content, not the name
    with other.open("r+b") as fh:  # one byte changed
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([last[0] ^ 1]))
    assert run_key(str(other), CFG) not in (None, key)
    template = json.loads(template_path().read_text())
    template["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "# Notes"})
    (tmp_path / "mine.ipynb").write_text(json.dumps(template))
    monkeypatch.setenv("PHYSFORGE_REPORT_TEMPLATE", str(tmp_path / "mine.ipynb"))
    assert run_key(str(small), CFG) not in (None, key)
    assert run_key(str(tmp_path / "missing.nc"), CFG) is None
