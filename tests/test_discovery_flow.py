"""The discovery flow end to end on the embedded default, from Python, the CLI and S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sympy

from physforge.discovery.terms import to_sympy

BIN = Path(sys.executable).parent


def _task_states(flow_run_id) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            sort=TaskRunSort.EXPECTED_START_TIME_DESC,
            limit=200,
        )
    return {r.name.rsplit("-", 1)[0]: r.state.name for r in runs}


def _assert_burgers(result: dict, tol: float = 0.01) -> None:
    best = result["equations"][0]
    assert best["lhs"] == "u_t"
    assert set(best["terms"]) == {"u*u_x", "u_xx"}, best["rhs"]
    assert best["terms"]["u*u_x"] == pytest.approx(-1.0, rel=tol)
    assert best["terms"]["u_xx"] == pytest.approx(0.1, rel=tol)


def test_python_api_discovers_burgers_and_reruns_from_cache(prefect_api, burgers_clean, store_url):
    from physforge.config import PipelineConfig
    from physforge.flows import discover, discover_flow

    result = discover(str(burgers_clean), store=store_url)
    _assert_burgers(result)
    assert result["dataset"]["dims"] == ["t", "x"] and result["dataset"]["fields"] == ["u"]
    for term in result["equations"][0]["terms"]:
        sympy.sympify(str(to_sympy(term)))

    state = discover_flow(str(burgers_clean), PipelineConfig(), store_url, return_state=True)
    assert state.is_completed()
    states = _task_states(state.state_details.flow_run_id)
    assert states == {
        "ingest": "Cached",
        "extract_features": "Cached",
        "discover": "Cached",
        "summarise": "Cached",
        "report": "Cached",
        "remember": "Completed",  # the run-level memo is rewritten, never read back
    }
    _assert_burgers(state.result())


def test_changed_config_recomputes_only_downstream(prefect_api, burgers_clean, store_url):
    from physforge.config import DiscoveryConfig, PipelineConfig
    from physforge.flows import discover_flow

    discover_flow(str(burgers_clean), PipelineConfig(), store_url)
    cfg = PipelineConfig(discovery=DiscoveryConfig(top_k=2))
    state = discover_flow(str(burgers_clean), cfg, store_url, return_state=True)
    states = _task_states(state.state_details.flow_run_id)
    assert states["ingest"] == "Cached" and states["extract_features"] == "Cached"
    assert states["discover"] == "Completed"
    assert len(state.result()["equations"]) == 2


def test_bad_input_fails_fast_with_the_file_named(prefect_api, tmp_path, store_url):
    from physforge.errors import DataValidationError
    from physforge.flows import discover

    empty = tmp_path / "empty.nc"
    empty.write_bytes(b"")
    with pytest.raises(DataValidationError, match=r"empty\.nc: the file is empty"):
        discover(str(empty), store=store_url)
    assert not (tmp_path / "store" / "datasets").exists()


def _cli(*args, env=None, cwd=None):
    return subprocess.run(
        [str(BIN / "physforge"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=600,
    )


def test_cli_example_then_discover_json(tmp_path):
    env = {"PHYSFORGE_STORE": str(tmp_path / "store")}
    gen = _cli("example", "burgers", "--noise", "0.01", "-o", str(tmp_path / "b.nc"), env=env)
    assert gen.returncode == 0, gen.stderr
    run = _cli("discover", str(tmp_path / "b.nc"), "--json", env=env)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)  # stdout is the JSON and nothing else
    assert set(result) >= {"dataset", "equations", "runtime_s"}
    assert result["dataset"]["fields"] == ["u"]
    for eq in result["equations"]:
        assert set(eq) >= {"lhs", "rhs", "terms", "latex", "score", "method"}
        for term in eq["terms"]:
            assert isinstance(to_sympy(term), sympy.Expr)
        sympy.sympify(eq["rhs"].replace("u*u_x", "a").replace("_", ""))
    best = result["equations"][0]
    assert "ci95" in best and "inclusion_probability" in best


def test_cli_refuses_unknown_file_type(tmp_path):
    bad = tmp_path / "data.xyz"
    bad.write_text("1,2,3")
    run = _cli("discover", str(bad), env={"PHYSFORGE_STORE": str(tmp_path / "store")})
    assert run.returncode == 2
    assert "data.xyz: unknown file type '.xyz'" in run.stderr


def test_s3_store_holds_artifacts_and_serves_cache(prefect_api, burgers_clean, s3_server):
    import s3fs

    from physforge.config import PipelineConfig
    from physforge.flows import discover_flow

    url = "s3://physforge/runs"
    first = discover_flow(str(burgers_clean), PipelineConfig(), url, return_state=True)
    result = first.result()
    _assert_burgers(result)
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server})
    keys = fs.find("physforge/runs")
    assert any(k.endswith("data.zarr/zarr.json") and "/datasets/" in k for k in keys)
    assert any("/features/" in k and "library.zarr" in k for k in keys)
    assert any(k.endswith("result.json") and "/discoveries/" in k for k in keys)
    assert any("/prefect-results/" in k for k in keys)
    assert any(k.endswith("result.json") and "/runs/" in k for k in keys)  # the run memo
    disc = next(k for k in keys if k.endswith("result.json") and "/discoveries/" in k)
    stored = json.loads(fs.cat_file(disc))
    assert stored["equations"][0]["terms"] == result["equations"][0]["terms"]

    state = discover_flow(str(burgers_clean), PipelineConfig(), url, return_state=True)
    states = _task_states(state.state_details.flow_run_id)
    assert states.pop("remember") == "Completed"  # the memo is rewritten, never read back
    assert set(states.values()) == {"Cached"}
    from physforge.flows import discover

    again = discover(str(burgers_clean), store=url)  # memo hit on S3: no flow run
    assert again["cached"]["flow_run_id"] == str(first.state_details.flow_run_id)
    assert again["equations"] == result["equations"]
