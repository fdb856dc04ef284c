"""Derivatives by autodiff of a PINN surrogate: the route for scattered measurements."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from physforge.config import DiscoveryConfig, FeatureConfig, PipelineConfig, SurrogateConfig
from physforge.datasets.canonical import canonicalize

SMALL = SurrogateConfig(width=32, depth=3, adam_steps=800, lbfgs_steps=200, members=1)


def _heat_grid():
    """u_t = 0.5 u_xx, exact: two decaying sine modes on [0, π]."""
    t, x = np.linspace(0, 1, 21), np.linspace(0, np.pi, 41)
    T, X = np.meshgrid(t, x, indexing="ij")
    u = np.exp(-0.5 * T) * np.sin(X) + 0.5 * np.exp(-2 * T) * np.sin(2 * X)
    return t, x, T, X, u


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_surrogate_autodiff_features_recover_heat_equation():
    from physforge.discovery.engine import discover_equations
    from physforge.discovery.features import surrogate_features
    from physforge.pinn.ensemble import SurrogateEnsemble
    from physforge.pinn.surrogate import TrainData, fit_member

    t, x, _, _, u = _heat_grid()
    ds = canonicalize(xr.Dataset({"u": (("t", "x"), u)}, coords={"t": t, "x": x}), "heat")
    data = TrainData.from_dataset(ds)
    ens = SurrogateEnsemble.from_fits([fit_member(data, SMALL, 0)], data.coords, data.fields)
    fs = surrogate_features(ens, ds, FeatureConfig(poly_degree=2, derivative_order=2))
    assert fs.info["derivatives_space"] == "surrogate"
    eq = discover_equations(fs, DiscoveryConfig(n_bootstrap=10))[0]
    assert set(eq["terms"]) == {"u_xx"}, eq["rhs"]
    assert eq["terms"]["u_xx"] == pytest.approx(0.5, rel=0.03)


def test_scattered_measurements_go_through_a_surrogate(prefect_api, tmp_path):
    """A CSV of scattered points with ``derivatives="surrogate"``: the flow trains a surrogate
    on Dask and discovers from it (without it, scattered data get mesh-free derivatives)."""
    from physforge.flows import discover

    _, _, T, X, u = _heat_grid()
    rng = np.random.default_rng(0)
    keep = rng.random(u.size) < 0.5
    pd.DataFrame({"t": T.ravel()[keep], "x": X.ravel()[keep], "u": u.ravel()[keep]}).to_csv(
        tmp_path / "scattered.csv", index=False, float_format="%.17g"
    )
    cfg = PipelineConfig(
        features=FeatureConfig(poly_degree=2, derivative_order=2, derivatives="surrogate"),
        discovery=DiscoveryConfig(n_bootstrap=10),
        surrogate=SMALL.model_copy(update={"n_workers": 1}),
    )
    result = discover(str(tmp_path / "scattered.csv"), cfg, store=f"file://{tmp_path}/store")
    best = result["equations"][0]
    assert best["method"].endswith("/surrogate")
    assert set(best["terms"]) == {"u_xx"}, best["rhs"]
    assert best["terms"]["u_xx"] == pytest.approx(0.5, rel=0.05)
    assert list((tmp_path / "store" / "surrogates").iterdir())
