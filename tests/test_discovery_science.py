"""Discovery science without Prefect: each backend and derivative route recovers known PDEs."""

from __future__ import annotations

import numpy as np
import pytest

from physforge.config import DiscoveryConfig, FeatureConfig, PipelineConfig
from physforge.datasets.canonical import canonicalize
from physforge.datasets.examples import make_example
from physforge.discovery.engine import discover_equations
from physforge.discovery.features import build_features
from physforge.discovery.regression import Candidate
from physforge.discovery.weak import expand_conservative
from physforge.errors import BackendUnavailableError


def _data(name: str, noise: float = 0.0, **kw):
    return canonicalize(make_example(name, noise=noise, **kw), name)


def _best(eqs, lhs="u_t"):
    return next(e for e in eqs if e["lhs"] == lhs and e["rank"] == 1)


def _check(eq, truth: dict[str, float], rel: float) -> None:
    assert set(eq["terms"]) == set(truth), eq["rhs"]
    for term, value in truth.items():
        assert eq["terms"][term] == pytest.approx(value, rel=rel), (term, eq["rhs"])


@pytest.fixture(scope="module")
def burgers_noisy():
    return _data("burgers", noise=0.05)


def test_conservative_terms_expand_to_strong_form():
    assert expand_conservative("u**2", ("x",), ("x",)) == {"u*u_x": 2.0}
    assert expand_conservative("u**2", ("x", "x"), ("x",)) == {"u_x**2": 2.0, "u*u_xx": 2.0}
    assert expand_conservative("u*v", ("y",), ("x", "y")) == {"u*v_y": 1.0, "u_y*v": 1.0}


@pytest.mark.parametrize("backend", ["stlsq", "sr3", "ensemble"])
def test_sparse_backends_recover_burgers_at_5_percent_noise(burgers_noisy, backend):
    fs = build_features(burgers_noisy, FeatureConfig())
    assert fs.info["derivatives_space"] == "weak"
    eq = _best(discover_equations(fs, DiscoveryConfig(backend=backend, n_bootstrap=20)))
    _check(eq, {"u*u_x": -1.0, "u_xx": 0.1}, rel=0.01)
    assert eq["method"] == f"{backend}/weak"


def test_uncertainty_is_honest_at_5_percent_noise(burgers_noisy):
    fs = build_features(burgers_noisy, FeatureConfig())
    eq = _best(discover_equations(fs, DiscoveryConfig(n_bootstrap=40)))
    for term, truth in {"u*u_x": -1.0, "u_xx": 0.1}.items():
        lo, hi = eq["ci95"][term]
        assert lo < eq["terms"][term] < hi
        assert lo <= truth <= hi, (term, lo, hi)
        assert hi - lo < 0.05 * abs(truth)  # informative, not vacuous
        assert eq["inclusion_probability"][term] >= 0.95
    spurious = {k: p for k, p in eq["inclusion_probability"].items() if k not in eq["terms"]}
    assert all(p <= 0.5 for p in spurious.values()), spurious


@pytest.mark.parametrize("derivatives", ["auto-pointwise", "spectral", "finite-difference"])
def test_pointwise_derivatives_on_clean_burgers(derivatives):
    cfg = FeatureConfig(derivatives=derivatives, poly_degree=2, derivative_order=3)
    fs = build_features(_data("burgers"), cfg)
    _check(
        _best(discover_equations(fs, DiscoveryConfig(n_bootstrap=5))),
        {"u*u_x": -1.0, "u_xx": 0.1},
        rel=0.01,
    )


def test_poly_derivatives_on_noisy_data():
    """Local polynomial (Savitzky–Golay) derivatives, PDE-FIND's noisy-data method."""
    cfg = FeatureConfig(derivatives="poly", poly_degree=2, derivative_order=2)
    fs = build_features(_data("burgers", noise=0.001), cfg)
    _check(
        _best(discover_equations(fs, DiscoveryConfig(n_bootstrap=5))),
        {"u*u_x": -1.0, "u_xx": 0.1},
        rel=0.05,
    )


def test_fourth_order_kuramoto_sivashinsky():
    fs = build_features(_data("kuramoto_sivashinsky", noise=0.01), FeatureConfig())
    _check(
        _best(discover_equations(fs, DiscoveryConfig(n_bootstrap=5))),
        {"u*u_x": -1.0, "u_xx": -1.0, "u_xxxx": -1.0},
        rel=0.01,
    )


def test_two_field_system_one_equation_per_lhs():
    ds = _data("reaction_diffusion", noise=0.01)
    fs = build_features(ds, FeatureConfig(poly_degree=3, derivative_order=2))
    eqs = discover_equations(fs, DiscoveryConfig(n_bootstrap=5))
    assert [e["lhs"] for e in eqs[:2]] == ["u_t", "v_t"]
    _check(
        _best(eqs, "u_t"),
        {"u_xx": 0.1, "u": 1.0, "u**3": -1.0, "u*v**2": -1.0, "u**2*v": 1.0, "v**3": 1.0},
        rel=0.02,
    )
    _check(
        _best(eqs, "v_t"),
        {"v_xx": 0.1, "v": 1.0, "u**2*v": -1.0, "v**3": -1.0, "u**3": -1.0, "u*v**2": -1.0},
        rel=0.02,
    )


def test_two_space_dimensions():
    fs = build_features(
        _data("heat2d", noise=0.01), FeatureConfig(poly_degree=2, derivative_order=2)
    )
    _check(
        _best(discover_equations(fs, DiscoveryConfig(n_bootstrap=5))),
        {"u_xx": 0.1, "u_yy": 0.1},
        rel=0.01,
    )


def test_symbolic_regression_without_julia():
    cfg = PipelineConfig.model_validate(
        {
            "discovery": {
                "backend": "operon",
                "n_bootstrap": 5,
                "sr_generations": 150,
                "sr_population": 500,
            },
            "features": {"poly_degree": 2, "derivative_order": 2},
        }
    )
    assert cfg.features.derivatives == "auto-pointwise"
    fs = build_features(_data("burgers"), cfg.features)
    eq = _best(discover_equations(fs, cfg.discovery))
    _check(eq, {"u*u_x": -1.0, "u_xx": 0.1}, rel=0.01)
    assert eq["method"].startswith("operon/")


def test_pysr_without_julia_says_what_is_missing(burgers_noisy):
    cfg = PipelineConfig.model_validate({"discovery": {"backend": "pysr"}})
    fs = build_features(_data("burgers"), cfg.features.model_copy(update={"poly_degree": 1}))
    with pytest.raises(BackendUnavailableError, match=r"(?s)pysr.*Julia.*operon"):
        discover_equations(fs, cfg.discovery)


def test_unknown_backend_lists_the_choices():
    # Refused where the configuration is built (before any work), with every valid choice.
    with pytest.raises(ValueError, match=r"unknown discovery backend 'lasso'.*stlsq.*ensemble"):
        DiscoveryConfig(backend="lasso")


def test_pareto_rule_prefers_the_sparsest_admissible_model():
    ref = Candidate((0, 1, 2, 3), np.zeros(4), rss=1.0, n=100)
    kw = {
        "tss": 100.0,
        "reference": ref,
        "n_terms": 4,
        "fitted_norm": 10.0,
        "target_norm": 10.0,
        "tolerance": 1.5,
    }
    sparse_ok = Candidate((0, 1), np.zeros(4), rss=1.2, n=100)  # residual ×1.10
    sparse_bad = Candidate((0,), np.zeros(4), rss=9.0, n=100)  # residual ×3
    dense = Candidate((0, 1, 2), np.zeros(4), rss=1.01, n=100)
    scores = {c.k: c.scores(**kw)["pareto"] for c in (sparse_ok, sparse_bad, dense)}
    assert scores[2] < scores[3] < scores[1]
