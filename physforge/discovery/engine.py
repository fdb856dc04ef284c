"""From a feature set to ranked candidate equations with uncertainty, in the result grammar."""

from __future__ import annotations

import numpy as np

from physforge.config import DiscoveryConfig
from physforge.discovery.features import FeatureSet
from physforge.discovery.regression import (
    Candidate,
    bootstrap,
    effective_sample_size,
    lstsq_on_support,
    sweep,
)
from physforge.discovery.terms import canonical_terms, latex_equation, rhs_string, to_sympy

__all__ = ["discover_equations", "candidate_record"]


def discover_equations(fs: FeatureSet, cfg: DiscoveryConfig) -> list[dict]:
    """Ranked equations: the ``top_k`` candidates of every lhs, rank 1 first.

    Candidates come from the backend's sparsity sweep, each refit by least squares on its
    support and scored by AIC, AICc and BIC; the chosen criterion ranks them. The best of each
    lhs gets bootstrap 95 % intervals and inclusion probabilities.
    """
    per_lhs: list[list[dict]] = []
    for j, lhs in enumerate(fs.lhs):
        y = fs.target[:, j]
        tss = float(np.sum((y - y.mean()) ** 2))
        cands = [c for c in sweep(fs.theta, y, cfg.backend, cfg.n_thresholds) if c.k > 0]
        full = Candidate(tuple(range(len(fs.terms))), np.zeros(0), 0.0, len(y))
        full.coef = lstsq_on_support(fs.theta, y, full.support)
        full.rss = float(np.sum((y - fs.theta @ full.coef) ** 2))
        n_eff = effective_sample_size(y - fs.theta @ full.coef, fs.row_index)
        ctx = {"tss": tss, "n_eff": n_eff, "reference": full, "n_terms": len(fs.terms),
               "fitted_norm": float(np.linalg.norm(fs.theta @ full.coef)) or 1.0,
               "target_norm": float(np.linalg.norm(y)) or 1.0, "tolerance": cfg.tolerance}
        cands.sort(key=lambda c: c.scores(**ctx)[cfg.criterion])
        records = []
        for rank, cand in enumerate(cands[: cfg.top_k], start=1):
            boot = None
            if cfg.n_bootstrap and rank == 1:
                thr = float(np.median(cand.thresholds))
                boot = bootstrap(fs.theta, y, cand.support, cfg.n_bootstrap, cfg.backend, thr,
                                 cfg.seed)
            rec = candidate_record(lhs, cand, fs, ctx, cfg, boot)
            rec["rank"] = rank
            records.append(rec)
        per_lhs.append(records)
    ranked = []
    for rank in range(cfg.top_k):
        ranked.extend(recs[rank] for recs in per_lhs if rank < len(recs))
    return ranked


def candidate_record(lhs: str, cand: Candidate, fs: FeatureSet, ctx: dict,
                     cfg: DiscoveryConfig, boot: dict | None) -> dict:
    """One equation in the result grammar: strong-form terms merged by sympy."""
    E, strong = fs.expansion_matrix()
    coef = cand.coef @ E
    terms = canonical_terms({strong[i]: float(c) for i, c in enumerate(coef) if c != 0.0})
    terms = {k: v for k, v in terms.items() if abs(v) > 1e-12 * max(map(abs, terms.values()))}
    rec: dict = {
        "lhs": lhs,
        "rhs": rhs_string(terms),
        "terms": terms,
        "method": f"{cfg.backend}/{fs.info.get('derivatives_space', '?')}",
        "score": {k: float(v) for k, v in cand.scores(**ctx).items()} | {"n_eff": ctx["n_eff"]},
        "latex": latex_equation(lhs, terms),
    }
    if boot is not None:
        canon = [str(to_sympy(n)).replace(" ", "") for n in strong]
        refit, bagged = boot["refit"] @ E, boot["bagged"] @ E
        lo, hi = np.percentile(refit, [2.5, 97.5], axis=0)
        rec["ci95"] = {canon[i]: [float(lo[i]), float(hi[i])] for i in range(len(strong))
                       if canon[i] in terms}
        incl = np.mean(np.abs(bagged) > 1e-12 * np.abs(bagged).max(initial=1e-300), axis=0)
        rec["inclusion_probability"] = {
            canon[i]: float(incl[i]) for i in range(len(strong)) if incl[i] > 0 or canon[i] in terms
        }
    return rec
