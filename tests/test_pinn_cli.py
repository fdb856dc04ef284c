"""`physforge train` end to end: example data → ingest → ensemble on a LocalCluster → card."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from physforge.storage_blocks.store import ArtifactStore

BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_cli_train_prints_the_surrogate_ref(tmp_path):
    env = {
        **os.environ,
        "PHYSFORGE_STORE": str(tmp_path / "store"),
        "OMP_NUM_THREADS": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }
    env.pop("PHYSFORGE_DASK_ADDRESS", None)
    data = tmp_path / "b.nc"
    gen = subprocess.run(
        [str(BIN / "physforge"), "example", "burgers", "--noise", "0.05", "-o", str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert gen.returncode == 0, gen.stderr
    run = subprocess.run(
        [
            str(BIN / "physforge"),
            "train",
            str(data),
            "--members",
            "1",
            "--steps",
            "60",
            "--lbfgs-steps",
            "0",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    ref = json.loads(run.stdout)  # stdout is the SurrogateRef JSON alone
    assert ref["key"].startswith("surrogates/") and len(ref["members"]) == 1
    card = ArtifactStore(f"file://{tmp_path}/store").artifact(ref["key"]).read_json("card.json")
    assert card["members"][0]["steps"] == 60 and card["cluster"]["kind"] == "local"
