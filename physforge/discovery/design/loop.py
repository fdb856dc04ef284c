"""The closed loop as plain functions: discover → propose → measure → ingest, until the best
model's terms are all included with probability ≥ the threshold or the budget is spent.

Measurements are small uniform grids (windows). Each gets its own weak-form rows — test
functions live inside one window — and the rows of all windows are stacked into one regression
problem (:func:`concat_features`), so the library and the discovery engine are those of
:mod:`physforge.discovery` unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TypeVar

import numpy as np
import pandas as pd
import xarray as xr

from physforge.config import DiscoveryConfig, LoopConfig, ProposalConfig
from physforge.discovery.design.acquisitions import ACQUISITIONS, DesignContext, get_acquisition
from physforge.discovery.design.batch import select_batch
from physforge.discovery.design.candidates import Box, DesignSpace, candidate_designs
from physforge.discovery.design.oracle import WindowOracle
from physforge.discovery.design.table import proposal_table
from physforge.discovery.engine import discover_equations
from physforge.discovery.features import FeatureSet
from physforge.discovery.terms import canonical_terms
from physforge.discovery.weak import WeakForm, weak_features
from physforge.errors import ConfigError, DiscoveryError

D = TypeVar("D")

__all__ = [
    "concat_features",
    "discover_measurements",
    "best_model",
    "confident",
    "matches",
    "design_space",
    "propose",
    "run_loop",
    "LoopResult",
    "should_stop",
    "stop_rule",
    "drive",
    "structure",
    "oracle_space",
    "initial_points",
    "make_oracle",
]


def concat_features(sets: list[FeatureSet]) -> FeatureSet:
    """Rows of several regression problems with the same library, stacked."""
    if not sets:
        raise DiscoveryError("no measurements to discover from")
    first = sets[0]
    for fs in sets[1:]:
        if fs.terms != first.terms or fs.lhs != first.lhs:
            raise DiscoveryError(
                "measurements with different libraries cannot be stacked: "
                f"{first.terms} vs {fs.terms}"
            )
    info = dict(
        first.info,
        n_windows=len(sets),
        n_grid_rows=int(sum(fs.info.get("n_grid_rows", 0) for fs in sets)),
    )
    return FeatureSet(
        np.vstack([fs.theta for fs in sets]),
        np.vstack([fs.target for fs in sets]),
        list(first.terms),
        list(first.lhs),
        info,
        None,
        first.expansions,
    )


def discover_measurements(measurements: list[xr.Dataset], cfg: LoopConfig) -> list[dict]:
    """Ranked equations from all measurements so far; [] when no model can be fitted yet."""
    form = WeakForm(support_time=cfg.support, support_space=cfg.support, overlap=0.5)
    sets = [
        weak_features(m, cfg.poly_degree, cfg.derivative_order, form=form, seed=cfg.seed)
        for m in measurements
    ]
    dcfg = DiscoveryConfig(
        n_bootstrap=cfg.n_bootstrap, top_k=cfg.proposal.top_models, seed=cfg.seed
    )
    try:
        return discover_equations(concat_features(sets), dcfg)
    except DiscoveryError:
        return []


def best_model(equations: list[dict]) -> dict[str, dict]:
    """The rank-1 equation of every lhs."""
    out: dict[str, dict] = {}
    for eq in equations:
        out.setdefault(eq["lhs"], eq)
    return out


def confident(equations: list[dict], threshold: float) -> bool:
    """Every term of the best model included with probability ≥ ``threshold``."""
    best = best_model(equations)
    if not best:
        return False
    return all(
        eq["terms"]
        and min(eq.get("inclusion_probability", {}).get(t, 0.0) for t in eq["terms"]) >= threshold
        for eq in best.values()
    )


def matches(equations: list[dict], truth: Mapping[str, Mapping[str, float]]) -> bool:
    """The best model has exactly the true terms for every lhs."""
    best = best_model(equations)
    return set(best) == set(truth) and all(
        set(canonical_terms(best[lhs]["terms"])) == set(canonical_terms(terms))
        for lhs, terms in truth.items()
    )


def design_space(
    cfg: ProposalConfig,
    domain: Mapping[str, tuple[float, float]],
    window: Mapping[str, float],
    snap: Callable | None = None,
) -> DesignSpace:
    """The validated space of a proposal config over a data domain (refused if outside)."""
    cfg = cfg.within(dict(domain))
    bounds: dict[str, tuple[float, float]] = {}
    for d in domain:
        lo, hi = cfg.bounds[d] if cfg.bounds and d in cfg.bounds else domain[d]
        bounds[d] = (lo, hi)
    return DesignSpace(bounds, dict(window), [Box(dict(b)) for b in cfg.forbidden], snap)


def propose(
    context: DesignContext,
    cfg: ProposalConfig,
    measured: np.ndarray | None = None,
    used: int = 0,
    seed: int | None = None,
    **params,
) -> pd.DataFrame:
    """The next batch as a validated proposal table: ``min(batch_size, budget - used)`` rows.

    ``params`` go to the acquisition where it takes them (``poly_degree`` … for equation-eig).
    """
    n = min(cfg.batch_size, cfg.budget - used)
    if n <= 0:
        raise ConfigError(f"budget spent: {used} of {cfg.budget} measurements used")
    seed = cfg.seed if seed is None else seed
    cands = candidate_designs(context.space, cfg.n_candidates, cfg.design, seed)
    accepted = {f.name for f in fields(ACQUISITIONS[cfg.acquisition])}
    params = {"top_models": cfg.top_models, "seed": seed, **params}
    acq = get_acquisition(
        cfg.acquisition, **{k: v for k, v in params.items() if k in accepted}
    ).fit(context)
    idx, values = select_batch(cands, acq, n, context.space, measured, cfg.penalty_length)
    pts = cands[idx]
    return proposal_table(
        pts, values, acq.expected_gain(pts), acq.separates(pts), cfg.acquisition, context.space
    )


def structure(equations: list[dict]) -> tuple:
    """The best model's terms per lhs, as a comparable key."""
    return tuple(
        sorted((lhs, tuple(sorted(eq["terms"]))) for lhs, eq in best_model(equations).items())
    )


def stop_rule(rounds: Sequence[tuple[bool, Hashable]], confirm: int) -> bool:
    """The last ``confirm`` rounds, each ``(confident, structure)``, were all confident with one
    structure."""
    last = rounds[-confirm:]
    return len(last) == confirm and all(c for c, _ in last) and len({s for _, s in last}) == 1


def should_stop(history: list[list[dict]], threshold: float, confirm: int) -> bool:
    """The last ``confirm`` rounds were all confident at ``threshold`` with one structure."""
    return stop_rule([(confident(e, threshold), structure(e)) for e in history], confirm)


def drive(
    data: D,
    discover: Callable[[D, int, int], bool],
    extend: Callable[[D, int, int], tuple[D, int]],
    budget: int,
) -> tuple[D, str]:
    """The loop's control, shared by :func:`run_loop` and the Prefect loop flow.

    Each round ``discover(data, round, added)`` says whether to stop; if not, and fewer than
    ``budget`` measurements were added, ``extend(data, round, added)`` proposes, measures and
    ingests, returning the data and how many measurements it added. Returns the data and why
    the loop stopped: ``"threshold"`` or ``"budget"``.
    """
    added = 0
    for round_ in range(budget + 1):
        if discover(data, round_, added):
            return data, "threshold"
        if added >= budget:
            break
        data, n = extend(data, round_, added)
        added += n
    return data, "budget"


def oracle_space(oracle: WindowOracle, cfg: LoopConfig) -> DesignSpace:
    """The design space of a loop: window centres over the oracle's domain, constrained by
    the proposal config (refused when its bounds leave the domain)."""
    extent = {
        d: (oracle.window.get(d, oracle.full.sizes[d]) - 1) * oracle._step(d) for d in oracle.dims
    }
    return design_space(cfg.proposal, oracle.domain(), extent, oracle.snap)


def initial_points(space: DesignSpace, cfg: LoopConfig) -> np.ndarray:
    """The sparse start: ``cfg.initial`` admissible windows drawn at random."""
    rng = np.random.default_rng(cfg.seed)
    start = candidate_designs(space, 64, "lhs", cfg.seed + 1)
    return start[rng.choice(len(start), min(cfg.initial, len(start)), replace=False)]


def make_oracle(cfg: LoopConfig, round_: int = 0) -> WindowOracle:
    """The loop's simulator oracle; each round draws its own noise stream."""
    return WindowOracle.from_example(
        cfg.example,
        cfg.window,
        cfg.noise,
        cfg.seed * 100_003 + round_,
        cfg.resimulate,
        **cfg.simulation,
    )


@dataclass
class LoopResult:
    """What the loop did: one history row per iteration, the final equations, the data."""

    history: list[dict] = field(default_factory=list)
    equations: list[dict] = field(default_factory=list)
    measurements: list[xr.Dataset] = field(default_factory=list)
    points: list[list[float]] = field(default_factory=list)
    proposals: list[pd.DataFrame] = field(default_factory=list)
    stopped: str = ""

    @property
    def added(self) -> int:
        return self.history[-1]["added"] if self.history else 0


def run_loop(
    cfg: LoopConfig,
    oracle: WindowOracle | None = None,
    stop: Callable[[list[dict]], bool] | None = None,
) -> LoopResult:
    """Alternate discover → propose → measure → ingest against a simulator oracle.

    ``stop`` (default: the best model is confident at ``cfg.threshold`` with the same
    structure for ``cfg.confirm`` rounds in a row) ends the loop; so does the budget of added
    measurements. The initial measurements are drawn uniformly at random.
    """
    oracle = oracle or make_oracle(cfg)
    history: list[list[dict]] = []

    def default_stop(eqs: list[dict]) -> bool:
        history.append(eqs)
        return should_stop(history, cfg.threshold, cfg.confirm)

    stop = stop or default_stop
    space = oracle_space(oracle, cfg)
    points = initial_points(space, cfg)
    res = LoopResult(points=points.tolist())
    res.measurements = oracle.measure(points)
    state, times = oracle.initial_state(), oracle.times()
    started: list[float] = []

    def discover(measurements: list[xr.Dataset], it: int, added: int) -> bool:
        started.append(time.perf_counter())
        res.equations = discover_measurements(measurements, cfg)
        best = best_model(res.equations)
        res.history.append(
            {
                "iteration": it,
                "added": added,
                "measurements": len(measurements),
                "best": {lhs: eq["rhs"] for lhs, eq in best.items()},
                "min_inclusion": min(
                    (
                        min(eq.get("inclusion_probability", {}).get(t, 0.0) for t in eq["terms"])
                        for eq in best.values()
                        if eq["terms"]
                    ),
                    default=0.0,
                ),
            }
        )
        return stop(res.equations)

    def extend(measurements: list[xr.Dataset], it: int, added: int) -> tuple[list[xr.Dataset], int]:
        context = DesignContext(
            space, measurements, res.equations, state, times, oracle.noise_sigma
        )
        table = propose(
            context,
            cfg.proposal,
            np.array(res.points),
            used=added,
            seed=cfg.seed + 1000 * (it + 1),
            poly_degree=cfg.poly_degree,
            derivative_order=cfg.derivative_order,
            support=cfg.support,
        )
        new = table[space.dims].to_numpy(dtype=float)
        res.proposals.append(table)
        res.points.extend(new.tolist())
        measurements.extend(oracle.measure(new))  # ingest: the windows join the data
        res.history[-1]["propose_s"] = round(time.perf_counter() - started[-1], 3)
        return measurements, len(new)

    res.measurements, res.stopped = drive(res.measurements, discover, extend, cfg.proposal.budget)
    return res
