"""From a feature set to ranked candidate equations with uncertainty, in the result grammar."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from physforge.config import DiscoveryConfig
from physforge.discovery.features import FeatureSet
from physforge.discovery.regression import (
    NOISY,
    Candidate,
    best_rss_by_size,
    bootstrap,
    conditioning,
    effective_sample_size,
    indistinguishable,
    lstsq_on_support,
    rivals,
    sweep,
)
from physforge.discovery.symbolic import SYMBOLIC, expression_terms, get_symbolic
from physforge.discovery.terms import (
    canonical_name,
    canonical_terms,
    coefficient_json,
    interval_json,
    latex_equation,
    rhs_string,
    to_sympy,
)
from physforge.errors import ConfigError, DiscoveryError

__all__ = ["Discovery", "run_discovery", "discover_equations", "candidate_record"]


def _json_score(value: float) -> float | None:
    """A score for the result JSON: ``None`` where it is undefined (AICc with no more
    effective samples than parameters is +inf), since JSON has no infinity."""
    v = float(value)
    return v if math.isfinite(v) else None


@dataclass
class Discovery:
    """The ranked equations, and every candidate model the selection scored (per lhs: its
    complexity, its loss 1 − R² and its terms; the report draws their Pareto front)."""

    equations: list[dict]
    models: list[dict] = field(default_factory=list)


def discover_equations(fs: FeatureSet, cfg: DiscoveryConfig) -> list[dict]:
    """Ranked equations: the ``top_k`` candidates of every lhs, rank 1 first
    (:func:`run_discovery`'s equations)."""
    return run_discovery(fs, cfg).equations


def run_discovery(fs: FeatureSet, cfg: DiscoveryConfig) -> Discovery:
    """Ranked equations and the candidate models behind them.

    Candidates come from the backend's sparsity sweep, each refit by least squares on its
    support and scored by AIC, AICc and BIC; the chosen criterion ranks them. The best of each
    lhs gets bootstrap 95 % intervals and inclusion probabilities.
    """
    per_lhs: list[list[dict]] = []
    models: list[dict] = []
    for j, lhs in enumerate(fs.lhs):
        y = fs.target[:, j]
        tss = float(np.sum((y - y.mean()) ** 2))
        if cfg.backend in SYMBOLIC:
            cands = symbolic_candidates(fs, y, cfg)
        else:
            cands = [c for c in sweep(fs.theta, y, cfg.backend, cfg.n_thresholds) if c.k > 0]
        models += [
            {
                "lhs": lhs,
                "complexity": c.k,
                "loss": max(c.rss / (tss or 1.0), 1e-16),
                "terms": [fs.terms[i] for i in c.support],
            }
            for c in cands
            if c.k > 0
        ]
        full = Candidate(tuple(range(len(fs.terms))), np.zeros(0), 0.0, len(y))
        full.coef = lstsq_on_support(fs.theta, y, full.support)
        full.rss = float(np.sum((y - fs.theta @ full.coef) ** 2))
        n_eff = effective_sample_size(
            y - fs.theta @ full.coef, fs.row_index, fs.info.get("row_shape")
        )
        ctx: dict[str, Any] = {
            "tss": tss,
            "n_eff": n_eff,
            "reference": full,
            "n_terms": len(fs.terms),
            "fitted_norm": float(np.linalg.norm(fs.theta @ full.coef)) or 1.0,
            "target_norm": float(np.linalg.norm(y)) or 1.0,
            "tolerance": cfg.tolerance,
            "best_rss": best_rss_by_size(cands),
            "noisy": float(fs.info.get("noise_estimate", 0.0)) >= NOISY,
        }
        cands.sort(key=lambda c: c.scores(**ctx)[cfg.criterion])
        records = []
        for rank, cand in enumerate(cands[: cfg.top_k], start=1):
            boot = None
            if cfg.n_bootstrap and rank == 1:
                score_kw = {
                    k: v
                    for k, v in ctx.items()
                    if k not in ("tss", "reference", "fitted_norm", "target_norm", "best_rss")
                }
                boot = bootstrap(
                    fs.theta, y, cands, cand, cfg.criterion, score_kw, cfg.n_bootstrap, cfg.seed
                )
            rec = candidate_record(lhs, cand, fs, ctx, cfg, boot)
            rec["rank"] = rank
            identifiability(rec, cand, cands, fs, y, ctx, cfg)
            records.append(rec)
        per_lhs.append(records)
    ranked: list[dict[str, Any]] = []
    for rank in range(cfg.top_k):
        ranked.extend(recs[rank] for recs in per_lhs if rank < len(recs))
    return Discovery(ranked, models)


def identifiability(
    rec: dict,
    cand: Candidate,
    cands: list[Candidate],
    fs: FeatureSet,
    y: np.ndarray,
    ctx: dict,
    cfg: DiscoveryConfig,
) -> None:
    """``identifiable``, ``alternatives`` and ``conditioning`` of one equation record.

    Alternatives are supports with no more terms than the chosen one that the selection rule
    admits and whose residual the data cannot tell from the chosen one's (within the round-off
    floor on clean data, within noise otherwise): the sweep's own candidates and every
    single-term swap of the chosen support. Their strong-form terms and scores are listed;
    the equation is identifiable when there is none.
    """
    pool = {c.support: c for c in cands}
    for c in rivals(fs.theta, y, cand.support):
        pool.setdefault(c.support, c)
    strong_seen = {tuple(sorted(rec["terms"]))}
    alternatives = []
    for other in sorted(pool.values(), key=lambda c: c.rss):
        if other.support == cand.support or other.k > cand.k or other.k == 0:
            continue
        if not indistinguishable(other, cand, ctx):
            continue
        terms = strong_terms(other, fs)
        key = tuple(sorted(terms))
        if key in strong_seen:
            continue
        strong_seen.add(key)
        score = other.scores(**ctx)
        as_complex = bool(fs.info.get("complex"))
        alternatives.append(
            {
                "terms": {k: coefficient_json(v, as_complex) for k, v in terms.items()},
                "rhs": rhs_string(terms),
                "score": {
                    cfg.criterion: _json_score(score[cfg.criterion]),
                    "r2": float(score["r2"]),
                    "residual_ratio": float(np.sqrt(other.rss / cand.rss)) if cand.rss > 0 else 1.0,
                },
            }
        )
    rec["identifiable"] = not alternatives
    rec["alternatives"] = alternatives[:5]
    rec["conditioning"] = conditioning(fs.theta, cand.support, fs.terms)


def symbolic_candidates(fs: FeatureSet, y: np.ndarray, cfg: DiscoveryConfig) -> list[Candidate]:
    """Symbolic regression over the fields and their derivatives; every Pareto-front
    expression whose expansion lies in the library becomes a least-squares-refit candidate."""
    if fs.expansions:
        raise ConfigError(
            f"backend {cfg.backend!r} needs pointwise derivatives, but the features are in weak "
            "form; set derivatives to auto-pointwise, poly, spectral or finite-difference"
        )
    variables = [i for i, t in enumerate(fs.terms) if t != "1" and "*" not in t]
    names = [fs.terms[i] for i in variables]
    rng = np.random.default_rng(cfg.seed)
    rows = rng.choice(len(y), size=min(len(y), 2000), replace=False)
    params = {"seed": cfg.seed}
    if cfg.backend == "operon":
        params.update(generations=cfg.sr_generations, population_size=cfg.sr_population)
    sr = get_symbolic(cfg.backend, **params).fit(fs.theta[rows][:, variables], y[rows], names)
    column = {str(to_sympy(t)).replace(" ", ""): i for i, t in enumerate(fs.terms)}
    found: dict[tuple[int, ...], Candidate] = {}
    for expr, _mse, _complexity in sr.pareto_:
        found_idx = [column.get(str(to_sympy(t)).replace(" ", "")) for t in expression_terms(expr)]
        idx = [i for i in found_idx if i is not None]
        if not idx or len(idx) < len(found_idx):  # a term outside the library: skip it
            continue
        full = tuple(sorted(set(idx)))
        # also the expression without its constant: GP engines add near-zero offsets
        for support in {full, tuple(i for i in full if fs.terms[i] != "1")}:
            if support and support not in found:
                coef = lstsq_on_support(fs.theta, y, support)
                rss = float(np.sum((y - fs.theta @ coef) ** 2))
                found[support] = Candidate(support, coef, rss, len(y), [])
    if not found:
        raise DiscoveryError(f"backend {cfg.backend!r} found no expression within the library")
    return list(found.values())


def strong_terms(cand: Candidate, fs: FeatureSet) -> dict:
    """A candidate's coefficients as strong-form terms, merged by sympy, largest first."""
    E, strong = fs.expansion_matrix()
    coef = cand.coef @ E
    terms = canonical_terms({strong[i]: c for i, c in enumerate(coef) if c != 0.0})
    top = max(map(abs, terms.values()), default=0.0)
    return {
        k: v
        for k, v in sorted(terms.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
        if abs(v) > 1e-12 * top
    }


def candidate_record(
    lhs: str, cand: Candidate, fs: FeatureSet, ctx: dict, cfg: DiscoveryConfig, boot: dict | None
) -> dict:
    """One equation in the result grammar: strong-form terms merged by sympy. A complex field's
    coefficients are ``[re, im]``, its ci95 ``[[re_lo, re_hi], [im_lo, im_hi]]``."""
    E, strong = fs.expansion_matrix()
    as_complex = bool(fs.info.get("complex"))
    terms = strong_terms(cand, fs)
    rec: dict = {
        "lhs": lhs,
        "rhs": rhs_string(terms),
        "terms": {k: coefficient_json(v, as_complex) for k, v in terms.items()},
        "method": f"{cfg.backend}/{fs.info.get('derivatives_space', '?')}",
        "score": {k: _json_score(v) for k, v in cand.scores(**ctx).items()}
        | {"n_eff": ctx["n_eff"]},
        "latex": latex_equation(lhs, terms),
    }
    if boot is not None:
        canon = [canonical_name(n) for n in strong]
        refit, bagged = boot["refit"] @ E, boot["selected"] @ E
        lo, hi = np.percentile(refit.real, [2.5, 97.5], axis=0)
        if as_complex:
            lo_im, hi_im = np.percentile(refit.imag, [2.5, 97.5], axis=0)
            lo, hi = lo + 1j * lo_im, hi + 1j * hi_im
        rec["ci95"] = {
            canon[i]: interval_json(lo[i], hi[i], as_complex)
            for i in range(len(strong))
            if canon[i] in terms
        }
        incl = np.mean(np.abs(bagged) > 1e-12 * np.abs(bagged).max(initial=1e-300), axis=0)
        rec["inclusion_probability"] = {
            canon[i]: float(incl[i]) for i in range(len(strong)) if incl[i] > 0 or canon[i] in terms
        }
    return rec
