"""Term names in the result grammar, and their sympy/LaTeX forms.

A term is a product of factors joined by ``*`` with powers as ``**``; a derivative factor is the
field, ``_``, then the coordinate letters (``u_x``, ``u_xx``, ``u_xy``); the constant term is ``1``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

import sympy

__all__ = [
    "derivative_name",
    "monomial_name",
    "product_name",
    "multi_indices",
    "to_sympy",
    "rhs_string",
    "latex_equation",
    "canonical_terms",
]


def derivative_name(field: str, axes: Sequence[str]) -> str:
    """``u`` with axes ``("x", "x")`` → ``u_xx``; no axes → ``u``."""
    return field if not axes else f"{field}_{''.join(axes)}"


def monomial_name(powers: Mapping[str, int]) -> str:
    parts = [f if p == 1 else f"{f}**{p}" for f, p in powers.items() if p > 0]
    return "*".join(parts) if parts else "1"


def product_name(*factors: str) -> str:
    parts = [f for f in factors if f != "1"]
    return "*".join(parts) if parts else "1"


def multi_indices(space: Sequence[str], max_order: int) -> list[tuple[str, ...]]:
    """Derivative axis tuples of order 1..max_order, sorted and without repeats (xy == yx)."""
    out: list[tuple[str, ...]] = []
    for order in range(1, max_order + 1):
        out.extend(itertools.combinations_with_replacement(space, order))
    return out


def _symbols(term: str) -> dict[str, sympy.Symbol]:
    names = {f for f in term.replace("**", "^").replace("*", " ").replace("^", " ").split()}
    return {n: sympy.Symbol(n) for n in names if not n.replace(".", "").isdigit()}


def to_sympy(term: str) -> sympy.Expr:
    """Parse a term string; every name is a plain symbol (``u_xx`` is one symbol)."""
    return sympy.sympify(term, locals=_symbols(term))


def canonical_terms(coefs: Mapping[str, float]) -> dict[str, float]:
    """Merge equivalent terms (``u*u_x`` and ``u_x*u``) by parsing each with sympy."""
    merged: dict[str, float] = {}
    for term, c in coefs.items():
        key = str(to_sympy(term)).replace(" ", "")
        merged[key] = merged.get(key, 0.0) + float(c)
    return merged


def _fmt(c: float, digits: int) -> str:
    """Significant digits, always as a float literal (``1.0``, not ``1``)."""
    text = f"{c:.{digits}g}"
    return text if any(ch in text for ch in ".en") else text + ".0"


def rhs_string(coefs: Mapping[str, float], digits: int = 6) -> str:
    """``-1.0*u*u_x + 0.1*u_xx``; rounding is for display only."""
    if not coefs:
        return "0"
    parts = []
    for i, (term, c) in enumerate(coefs.items()):
        mag = _fmt(abs(c), digits)
        body = mag if term == "1" else f"{mag}*{term}"
        sign = "-" if c < 0 else "+"
        parts.append((sign if sign == "-" else "") + body if i == 0 else f" {sign} {body}")
    return "".join(parts)


def _latex_symbol(name: str) -> str:
    if "_" in name:
        field, axes = name.split("_", 1)
        return f"{field}_{{{axes}}}"
    return name


def latex_equation(lhs: str, coefs: Mapping[str, float], digits: int = 4) -> str:
    """``u_t = - 1.0 u u_{x} + 0.1 u_{xx}``."""
    pieces: list[str] = []
    for term, c in coefs.items():
        body = "" if term == "1" else " ".join(_split_powers(term))
        mag = _fmt(abs(c), digits)
        sign = "-" if c < 0 else "+"
        text = f"{mag} {body}".strip()
        pieces.append(f"{sign} {text}")
    rhs = " ".join(pieces) if pieces else "0"
    if rhs.startswith("+ "):
        rhs = rhs[2:]
    return f"{_latex_symbol(lhs)} = {rhs}"


def _split_powers(term: str) -> Iterable[str]:
    for factor in term.replace("**", "^").split("*"):
        if "^" in factor:
            base, p = factor.split("^")
            yield f"{_latex_symbol(base)}^{{{p}}}"
        else:
            yield _latex_symbol(factor)
