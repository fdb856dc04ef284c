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
from physforge.discovery.terms import canonical_terms, latex_equation, rhs_string

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
               "fitted_norm": float(np.linalg.norm(fs.theta @ full.coef)) or 1.0}
        cands.sort(key=lambda c: c.scores(**ctx)[cfg.criterion])
        records = []
        for rank, cand in enumerate(cands[: cfg.top_k], start=1):
            boot = None
            if cfg.n_bootstrap and rank == 1:
                thr = float(np.median(cand.thresholds))
                boot = bootstrap(fs.theta, y, cand.support, cfg.n_bootstrap, cfg.backend, thr,
                                 cfg.seed)
            rec = candidate_record(lhs, cand, fs.terms, ctx, cfg, boot)
            rec["rank"] = rank
            records.append(rec)
        per_lhs.append(records)
    ranked = []
    for rank in range(cfg.top_k):
        ranked.extend(recs[rank] for recs in per_lhs if rank < len(recs))
    return ranked


def candidate_record(lhs: str, cand: Candidate, names: list[str], ctx: dict,
                     cfg: DiscoveryConfig, boot: dict | None) -> dict:
    support_names = [names[i] for i in cand.support]
    coefs = {names[i]: float(cand.coef[i]) for i in cand.support}
    terms = canonical_terms(coefs)
    rec: dict = {
        "lhs": lhs,
        "rhs": rhs_string(terms),
        "terms": terms,
        "method": cfg.backend,
        "score": {k: float(v) for k, v in cand.scores(**ctx).items()} | {"n_eff": ctx["n_eff"]},
        "latex": latex_equation(lhs, terms),
    }
    if boot is not None:
        lo, hi = np.percentile(boot["draws"], [2.5, 97.5], axis=0)
        rec["ci95"] = {n: [float(a), float(b)] for n, a, b in zip(support_names, lo, hi)}
        rec["inclusion_probability"] = {
            names[i]: float(p) for i, p in enumerate(boot["inclusion"])
            if p > 0 or i in cand.support
        }
    return rec
