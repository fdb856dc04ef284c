"""PINN surrogate science without Prefect: networks, autodiff, physics, checkpoints, ensembles."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from physforge.config import SurrogateConfig
from physforge.pinn.autodiff import autodiff, parse_derivative
from physforge.pinn.checkpoint import latest_checkpoint, list_checkpoints, save_checkpoint
from physforge.pinn.ensemble import SurrogateEnsemble, save_member
from physforge.pinn.networks import NETWORK_KINDS, NetworkSpec, build_network
from physforge.pinn.surrogate import (
    PhysicsResidual,
    TrainData,
    candidate_library,
    fit_member,
    parse_pde,
)
from physforge.storage_blocks.store import ArtifactStore

torch.set_num_threads(1)
TINY = dict(width=16, depth=2, checkpoint_every=50)


@pytest.fixture(scope="module")
def burgers_small():
    """Burgers on a 26 × 64 grid: clean and with 5 % noise."""
    from physforge.datasets.examples import make_example

    sub = dict(t=slice(0, None, 4), x=slice(0, None, 4))
    clean = make_example("burgers").isel(**sub)
    noisy = make_example("burgers", noise=0.05, seed=1).isel(**sub)
    return clean, noisy


class TwoModes(torch.nn.Module):
    """u = e^{-ν t} sin x + e^{-4ν t} sin 2x, an exact solution of u_t = ν u_xx."""

    nu = 0.1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, s = x[:, :1], x[:, 1:2]
        return torch.exp(-self.nu * t) * torch.sin(s) + torch.exp(-4 * self.nu * t) * torch.sin(
            2 * s
        )


@pytest.mark.parametrize("kind", NETWORK_KINDS)
def test_networks_rebuild_from_spec_and_state_dict(kind):
    spec = NetworkSpec(
        2,
        1,
        16,
        2,
        kind=kind,
        in_mean=(5.0, 0.0),
        in_scale=(5.0, 8.0),
        out_mean=(0.3,),
        out_scale=(0.2,),
    )
    net = build_network(spec, seed=3)
    again = build_network(NetworkSpec.from_dict(json.loads(json.dumps(spec.to_dict()))), seed=9)
    again.load_state_dict(net.state_dict())
    x = torch.rand(7, 2) * 10
    assert torch.equal(net(x), again(x))
    assert "_output_transform.scale" in net.state_dict()
    if kind == "fourier":
        assert any(k.endswith(".B") for k in net.state_dict())


def test_autodiff_matches_analytic_derivatives_up_to_fourth_order():
    net = TwoModes()
    t = torch.linspace(0, 2, 9, dtype=torch.float64)
    s = torch.linspace(-3, 3, 11, dtype=torch.float64)
    tt, ss = torch.meshgrid(t, s, indexing="ij")
    x = torch.stack([tt.ravel(), ss.ravel()], 1).requires_grad_(True)
    keys = [
        parse_derivative(n, ["u"], ["t", "x"])
        for n in ("u_x", "u_xx", "u_xxxx", "u_t", "u_xt", "u_tx")
    ]
    d = autodiff(net, x, keys, ["t", "x"], ["u"])
    nu, T, S = 0.1, x[:, 0].detach(), x[:, 1].detach()
    e1, e2 = torch.exp(-nu * T), torch.exp(-4 * nu * T)
    exact = {
        ("u", ("x",)): e1 * torch.cos(S) + 2 * e2 * torch.cos(2 * S),
        ("u", ("x", "x")): -e1 * torch.sin(S) - 4 * e2 * torch.sin(2 * S),
        ("u", ("x",) * 4): e1 * torch.sin(S) + 16 * e2 * torch.sin(2 * S),
        ("u", ("t",)): -nu * e1 * torch.sin(S) - 4 * nu * e2 * torch.sin(2 * S),
        ("u", ("t", "x")): -nu * e1 * torch.cos(S) - 8 * nu * e2 * torch.cos(2 * S),
    }
    for key, want in exact.items():
        torch.testing.assert_close(d[key], want, rtol=1e-10, atol=1e-10)
    assert parse_derivative("u_tx", ["u"], ["t", "x"]) == ("u", ("t", "x"))


def test_ensemble_derivatives_api_names_shapes_and_spread():
    ens = SurrogateEnsemble([TwoModes(), TwoModes()], ["t", "x"], ["u"])
    t, x = np.meshgrid(np.linspace(0, 1, 5), np.linspace(-2, 2, 7), indexing="ij")
    d, sd = ens.derivatives(
        {"t": t, "x": x}, ["u"], [(), ("x",), ("x", "x"), ("t",)], return_std=True
    )
    assert set(d) == {"u", "u_x", "u_xx", "u_t"}
    assert all(v.shape == t.shape for v in d.values())
    nu = 0.1
    np.testing.assert_allclose(d["u_t"], nu * d["u_xx"], atol=1e-12)  # the PDE holds
    assert max(float(v.max()) for v in sd.values()) == 0.0  # identical members: no spread
    mean, std = ens.predict({"t": t, "x": x})
    np.testing.assert_allclose(mean["u"], d["u"])
    with pytest.raises(Exception, match="lack coordinate"):
        ens.predict({"t": t})


def test_library_sparsify_finds_heat_equation_from_exact_derivatives():
    lib = candidate_library(["u"], ["x"], degree=2, order=2)
    assert {"1", "u", "u**2", "u_x", "u*u_x", "u_xx", "u**2*u_xx"} <= set(lib)
    phys = PhysicsResidual(
        ["u_t"], lib, np.zeros((1, len(lib))), True, ["u"], ["t", "x"], np.ones(1)
    )
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(400, 2, generator=g, dtype=torch.float64) * torch.tensor([3.0, 6.0])
    phys.sparsify(TwoModes(), pts, threshold=0.05)
    eq = phys.equations()["u_t"]
    assert set(eq) == {"u_xx"}, eq
    assert eq["u_xx"] == pytest.approx(0.1, rel=1e-2)


def test_parse_pde():
    lhs, terms, coefs = parse_pde("u_t = -1.0*u*u_x + 0.1*u_xx", ["u"], ["t", "x"])
    assert lhs == ["u_t"]
    assert dict(zip(terms, coefs[0])) == {"u*u_x": -1.0, "u_xx": 0.1}


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_member_denoises_burgers_and_physics_variants_train(burgers_small):
    clean, noisy = burgers_small
    data, truth = TrainData.from_dataset(noisy), TrainData.from_dataset(clean).y[:, 0]
    noise_err = _rel(data.y[:, 0], truth)
    cfg = SurrogateConfig(**TINY, adam_steps=1500, lbfgs_steps=200)
    fit = fit_member(data, cfg)
    pred = fit.net(torch.as_tensor(data.x, dtype=torch.float32)).detach().numpy()[:, 0]
    assert _rel(pred, truth) < 0.6 * noise_err  # a denoising ratio below 0.6
    assert fit.steps > 1500 and fit.history["loss"][-1] < fit.history["loss"][0]

    pde = SurrogateConfig(
        **TINY,
        adam_steps=300,
        lbfgs_steps=20,
        physics="pde",
        pde="u_t = -1.0*u*u_x + 0.1*u_xx",
        collocation_points=256,
    )
    fit = fit_member(data, pde)
    assert fit.equations == {"u_t": {"u*u_x": -1.0, "u_xx": pytest.approx(0.1)}}
    assert fit.history["physics"][-1] > 0


def test_scattered_points_train_and_predict_on_the_grid(burgers_small):
    clean, noisy = burgers_small
    grid = TrainData.from_dataset(noisy)
    idx = np.random.default_rng(0).choice(len(grid.y), len(grid.y) // 10, replace=False)
    scattered = TrainData.from_points(
        {"t": grid.x[idx, 0], "x": grid.x[idx, 1]}, {"u": grid.y[idx, 0]}
    )
    fit = fit_member(scattered, SurrogateConfig(**TINY, adam_steps=800, lbfgs_steps=100))
    ens = SurrogateEnsemble.from_fits([fit], ["t", "x"], ["u"])
    t, x = np.meshgrid(clean.t.values, clean.x.values, indexing="ij")
    mean, std = ens.predict({"t": t, "x": x})
    assert mean["u"].shape == clean.u.shape
    assert _rel(mean["u"], clean.u.values) < 0.25


def test_checkpoints_commit_prune_and_load(tmp_path):
    store = ArtifactStore(f"file://{tmp_path}/s")
    for step in (10, 20, 30):
        save_checkpoint(
            store,
            "surrogates/k/checkpoints/m0",
            step,
            {"w": torch.ones(3) * step},
            {"phase": "adam"},
        )
    assert [s for s, _ in list_checkpoints(store, "surrogates/k/checkpoints/m0")] == [20, 30]
    ck = latest_checkpoint(store, "surrogates/k/checkpoints/m0")
    assert ck.step == 30 and torch.equal(ck.state["w"], torch.full((3,), 30.0))
    # a checkpoint whose commit marker never landed is not taken
    (tmp_path / "s/surrogates/k/checkpoints/m0/step-000000040").mkdir()
    (tmp_path / "s/surrogates/k/checkpoints/m0/step-000000040/state.pt").write_bytes(b"junk")
    assert latest_checkpoint(store, "surrogates/k/checkpoints/m0").step == 30


_CHILD = """
import json, sys, torch
torch.set_num_threads(1)
from physforge.config import SurrogateConfig
from physforge.pinn.surrogate import TrainData, fit_member
from physforge.storage_blocks.store import ArtifactStore
d = json.loads(sys.argv[1])
data = TrainData(["t", "x"], ["u"], d["x"], d["y"])
fit_member(data, SurrogateConfig.model_validate(d["cfg"]), store=ArtifactStore(d["store"]),
           prefix="surrogates/kill/checkpoints/member-000")
"""


def test_killed_training_resumes_from_its_last_checkpoint(tmp_path, burgers_small):
    """SIGKILL the training process after a checkpoint; the rerun continues from it and ends
    where an uninterrupted run ends."""
    data = TrainData.from_dataset(burgers_small[1]).subsample(400, seed=0)
    cfg = SurrogateConfig(width=16, depth=2, adam_steps=2000, lbfgs_steps=0, checkpoint_every=100)
    url = f"file://{tmp_path}/s"
    store, prefix = ArtifactStore(url), "surrogates/kill/checkpoints/member-000"
    arg = json.dumps(
        {"x": data.x.tolist(), "y": data.y.tolist(), "cfg": cfg.model_dump(), "store": url}
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, arg], env=env)
    try:
        deadline = time.time() + 60
        while not list_checkpoints(store, prefix) and time.time() < deadline:
            assert child.poll() is None, "the training process ended before its first checkpoint"
            time.sleep(0.05)
        assert list_checkpoints(store, prefix), "no checkpoint within 60 s"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    killed_at = latest_checkpoint(store, prefix)
    assert killed_at.meta["pid"] == child.pid and 0 < killed_at.step < cfg.adam_steps

    resumed = fit_member(data, cfg, store=store, prefix=prefix)
    assert resumed.resumed_from_step >= killed_at.step > 0
    assert resumed.steps == cfg.adam_steps
    assert resumed.history["step"][0] < killed_at.step  # the history before the kill is kept

    fresh = fit_member(data, cfg)  # no store: from scratch, same seed
    for (name, a), b in zip(resumed.net.state_dict().items(), fresh.net.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_member_artifacts_roundtrip_through_the_store(tmp_path, burgers_small):
    data = TrainData.from_dataset(burgers_small[1]).subsample(300, seed=0)
    store = ArtifactStore(f"file://{tmp_path}/s")
    fits = [
        fit_member(data, SurrogateConfig(**TINY, adam_steps=60, lbfgs_steps=0), m) for m in range(2)
    ]
    prefixes = []
    for m, fit in enumerate(fits):
        prefixes.append(f"surrogates/k/members/member-{m:03d}")
        save_member(store, prefixes[-1], fit, data.coords, data.fields)
    ens = SurrogateEnsemble.load_members(store, prefixes)
    direct = SurrogateEnsemble.from_fits(fits, data.coords, data.fields)
    pts = {"t": data.x[:50, 0], "x": data.x[:50, 1]}
    np.testing.assert_allclose(ens.predict(pts)[0]["u"], direct.predict(pts)[0]["u"])
    assert ens.predict(pts)[1]["u"].max() > 0  # different seeds: a spread


def test_resume_inside_the_lbfgs_phase(tmp_path, burgers_small):
    """A checkpoint taken during L-BFGS restores its optimiser state and phase."""
    data = TrainData.from_dataset(burgers_small[1]).subsample(300, seed=0)
    store, prefix = ArtifactStore(f"file://{tmp_path}/s"), "surrogates/l/checkpoints/m0"
    first = fit_member(
        data,
        SurrogateConfig(**(TINY | {"checkpoint_every": 20}), adam_steps=40, lbfgs_steps=40),
        store=store,
        prefix=prefix,
    )
    ck = latest_checkpoint(store, prefix)
    assert ck.meta["phase"] == "lbfgs" and ck.step == first.steps > 40
    longer = fit_member(
        data,
        SurrogateConfig(**(TINY | {"checkpoint_every": 20}), adam_steps=40, lbfgs_steps=80),
        store=store,
        prefix=prefix,
    )
    assert longer.resumed_from_step == first.steps and longer.steps > first.steps
    assert longer.final_loss <= first.final_loss
