"""Active experiment design: candidates, acquisitions, batches, the proposal table, the loop."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from pydantic import ValidationError

from physforge.config import LoopConfig, ProposalConfig
from physforge.discovery.design.acquisitions import (
    BootstrapSurrogate,
    DesignContext,
    get_acquisition,
    rival_models,
)
from physforge.discovery.design.batch import select_batch
from physforge.discovery.design.candidates import Box, DesignSpace, candidate_designs
from physforge.discovery.design.loop import (
    concat_features,
    design_space,
    propose,
    run_loop,
    should_stop,
)
from physforge.discovery.design.oracle import WindowOracle, parse_equation
from physforge.discovery.design.solver import integrate, rates
from physforge.discovery.design.table import proposal_table
from physforge.errors import ConfigError, DataValidationError

DOMAIN = {"t": (0.0, 10.0), "x": (-8.0, 8.0)}


def _space(**kw) -> DesignSpace:
    return DesignSpace(dict(DOMAIN), {"t": 2.0, "x": 2.0}, **kw)


def _bump(n: int = 128) -> xr.Dataset:
    x = -8.0 + 16.0 * np.arange(n) / n
    return xr.Dataset({"u": (("x",), np.exp(-((x + 2.0) ** 2)))}, coords={"x": x})


# --- candidates, bounds, forbidden regions, budget --------------------------------------------
@pytest.mark.parametrize("method", ["sobol", "lhs"])
def test_candidates_respect_bounds_and_forbidden_regions(method):
    forbidden = [Box({"x": (-1.0, 1.0)}), Box({"t": (6.0, 8.0), "x": (2.0, 5.0)})]
    space = DesignSpace({"t": (1.0, 9.0), "x": (-6.0, 6.0)}, {"t": 2.0, "x": 2.0}, forbidden)
    pts = candidate_designs(space, 200, method, seed=3)
    assert len(pts) == 200
    lo, hi = space.extent(pts)
    assert np.all(lo[:, 0] >= 1.0 - 1e-9) and np.all(hi[:, 0] <= 9.0 + 1e-9)
    assert np.all(lo[:, 1] >= -6.0 - 1e-9) and np.all(hi[:, 1] <= 6.0 + 1e-9)
    assert not np.any((hi[:, 1] > -1.0) & (lo[:, 1] < 1.0))  # no window touches |x| < 1
    assert not np.any((hi[:, 0] > 6) & (lo[:, 0] < 8) & (hi[:, 1] > 2) & (lo[:, 1] < 5))


def test_oracle_windows_stay_on_grid_and_in_bounds():
    oracle = WindowOracle.from_example("burgers", {"t": 21, "x": 16}, noise=0.05, nx=64, nt=51)
    cfg = ProposalConfig(
        bounds={"t": (2.0, 8.0), "x": (-8.0, 4.0)}, forbidden=[{"x": (-3.0, -2.0)}]
    )
    extent = {"t": 20 * 0.2, "x": 15 * 0.25}
    space = design_space(cfg, oracle.domain(), extent, oracle.snap)
    pts = candidate_designs(space, 50, "sobol")
    assert space.admissible(pts).all()
    tiles = oracle.measure(pts[:3])
    for tile, p in zip(tiles, pts[:3]):
        assert dict(tile.sizes) == {"t": 21, "x": 16}
        assert float(tile.x.min()) >= -8.0 and float(tile.x.max()) <= 4.0
        assert float(tile.t.min()) >= 2.0 and float(tile.t.max()) <= 8.0
        assert not ((tile.x > -3.0) & (tile.x < -2.0)).any()
        assert float(tile.t.mean()) == pytest.approx(p[0]) and tile.attrs["periodic"] == "none"


def test_proposals_respect_budget_and_batch_size():
    ctx = DesignContext(_space(), noise_sigma=0.1)
    cfg = ProposalConfig(acquisition="random", budget=5, batch_size=3, n_candidates=64)
    assert len(propose(ctx, cfg, used=0)) == 3
    assert len(propose(ctx, cfg, used=4)) == 1  # only one measurement left
    with pytest.raises(ConfigError, match="budget spent: 5 of 5"):
        propose(ctx, cfg, used=5)


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"budget": 2, "batch_size": 3}, "batch_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"budget": 0}, "budget"),
        ({"bounds": {"x": (3.0, 1.0)}}, "bounds.x"),
        ({"forbidden": [{"x": (2.0, 1.0)}]}, "forbidden[0].x"),
        ({"bounds": {"x": (0.0, 1.0)}, "forbidden": [{"t": (0.0, 1.0)}]}, "forbidden[0]"),
        ({"acquisition": "magic"}, "acquisition"),
        ({"n_candidates": 0}, "n_candidates"),
    ],
)
def test_invalid_proposal_configs_are_refused_naming_the_field(bad, field):
    with pytest.raises(ValidationError) as exc:
        ProposalConfig(**bad)
    assert field in str(exc.value)


def test_bounds_outside_the_domain_and_fully_forbidden_spaces_are_refused():
    with pytest.raises(ConfigError, match=r"bounds.x = \[-20.0, 0.0\] lies outside"):
        design_space(ProposalConfig(bounds={"x": (-20.0, 0.0)}), DOMAIN, {"x": 1.0})
    with pytest.raises(ConfigError, match="'y' is not a dimension"):
        design_space(ProposalConfig(bounds={"y": (0.0, 1.0)}), DOMAIN, {})
    space = _space(forbidden=[Box({"x": (-9.0, 9.0)})])
    with pytest.raises(ConfigError, match="no admissible measurement"):
        candidate_designs(space, 10)
    with pytest.raises(ConfigError, match="window.x"):
        DesignSpace({"x": (0.0, 1.0)}, {"x": 2.0})
    with pytest.raises(ValidationError, match="window.x"):
        LoopConfig(window={"t": 41, "x": 5})


def test_table_schema_refuses_out_of_bounds_rows():
    space = _space(forbidden=[Box({"x": (3.0, 4.0)})])
    ok = proposal_table(np.array([[5.0, 0.0]]), [1.0], [0.5], [""], "random", space)
    assert list(ok["rank"]) == [1] and ok["x"].iloc[0] == 0.0
    for bad in ([[0.5, 0.0]], [[5.0, 3.5]]):  # window leaves t bounds; touches forbidden
        with pytest.raises(DataValidationError, match="proposal table refused"):
            proposal_table(np.array(bad), [1.0], [0.5], [""], "random", space)


# --- acquisitions -----------------------------------------------------------------------------
def test_forward_solver_reproduces_the_burgers_generator():
    from physforge.datasets.examples import burgers

    full = burgers(nx=128, nt=21, t_end=2.0)
    pred = integrate(
        {"u_t": {"u*u_x": -1.0, "u_xx": 0.1}}, full.isel(t=0).drop_vars("t"), full.t.values
    )
    assert float(np.abs(pred.u - full.u).max()) < 1e-4
    wrong = integrate({"u_t": {"u_xx": -0.5}}, full.isel(t=0).drop_vars("t"), full.t.values)
    assert np.isnan(wrong.u.values[-1]).all()  # anti-diffusion diverges: NaN, not an error


def test_discrimination_is_largest_where_the_models_differ():
    eqs = [
        {"lhs": "u_t", "rank": 1, "terms": {"u_xx": 0.1}},
        {"lhs": "u_t", "rank": 2, "terms": {"u_xx": 0.4}},
    ]
    ctx = DesignContext(
        _space(), equations=eqs, state=_bump(), times=np.linspace(0, 10, 51), noise_sigma=0.01
    )
    acq = get_acquisition("discrimination", drop_one=False, signal_gate=False, target="state").fit(
        ctx
    )
    cands = np.array([[5.0, -2.0], [5.0, 6.0], [1.1, -2.0]])
    scores = acq.score(cands)
    assert np.argmax(scores) == 0  # on the bump, after the two diffusivities have acted
    assert scores[1] < 0.05 * scores[0]  # far from the bump both models say u = 0
    assert scores[2] < scores[0]  # early on they have not diverged yet
    assert acq.separates(cands[:1]) == ["rank 1 | rank 2"]
    assert acq.expected_gain(cands)[0] > 0


def test_signal_gate_skips_windows_where_a_rival_expects_only_noise():
    eqs = [
        {"lhs": "u_t", "rank": 1, "terms": {"u_x": -1.0}},  # the bump travels right
        {"lhs": "u_t", "rank": 2, "terms": {"u_xx": 0.01}},
    ]  # the bump stays
    ctx = DesignContext(
        _space(), equations=eqs, state=_bump(), times=np.linspace(0, 10, 51), noise_sigma=0.01
    )
    cands = np.array([[5.0, 3.0], [1.5, -1.0]])
    plain = get_acquisition(
        "discrimination", drop_one=False, signal_gate=False, target="state"
    ).fit(ctx)
    gated = get_acquisition("discrimination", drop_one=False, target="state").fit(ctx)
    assert plain.score(cands)[0] > 1.0  # the models disagree where the bump has gone …
    assert gated.score(cands)[0] < 0.01 * plain.score(cands)[0]  # … but one predicts noise
    assert gated.score(cands)[1] > 0.5 * plain.score(cands)[1]  # both see the bump here


def test_rates_are_the_models_time_derivative_on_a_given_field():
    from physforge.datasets.examples import burgers

    full = burgers(nx=128, nt=201, t_end=2.0)
    r = rates({"u_t": {"u*u_x": -1.0, "u_xx": 0.1}}, full)["u_t"]
    fd = np.gradient(full.u.values, full.t.values, axis=0)
    assert float(np.abs(r.values - fd)[5:-5].max()) < 1e-2 * float(np.abs(fd).max())


def test_rate_discrimination_scores_where_the_terms_differ_not_where_forecasts_drift():
    eqs = [
        {"lhs": "u_t", "rank": 1, "terms": {"u_xx": 0.1}},
        {"lhs": "u_t", "rank": 2, "terms": {"u_xx": 0.4}},
    ]
    ctx = DesignContext(
        _space(), equations=eqs, state=_bump(), times=np.linspace(0, 10, 51), noise_sigma=0.01
    )
    acq = get_acquisition("discrimination", drop_one=False, signal_gate=False).fit(ctx)
    cands = np.array([[5.0, -2.0], [5.0, 6.0], [1.1, -2.0]])
    scores = acq.score(cands)
    # the rates 0.1 u_xx and 0.4 u_xx differ most while the bump is sharp, not once the
    # two forecasts have drifted apart; far from the bump both rates are 0 on any forecast
    assert np.argmax(scores) == 2 and scores[1] < 0.05 * scores[0]
    assert acq.separates(cands[2:]) == ["rank 1 | rank 2"]
    assert acq.expected_gain(cands)[2] == pytest.approx(scores[2])


def test_rate_discrimination_survives_rivals_that_diverge():
    eqs = [
        {"lhs": "u_t", "rank": 1, "terms": {"u_xx": -0.5}},  # anti-diffusion: ill-posed
        {"lhs": "u_t", "rank": 2, "terms": {"u_xx": -0.2, "u*u_x": -1.0}},
    ]
    ctx = DesignContext(
        _space(), equations=eqs, state=_bump(), times=np.linspace(0, 10, 51), noise_sigma=0.01
    )
    acq = get_acquisition("discrimination", drop_one=False).fit(ctx)
    scores = acq.score(np.array([[1.0, -2.0], [1.0, 5.0]]))
    # growing modes held: the forecasts are finite fields to compare the rates on
    assert np.isfinite(acq.states_[0].u.values).all()
    assert scores[0] > 0.1 and scores[0] > 10 * scores[1]


def test_discrimination_refuses_an_unknown_target():
    ctx = DesignContext(
        _space(),
        equations=[{"lhs": "u_t", "terms": {"u_xx": 0.1}}],
        state=_bump(),
        noise_sigma=0.01,
    )
    with pytest.raises(ConfigError, match="discrimination target 'phase'"):
        get_acquisition("discrimination", target="phase").fit(ctx)


def test_rival_models_add_the_best_model_without_each_term():
    eqs = [
        {"lhs": "u_t", "rank": 1, "terms": {"u*u_x": -1.0, "u_xx": 0.1}},
        {"lhs": "u_t", "rank": 2, "terms": {"u*u_x": -1.0}},
    ]
    labels = [label for label, _ in rival_models(eqs, top=3)]
    # without u_xx it is rank 2 (kept once); without u*u_x it is new
    assert labels == ["rank 1", "rank 2", "rank 1 without u*u_x"]
    assert len(rival_models(eqs, top=1, drop_one=False)) == 1


class _FakeEnsemble:
    """Members that agree for x < 0 and disagree for x > 0."""

    def predict(self, points):
        x = np.asarray(points["x"])
        return {"u": np.zeros_like(x)}, {"u": np.where(x > 0, 1.0, 0.01)}


def test_uncertainty_is_largest_where_ensemble_members_disagree():
    ctx = DesignContext(_space(), surrogate=_FakeEnsemble(), noise_sigma=0.1)
    acq = get_acquisition("uncertainty").fit(ctx)
    scores = acq.score(np.array([[5.0, -4.0], [5.0, 4.0]]))
    assert scores[1] > 10 * scores[0]
    gain = acq.expected_gain(np.array([[5.0, 4.0]]))
    assert gain[0] == pytest.approx(0.5 * np.log1p(1.0 / 0.01), rel=1e-6)


def _measured_left(n: int = 3) -> list[xr.Dataset]:
    t = np.linspace(0, 10, 21)
    x = np.linspace(-8, -2, 13)
    u = np.sin(t[:, None] / 3) * np.cos(x[None, :])
    return [xr.Dataset({"u": (("t", "x"), u)}, coords={"t": t, "x": x})]


def test_cheap_surrogate_and_gp_are_unsure_away_from_the_data():
    space = _space()
    sur = BootstrapSurrogate(seed=1).fit(_measured_left(), space)
    _, std = sur.predict({"t": np.array([5.0, 5.0]), "x": np.array([-5.0, 6.0])})
    assert std["u"][1] > 3 * std["u"][0]
    ctx = DesignContext(space, measurements=_measured_left(), noise_sigma=0.05)
    gp = get_acquisition("gp-eig").fit(ctx)
    scores = gp.score(np.array([[5.0, -5.0], [5.0, 6.0]]))
    assert scores[1] > scores[0] >= 0


def test_batches_do_not_cluster():
    space = _space()
    cands = candidate_designs(space, 256, "sobol", seed=1)

    class Peak:  # one sharp optimum at (5, 0)
        def score(self, c):
            return np.exp(-np.sum((np.atleast_2d(c) - [5.0, 0.0]) ** 2, axis=1))

    spread, _ = select_batch(cands, Peak(), 4, space, length=1.0)
    clustered, _ = select_batch(cands, Peak(), 4, space, length=0.0)

    def min_gap(idx):
        p = cands[idx] / space.scale()
        return min(np.linalg.norm(p[i] - p[j]) for i in range(4) for j in range(i))

    assert min_gap(spread) > 0.5 > 0.25 > min_gap(clustered)
    ctx = DesignContext(space, measurements=_measured_left(), noise_sigma=0.05)
    gp = get_acquisition("gp-eig").fit(ctx)  # kriging believer alone, no distance penalty
    idx, _ = select_batch(cands, gp, 4, space, length=0.0)
    assert min_gap(idx) > 0.5


# --- the loop ---------------------------------------------------------------------------------
def test_concat_features_stacks_rows_of_windows():
    oracle = WindowOracle.from_example("burgers", {"t": 21, "x": 16}, nx=64, nt=51)
    from physforge.discovery.weak import weak_features

    sets = [weak_features(m, 2, 2) for m in oracle.measure(np.array([[2.0, -2.0], [5, 0.0]]))]
    both = concat_features(sets)
    assert both.theta.shape == (sum(len(s.theta) for s in sets), sets[0].theta.shape[1])
    assert both.info["n_windows"] == 2


def test_stop_rule_needs_a_confirmed_confident_structure():
    sure = [{"lhs": "u_t", "terms": {"u_xx": 0.1}, "inclusion_probability": {"u_xx": 1.0}}]
    other = [{"lhs": "u_t", "terms": {"u": 1.0}, "inclusion_probability": {"u": 1.0}}]
    unsure = [{"lhs": "u_t", "terms": {"u_xx": 0.1}, "inclusion_probability": {"u_xx": 0.5}}]
    assert should_stop([sure], 0.95, 1)
    assert not should_stop([sure], 0.95, 2)
    assert should_stop([unsure, sure, sure], 0.95, 2)
    assert not should_stop([other, sure], 0.95, 2) and not should_stop([sure, unsure], 0.95, 2)
    assert parse_equation("u_t = -1.0*u*u_x + 0.1*u_xx") == {"u_t": {"u*u_x": -1.0, "u_xx": 0.1}}


def test_loop_runs_within_budget_on_tiny_data():
    cfg = LoopConfig(
        simulation={"nx": 128, "nt": 101},
        window={"t": 21, "x": 16},
        n_bootstrap=10,
        proposal=ProposalConfig(
            budget=3,
            batch_size=2,
            n_candidates=32,
            bounds={"t": (0.0, 10.0), "x": (-8.0, 4.0)},
            forbidden=[{"x": (-1.0, 1.0)}],
        ),
    )
    res = run_loop(cfg, stop=lambda eqs: False)
    assert res.stopped == "budget" and res.added == 3  # 2 + 1: the budget caps the last batch
    assert [len(p) for p in res.proposals] == [2, 1]
    space = design_space(cfg.proposal, DOMAIN, {"t": 20 * 0.1, "x": 15 * 0.125})
    assert space.admissible(np.array(res.points[1:])).all()
    assert res.equations and "u_t" in res.history[-1]["best"]
