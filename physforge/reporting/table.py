"""The ranked candidates as a reader sees them: rounded coefficients, negligible terms folded,
1 − R² on a log scale, and one line on why rank 1 was chosen. Plain functions over the result
JSON, shared by the CLI table and the Prefect artifacts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DISPLAY_THRESHOLD",
    "compact_equation",
    "display_terms",
    "one_minus_r2",
    "selection_reason",
    "top_candidates",
]

# a term whose coefficient is below this fraction of the equation's largest is shown folded
# into "+ k small terms" (the result JSON keeps every coefficient)
DISPLAY_THRESHOLD = 1e-3


def _value(c: Any) -> float:
    """A coefficient's size (complex coefficients are [re, im])."""
    if isinstance(c, (list, tuple)):
        return math.hypot(*map(float, c))
    return abs(float(c))


def _round(c: Any, digits: int) -> str:
    if isinstance(c, (list, tuple)):
        re, im = map(float, c)
        return f"({re:.{digits}g}{im:+.{digits}g}j)"
    return f"{float(c):.{digits}g}"


def display_terms(
    terms: dict[str, Any], threshold: float = DISPLAY_THRESHOLD
) -> tuple[dict[str, Any], list[str]]:
    """(the terms shown, largest first; the names of those folded as small)."""
    if not terms:
        return {}, []
    top = max(_value(c) for c in terms.values()) or 1.0
    order = sorted(terms, key=lambda t: -_value(terms[t]))
    shown = {t: terms[t] for t in order if _value(terms[t]) >= threshold * top}
    return shown, [t for t in order if t not in shown]


def compact_equation(
    eq: dict[str, Any], digits: int = 4, threshold: float = DISPLAY_THRESHOLD
) -> str:
    """``u_t = -1 u*u_x + 0.1 u_xx + 14 small terms``: coefficients to ``digits``
    significant digits, terms below ``threshold`` of the largest folded."""
    shown, small = display_terms(eq.get("terms", {}), threshold)
    parts = []
    for i, (term, c) in enumerate(shown.items()):
        text = _round(c, digits)
        if isinstance(c, (list, tuple)):
            sign, body = "+", text
        else:
            sign, body = ("-", text[1:]) if text.startswith("-") else ("+", text)
        body = body if term == "1" else f"{body} {term}"
        parts.append(f"-{body}" if i == 0 and sign == "-" else body if i == 0 else f"{sign} {body}")
    rhs = " ".join(parts) or "0"
    if small:
        rhs += f" + {len(small)} small term{'s' if len(small) > 1 else ''}"
    return f"{eq['lhs']} = {rhs}"


def one_minus_r2(eq: Mapping[str, Any]) -> str:
    """1 − R², which tells near-perfect fits apart (R² itself reads 1.000000 for all)."""
    r2 = eq.get("score", {}).get("r2")
    if r2 is None:
        return "-"
    rest = 1.0 - float(r2)
    return "0" if rest <= 0 else f"{rest:.1e}"


def top_candidates(result: dict[str, Any], k: int = 3) -> list[dict[str, Any]]:
    """The first ``k`` ranked candidates of each lhs, in the result's order."""
    seen: dict[str, int] = {}
    out = []
    for eq in result.get("equations", []):
        seen[eq["lhs"]] = seen.get(eq["lhs"], 0) + 1
        if seen[eq["lhs"]] <= k:
            out.append(eq)
    return out


_CRITERIA = {
    "pareto": "the sparsest fit within {tolerance:g}x the full library's residual (pareto)",
    "mstls": "the lowest MSTLS score: residual over the full fit plus the fraction of terms "
    "used (criterion mstls)",
    "aic": "the lowest AIC (criterion aic)",
    "aicc": "the lowest AICc (criterion aicc)",
    "bic": "the lowest BIC (criterion bic)",
}


def selection_reason(result: dict[str, Any], lhs: str | None = None) -> str:
    """One line: why rank 1 (of ``lhs``, default the first) was chosen, and why a candidate
    with a better AIC/BIC was not."""
    eqs = [e for e in result.get("equations", []) if lhs is None or e["lhs"] == lhs]
    if not eqs:
        return ""
    best, lhs = eqs[0], eqs[0]["lhs"]
    rivals = [e for e in eqs[1:] if e["lhs"] == lhs]
    disc = (result.get("config") or {}).get("discovery", {})
    criterion = disc.get("criterion", "pareto")
    why = _CRITERIA.get(criterion, f"the best {criterion}").format(
        tolerance=float(disc.get("tolerance", 1.5))
    )
    line = f"rank 1 ({lhs}): {why}"
    better = [
        e
        for e in rivals
        if all(
            e["score"].get(s, math.inf) < best["score"].get(s, -math.inf) for s in ("aic", "bic")
        )
    ]
    if better and criterion not in ("aic", "aicc", "bic"):
        extra = [[t for t in e.get("terms", {}) if t not in best.get("terms", {})] for e in better]
        small = all(
            t in display_terms(e.get("terms", {}))[1] for e, ts in zip(better, extra) for t in ts
        )
        ranks = ", ".join(str(e.get("rank", "?")) for e in better)
        counts = ", ".join(str(len(ts)) for ts in extra)
        line += (
            f"; rank{'s' if len(better) > 1 else ''} {ranks} score better on AIC/BIC "
            f"only with {counts} more terms"
            + (f", all below {DISPLAY_THRESHOLD:g} of the largest coefficient" if small else "")
        )
    return line
