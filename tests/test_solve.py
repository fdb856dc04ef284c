"""Forward PINN solving: small versions of three problems reach a stated error; checkpoints
resume; inference loads once and evaluates 100 000 points; the ``solve`` flow end to end.

Small nets and few steps so each test trains in seconds on one CPU thread. Tolerances are
loose on purpose and stated here (the full-size figures are in docs/benchmarks.md).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physforge.pinn.problems import load_spec
from physforge.pinn.solve import choose_plan, solve_problem, train
from physforge.storage_blocks.store import ArtifactStore

torch.set_num_threads(1)

TOLERANCE = {"heat": 5e-2, "maxwell": 5e-2, "wave": 5e-2}
SMALL = {
    "architecture": {"width": 16, "depth": 2},
    "training": {"adam_steps": 150, "lbfgs_steps": 60, "n_domain": 120},
}
WALLS_1D = {"left": {"value": 0.0}, "right": {"value": 0.0}}
WALLS_2D = {s: {"value": 0.0} for s in ("left", "right", "bottom", "top")}


def heat_spec(**extra) -> dict:
    return {
        "problem": "heat",
        "name": "heat-small",
        "domain": {"shape": "interval", "x": [0, 1]},
        "time": [0, 1],
        "coefficients": {"diffusivity": 0.4},
        "initial": {"modes": [[1]], "amplitudes": [1.0]},
        "boundary": WALLS_1D,
        "evaluation": {"resolution": 31, "time_steps": 11},
        **SMALL,
        **extra,
    }


def wave_spec() -> dict:
    return {
        "problem": "wave",
        "name": "wave-small",
        "domain": {"shape": "interval", "x": [0, 1]},
        "time": [0, 1],
        "coefficients": {"speed": 1.0},
        "initial": {"modes": [[1]], "amplitudes": [1.0]},
        "boundary": WALLS_1D,
        "evaluation": {"resolution": 31, "time_steps": 11},
        **SMALL,
    }


def helmholtz_spec() -> dict:
    return {
        "problem": "maxwell",
        "name": "helmholtz-small",
        "domain": {"shape": "rectangle", "x": [0, 1], "y": [0, 1]},
        "coefficients": {"wavenumber": 2 * np.pi},
        "source": {"modes": [2, 2]},
        "boundary": WALLS_2D,
        "evaluation": {"resolution": 31},
        **SMALL,
    }


@pytest.mark.parametrize(
    "make", [heat_spec, wave_spec, helmholtz_spec], ids=["heat-1d", "wave-1d", "maxwell-helmholtz"]
)
def test_small_problems_reach_the_stated_error(make):
    spec = load_spec(make())
    out = solve_problem(spec)
    err = out["card"]["errors"]["relative_l2"]
    assert err is not None and err <= TOLERANCE[spec.problem], err
    ds = out["dataset"]
    field = out["card"]["outputs"][0]
    assert f"{field}_reference" in ds and np.isfinite(ds[field]).all()
    assert out["card"]["reasons"]["activation"]


def test_training_resumes_from_the_newest_checkpoint(tmp_path):
    store = ArtifactStore(f"file://{tmp_path}/store")
    spec = load_spec(
        heat_spec(
            training={"adam_steps": 200, "lbfgs_steps": 0, "n_domain": 100, "checkpoint_every": 100}
        )
    )
    plan, _, _ = choose_plan(spec)

    def crash_at_200(msg: str) -> None:
        if "step 200" in msg:
            raise KeyboardInterrupt("simulated crash")

    with pytest.raises(KeyboardInterrupt):
        train(spec, plan, store, "solutions/resume-test", log=crash_at_200)
    lines: list[str] = []
    result = train(spec, plan, store, "solutions/resume-test", log=lines.append)
    assert result.resumed_from == 100
    assert any("resumed from checkpoint at step 100" in m for m in lines)
    assert [h["step"] for h in result.history] == [100, 200, 200]


def test_rar_adds_points_during_adam_not_after():
    from physforge.pinn.solve import rar_schedule

    spec = load_spec(
        heat_spec(
            training={
                "adam_steps": 120,
                "lbfgs_steps": 0,
                "n_domain": 100,
                "rar": True,
                "rar_rounds": 2,
                "rar_points": 5,
                "checkpoint_every": 50,
            }
        )
    )
    plan, _, _ = choose_plan(spec)
    at = rar_schedule(plan)
    assert at == [60, 80] and all(s < plan.adam_steps for s in at)
    lines: list[str] = []
    result = train(spec, plan, log=lines.append)
    assert result.n_anchors == 10
    assert [h["step"] for h in result.history] == [50, 60, 80, 120, 120]
    assert sum("RAR at step" in m for m in lines) == 2


def test_inference_loads_once_and_evaluates_100k_points(tmp_path):
    from physforge.pinn.inference import load_model, predict
    from physforge.pinn.solve import predict as predict_net

    store = ArtifactStore(f"file://{tmp_path}/store")
    out = solve_problem(load_spec(heat_spec()), store=store)
    first = load_model(out["key"], store.url)
    assert load_model(out["key"], store.url) is first  # cached per process
    assert load_model(f"{store.url}/{out['key']}") is first  # full URI form
    rng = np.random.default_rng(1)
    pts = rng.random((100_000, 2))
    values = predict(out["key"], pts, store.url)
    assert values.shape == (100_000, 1)
    np.testing.assert_allclose(values, predict_net(out["net"], pts), rtol=1e-5, atol=1e-6)
    # weights are a plain state_dict: loadable with weights_only=True
    art = store.artifact(f"{out['key']}/model")
    assert set(art.torch_state("weights.pt")) == set(first.net.state_dict())


def test_predict_cli_writes_outputs(tmp_path):
    from typer.testing import CliRunner

    from physforge.cli import app

    store = ArtifactStore(f"file://{tmp_path}/store")
    out = solve_problem(load_spec(heat_spec()), store=store)
    pts = tmp_path / "points.csv"
    pts.write_text("t,x\n0.0,0.5\n0.5,0.25\n")
    res = CliRunner().invoke(
        app,
        ["predict", out["key"], str(pts), "--store", store.url, "-o", str(tmp_path / "out.csv")],
    )
    assert res.exit_code == 0, res.output
    import pandas as pd

    table = pd.read_csv(tmp_path / "out.csv")
    assert list(table.columns) == ["x", "t", "u"]
    assert table["u"].iloc[0] == pytest.approx(1.0, abs=5e-2)  # u(0.5, 0) = sin(π/2)


@pytest.mark.usefixtures("prefect_api")
def test_solve_flow_end_to_end(tmp_path):
    from physforge.flows import solve

    store_url = f"file://{tmp_path}/store"
    result = solve(heat_spec(), store=store_url, use_dask=False)
    assert result["errors"]["relative_l2"] <= TOLERANCE["heat"]
    art = ArtifactStore(store_url).artifact(result["key"])
    card = art.read_json("model_card.json")
    assert card["problem"] == "heat" and card["errors"]["relative_l2"] is not None
    assert card["reasons"]["hard_constraints"] and card["training"]["wall_s"] > 0
    ds = art.open_zarr("solution.zarr")
    assert set(ds.dims) == {"t", "x"} and {"u", "u_reference"} <= set(ds.data_vars)
    rel = float(np.linalg.norm(ds["u"] - ds["u_reference"]) / np.linalg.norm(ds["u_reference"]))
    assert rel == pytest.approx(result["errors"]["relative_l2"], rel=1e-3)
    again = solve(heat_spec(), store=store_url, use_dask=False)  # cached / reused
    assert again["key"] == result["key"]
