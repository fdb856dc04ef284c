"""The `loop` flow end to end on tiny data (embedded Prefect API), and `physforge loop`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from physforge.config import LoopConfig, ProposalConfig

TINY = LoopConfig(
    simulation={"nx": 128, "nt": 101},
    window={"t": 21, "x": 16},
    n_bootstrap=10,
    proposal=ProposalConfig(
        budget=3, batch_size=2, n_candidates=32, forbidden=[{"x": (-1.0, 1.0)}]
    ),
)


def test_loop_flow_proposes_measures_and_ingests_within_budget(prefect_api, store_url):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from physforge.flows import loop_flow
    from physforge.storage_blocks.store import ArtifactStore

    state = loop_flow(TINY, store=store_url, return_state=True)
    assert state.is_completed(), state
    result = state.result()
    assert result["stopped"] in ("threshold", "budget")
    assert result["added"] <= 3 and result["windows"] == 1 + result["added"]
    assert result["history"][0]["round"] == 0 and "u_t" in result["best"]
    store = ArtifactStore(store_url)
    assert len(store.list("proposals")) == len(result["proposals"]) >= 1
    for key in store.list("proposals"):
        art = store.artifact(key)
        csv = pd.read_csv(pd.io.common.BytesIO(art.read_bytes("table.csv")))
        zarr = art.open_zarr("table.zarr").load()
        assert list(csv.columns) == [
            "rank",
            "t",
            "x",
            "acquisition",
            "value",
            "separates",
            "expected_gain",
        ]
        assert len(csv) <= 2 and list(zarr["rank"].values) == list(csv["rank"])
        # windows of 1.875 in x never touch the forbidden strip |x| < 1
        assert ((csv["x"] + 0.9375 <= -1.0) | (csv["x"] - 0.9375 >= 1.0)).all()
    # this run's artifacts only: the API is shared with every other test in the session
    with get_client(sync_client=True) as client:
        art = client.read_artifacts(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    assert any(a.key == "physforge-proposals" and a.type == "table" for a in art)


def test_cli_loop_refuses_invalid_config_with_a_clear_message():
    # The command as a user runs it: one error line, exit 2, no traceback.
    res = subprocess.run(
        [
            str(Path(sys.executable).parent / "physforge"),
            "loop",
            "--budget",
            "2",
            "--batch-size",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 2, res.stderr
    assert "batch_size (3) exceeds budget (2)" in res.stderr
    assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr + res.stdout
