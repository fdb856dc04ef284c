"""Discovery on irregular sampling: non-uniform time and space grids, without resampling."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.polynomial import polynomial as P

from physforge.config import DiscoveryConfig, FeatureConfig
from physforge.datasets.canonical import canonicalize
from physforge.datasets.examples import add_noise, irregular_subgrid, make_example
from physforge.discovery.derivatives import FiniteDifference, LocalPolynomial
from physforge.discovery.engine import discover_equations
from physforge.discovery.features import build_features
from physforge.discovery.weak import product_matrices

BURGERS = {"u*u_x": -1.0, "u_xx": 0.1}


def _check(eq, truth: dict[str, float], rel: float) -> None:
    assert set(eq["terms"]) == set(truth), eq["rhs"]
    for term, value in truth.items():
        assert eq["terms"][term] == pytest.approx(value, rel=rel), (term, eq["rhs"])


@pytest.fixture(scope="module")
def burgers_fine():
    return make_example("burgers", nx=256, nt=101)


def _uneven(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([[0.0], np.cumsum(rng.uniform(0.2, 1.8, n - 1))]) / n


@pytest.mark.parametrize("points", [2, 4])
def test_product_integration_is_exact_for_the_interpolant_degree(points):
    """∫ φ_c^(k) f on uneven nodes equals the exact integral when f is a polynomial the
    piecewise interpolant reproduces (linear for 2 points, cubic for 4)."""
    x = _uneven(60, seed=1)
    L, p = 0.2, 6
    centres = np.array([0.3, 0.5, 0.65])
    f = P.Polynomial([0.3, -1.0, 2.0, 1.5][:points])
    mats = product_matrices(x, centres, L, p, max_order=3, points=points)
    bump = P.Polynomial(P.polypow([1.0, 0.0, -1.0], p))
    for k, M in enumerate(mats):
        d = bump.deriv(k) if k else bump
        for c, xc in zip(centres, M @ f(x)):
            # exact: substitute x = c + L s, ∫_{-1}^{1} φ^(k)(s) / L^k · f(c + L s) L ds
            g = d * f(P.Polynomial([c, L]))
            exact = float(g.integ()(1.0) - g.integ()(-1.0)) * L / L**k
            assert xc == pytest.approx(exact, rel=1e-10, abs=1e-12)


def test_finite_differences_use_the_actual_offsets():
    x = np.sort(_uneven(200, seed=2) * 2 * np.pi)
    u = np.sin(x)[None, :] * np.ones((3, 1))
    for order, truth in [(1, np.cos(x)), (2, -np.sin(x))]:
        d = FiniteDifference(accuracy=4).differentiate(u, x, axis=1, order=order)
        inner = ~np.isnan(d[0])
        assert inner.sum() >= 190
        assert np.abs(d[0, inner] - truth[inner]).max() < 5e-4
    smooth = LocalPolynomial(window=11, degree=4).differentiate(u, x, axis=1, order=1)
    inner = ~np.isnan(smooth[0])
    assert np.abs(smooth[0, inner] - np.cos(x)[inner]).max() < 1e-3


@pytest.mark.parametrize("noise", [0.0, 0.01, 0.1])
def test_weak_form_on_a_non_uniform_grid_in_time_and_space(burgers_fine, noise):
    """Random sorted subsets of a fine Burgers solution's times and positions (steps varying by
    up to ~10x, every value exact): the weak form integrates on the actual nodes."""
    irr = irregular_subgrid(burgers_fine, {"t": 61, "x": 128}, seed=0)
    steps = np.diff(irr["x"].values)
    assert steps.max() / steps.min() > 5 and np.ptp(np.diff(irr["t"].values)) > 0
    ds = canonicalize(add_noise(irr, noise, seed=1), "irregular")
    fs = build_features(ds, FeatureConfig())
    assert fs.info["derivatives_space"] == "weak" and fs.info["nonuniform_axes"] == "t,x"
    assert fs.info["weak_interpolation"] == ("linear" if noise > 0.02 else "cubic")
    eq = discover_equations(fs, DiscoveryConfig(n_bootstrap=10))[0]
    _check(eq, BURGERS, rel=0.005 if noise <= 0.01 else 0.05)


def test_pointwise_route_on_a_non_uniform_grid(burgers_fine):
    irr = irregular_subgrid(burgers_fine, {"t": 61, "x": 160}, seed=3)
    fs = build_features(canonicalize(irr, "irregular"), FeatureConfig(derivatives="auto-pointwise"))
    assert fs.info["derivatives_space"] == "finite-difference"
    _check(discover_equations(fs, DiscoveryConfig(n_bootstrap=0))[0], BURGERS, rel=0.01)
