"""The discovery benchmark's science: run the default pipeline on a generated example PDE and
score the ranked equations against the generator's true equation."""

from __future__ import annotations

from typing import Any

from physforge.discovery.terms import canonical_terms, parse_equation

__all__ = ["score_case", "run_case"]


def score_case(truth: str, equations: list[dict]) -> dict[str, Any]:
    """Whether the best equation of each lhs has exactly the true terms, and the worst relative
    error of a true coefficient (None where a true term was missed)."""
    best: dict[str, dict] = {}
    for eq in equations:  # ranked best first
        best.setdefault(eq["lhs"], eq)
    recovered = True
    worst: float | None = 0.0
    for lhs, terms in parse_equation(truth).items():
        found = canonical_terms(best.get(lhs, {}).get("terms", {}))
        recovered &= set(found) == set(terms)
        for term, coef in terms.items():
            if term not in found:
                worst = None
            elif worst is not None:
                worst = max(worst, abs(found[term] - coef) / abs(coef))
    return {"recovered": bool(recovered), "max_rel_coef_error": worst}


def run_case(example: str, noise: float, seed: int = 0) -> dict[str, Any]:
    """One example at one noise level: features + discovery with the default configuration;
    the truth, the best equation found and its score."""
    from physforge.config import DiscoveryConfig, FeatureConfig
    from physforge.datasets.canonical import canonicalize
    from physforge.datasets.examples import make_example
    from physforge.discovery.engine import discover_equations
    from physforge.discovery.features import build_features

    ds = make_example(example, noise=noise, seed=seed)
    canonical = canonicalize(ds, f"example {example}").load()
    equations = discover_equations(build_features(canonical, FeatureConfig()), DiscoveryConfig())
    return {
        "example": example,
        "noise": noise,
        "seed": seed,
        "truth": ds.attrs["equation"],
        "found": f"{equations[0]['lhs']} = {equations[0]['rhs']}",
        **score_case(ds.attrs["equation"], equations),
    }
