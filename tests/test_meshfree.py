"""Scattered measurements without a PINN surrogate: moving least squares on the points
(meshfree-poly), and the weak form on the grid they are resampled onto (weak-resampled,
scattered data's default)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from physforge.config import DiscoveryConfig, FeatureConfig
from physforge.datasets.examples import make_example
from physforge.datasets.ingest import load_canonical
from physforge.discovery.meshfree import MovingLeastSquares, interior_points, sampling_steps


def test_derivatives_of_an_analytic_scattered_field():
    """u = sin(x) cos(t) at 3000 random points: degree-5 fits over 63 neighbours give u_x,
    u_xx and u_t within 1e-3 relative error (measured: 2e-6, 6e-5, 2e-6)."""
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(0, 2, 3000), rng.uniform(0, 2 * np.pi, 3000)])
    t, x = pts.T
    steps = sampling_steps(pts)
    centres = interior_points(pts / steps, 6.0)
    mls = MovingLeastSquares(degree=5).fit(pts, (np.sin(x) * np.cos(t))[:, None], centres, steps)
    assert mls.neighbours_ == 63 and centres.size > 1000
    tc, xc = pts[centres].T
    exact = {
        (0, 1): np.cos(xc) * np.cos(tc),
        (0, 2): -np.sin(xc) * np.cos(tc),
        (1,): -np.sin(xc) * np.sin(tc),
    }
    for alpha, want in exact.items():
        got = mls.derivative(alpha)[:, 0]
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-3, alpha


def _scattered_burgers(tmp_path, noise: float, fraction: float = 0.2):
    """A random ``fraction`` of the example Burgers grid (u_t = -u u_x + 0.1 u_xx), as a CSV
    table of points, read back as the canonical scattered dataset."""
    ds = make_example("burgers", noise=noise, seed=1)
    df = ds.to_dataframe().reset_index()
    rng = np.random.default_rng(0)
    df = df.iloc[np.sort(rng.choice(len(df), int(fraction * len(df)), replace=False))]
    path = tmp_path / "points.csv"
    df[["t", "x", "u"]].to_csv(path, index=False, float_format="%.17g")
    return load_canonical(str(path)).load()


@pytest.mark.parametrize("noise", [0.01, 0.02])
def test_scattered_burgers_meshfree_poly(tmp_path, noise):
    """20 % of the grid (5171 points) at 1-2 % noise: exactly {u*u_x, u_xx} from the pointwise
    local fits, coefficients within 6 % (measured: 2.5 % and 2.1 %)."""
    from physforge.discovery.engine import discover_equations
    from physforge.discovery.features import build_features

    ds = _scattered_burgers(tmp_path, noise)
    assert ds.attrs["physforge_layout"] == "scattered"
    fs = build_features(ds, FeatureConfig(derivatives="meshfree-poly"))
    assert fs.info["derivatives_space"] == fs.info["derivatives_time"] == "meshfree-poly"
    assert fs.info["meshfree_degree"] == 5 and fs.info["meshfree_neighbours"] == 63
    assert fs.info["noise_estimate"] == pytest.approx(noise, rel=0.3)
    eq = discover_equations(fs, DiscoveryConfig(n_bootstrap=10))[0]
    assert set(eq["terms"]) == {"u*u_x", "u_xx"}, eq["rhs"]
    assert eq["terms"]["u*u_x"] == pytest.approx(-1.0, rel=0.06)
    assert eq["terms"]["u_xx"] == pytest.approx(0.1, rel=0.06)


@pytest.mark.xfail(
    strict=True,
    reason="known limitation: on clean scattered data the local fits' truncation error at the "
    "Burgers front is not noise, so no noise test runs and third-derivative terms are kept",
)
def test_scattered_burgers_clean_meshfree_poly(tmp_path):
    from physforge.discovery.engine import discover_equations
    from physforge.discovery.features import build_features

    fs = build_features(
        _scattered_burgers(tmp_path, 0.0), FeatureConfig(derivatives="meshfree-poly")
    )
    eq = discover_equations(fs, DiscoveryConfig(n_bootstrap=0))[0]
    assert set(eq["terms"]) == {"u*u_x", "u_xx"}, eq["rhs"]


def test_scattered_burgers_clean_default_route(tmp_path):
    """Clean points, the default features (auto: the weak form on the resampled grid, so the
    local fits' truncation error is averaged by the test functions): exactly {u*u_x, u_xx},
    coefficients within 1 % (measured: 0.10 % and 0.13 %)."""
    from physforge.discovery.engine import discover_equations
    from physforge.discovery.features import build_features

    fs = build_features(_scattered_burgers(tmp_path, 0.0), FeatureConfig())
    assert fs.info["derivatives_space"] == "weak/mls-grid"
    eq = discover_equations(fs, DiscoveryConfig(n_bootstrap=0))[0]
    assert set(eq["terms"]) == {"u*u_x", "u_xx"}, eq["rhs"]
    assert eq["terms"]["u*u_x"] == pytest.approx(-1.0, rel=0.01)
    assert eq["terms"]["u_xx"] == pytest.approx(0.1, rel=0.01)
    assert eq["identifiable"] is True


def test_grid_only_routes_refuse_scattered_data(tmp_path):
    from physforge.discovery.features import build_features
    from physforge.errors import DataValidationError

    ds = _scattered_burgers(tmp_path, 0.0, fraction=0.05)
    with pytest.raises(DataValidationError, match="derivatives='weak' needs a grid.*meshfree"):
        build_features(ds, FeatureConfig(derivatives="weak"))


def test_the_flow_discovers_scattered_points_without_a_surrogate(prefect_api, tmp_path):
    """``discover`` on a CSV of scattered points: no PINN is trained (no surrogates in the
    store), the features are the weak form of the resampled grid."""
    from physforge.config import PipelineConfig
    from physforge.flows import discover

    df = make_example("burgers", noise=0.01, seed=1).to_dataframe().reset_index()
    rng = np.random.default_rng(0)
    df = df.iloc[np.sort(rng.choice(len(df), len(df) // 5, replace=False))]
    pd.DataFrame(df[["t", "x", "u"]]).to_csv(
        tmp_path / "points.csv", index=False, float_format="%.17g"
    )
    cfg = PipelineConfig(discovery=DiscoveryConfig(n_bootstrap=10))
    result = discover(str(tmp_path / "points.csv"), cfg, store=f"file://{tmp_path}/store")
    best = result["equations"][0]
    assert set(best["terms"]) == {"u*u_x", "u_xx"}, best["rhs"]
    assert "weak" in best["method"], best["method"]
    assert result["features"]["derivatives_space"] == "weak/mls-grid"
    assert not (tmp_path / "store" / "surrogates").exists()


# --- weak-resampled: MLS onto a grid, then the grid's weak form -------------------------------
def test_resampling_grid_follows_the_points():
    """Points drawn from a lattice keep its nodes per axis (fewer distinct values than N / 4);
    spread points get 2 √N + 1 nodes per axis in 2-D."""
    from physforge.discovery.resample import grid_axes

    rng = np.random.default_rng(0)
    lattice = np.stack(np.meshgrid(np.arange(101.0), np.arange(256.0), indexing="ij"), -1)
    pts = lattice.reshape(-1, 2)[rng.choice(101 * 256, 5000, replace=False)]
    assert grid_axes(pts) == [101, 256]
    assert grid_axes(rng.uniform(0, 1, (2500, 2))) == [101, 101]


@pytest.mark.parametrize("noise", [0.05, 0.10])
def test_scattered_burgers_weak_resampled(tmp_path, noise):
    """20 % of the grid at 5 and 10 % noise: the weak form on the MLS-resampled grid gives
    exactly {u*u_x, u_xx}, coefficients within 4 % (measured: 0.8 % and 1.7 %); the noise
    estimate is the fits' residual (within 30 %), not the smoothed grid's."""
    from physforge.discovery.engine import discover_equations
    from physforge.discovery.features import build_features

    fs = build_features(
        _scattered_burgers(tmp_path, noise), FeatureConfig(derivatives="weak-resampled")
    )
    assert fs.info["derivatives_space"] == fs.info["derivatives_time"] == "weak/mls-grid"
    assert fs.info["resampled_shape"] == [101, 256] and fs.info["mls_degree"] == 2
    assert fs.info["noise_estimate"] == pytest.approx(noise, rel=0.3)
    eq = discover_equations(fs, DiscoveryConfig(n_bootstrap=10))[0]
    assert set(eq["terms"]) == {"u*u_x", "u_xx"}, eq["rhs"]
    assert eq["terms"]["u*u_x"] == pytest.approx(-1.0, rel=0.04)
    assert eq["terms"]["u_xx"] == pytest.approx(0.1, rel=0.04)


def test_weak_resampled_leaves_unsupported_nodes_nan(tmp_path):
    """Points only below the diagonal of (t, x): nodes beyond the hull are NaN, the weak form
    drops the test functions touching them, every feature is finite and Burgers is found."""
    from physforge.discovery.engine import discover_equations
    from physforge.discovery.features import build_features
    from physforge.discovery.resample import resample_to_grid

    ds = make_example("burgers", noise=0.05, seed=1)
    df = ds.to_dataframe().reset_index()
    t, x = df["t"].to_numpy(), df["x"].to_numpy()
    keep = (t - t.min()) / np.ptp(t) + (x - x.min()) / np.ptp(x) < 1.4
    rng = np.random.default_rng(0)
    df = df[keep].iloc[np.sort(rng.choice(int(keep.sum()), 6000, replace=False))]
    df[["t", "x", "u"]].to_csv(tmp_path / "p.csv", index=False, float_format="%.17g")
    pts = load_canonical(str(tmp_path / "p.csv")).load()
    grid, facts = resample_to_grid(pts)
    u = grid["u"].transpose("t", "x").values
    tt, xx = np.meshgrid(grid["t"].values, grid["x"].values, indexing="ij")
    diagonal = (tt - tt.min()) / np.ptp(tt) + (xx - xx.min()) / np.ptp(xx)
    assert np.isnan(u[diagonal > 1.45]).all() and facts["nan_nodes"] >= (diagonal > 1.45).sum()
    assert np.isfinite(u[3:-3, 3:-3][diagonal[3:-3, 3:-3] < 1.3]).all()
    fs = build_features(pts, FeatureConfig(derivatives="weak-resampled"))
    assert np.isfinite(fs.theta).all() and np.isfinite(fs.target).all()
    eq = discover_equations(fs, DiscoveryConfig(n_bootstrap=0))[0]
    assert set(eq["terms"]) == {"u*u_x", "u_xx"}, eq["rhs"]
