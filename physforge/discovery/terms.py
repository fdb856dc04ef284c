"""Term names in the result grammar, and their sympy/LaTeX forms.

A term is a product of factors joined by ``*`` with powers as ``**``; a derivative factor is the
field, ``_``, then the coordinate letters (``u_x``, ``u_xx``, ``u_xy``); the constant term is ``1``.
A coordinate may be a factor (``x**2*u``). For a complex field ``conj(u)`` is its conjugate
(``conj(u_xx)`` that of a derivative) and ``abs(u)**2`` stands for ``u*conj(u)``: a product of
``u**a`` and ``conj(u)**b`` is always written ``abs(u)**(2 min(a, b))`` times the rest, so each
term has one name. Names parse with sympy (``conj`` → ``conjugate``, ``abs`` → ``Abs``).

A coefficient is a float, or a complex number for a complex field; the result JSON writes the
latter as ``[re, im]`` (:func:`coefficient_json`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sympy

from physforge.errors import ConfigError

__all__ = [
    "derivative_name",
    "monomial_name",
    "product_name",
    "multi_indices",
    "to_sympy",
    "rhs_string",
    "latex_equation",
    "canonical_terms",
    "canonical_name",
    "conj_name",
    "term_string",
    "coefficient_json",
    "interval_json",
    "real_parts",
    "parse_equation",
]

FUNCTIONS = {"conj": sympy.conjugate, "abs": sympy.Abs}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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


def conj_name(factor: str) -> str:
    """The conjugate of a field or derivative factor: ``u_xx`` → ``conj(u_xx)``."""
    return f"conj({factor})"


def _symbols(term: str) -> dict[str, sympy.Symbol]:
    names = set(_NAME.findall(term)) - set(FUNCTIONS) - {"I"}
    return {n: sympy.Symbol(n) for n in names}


def to_sympy(term: str) -> sympy.Expr:
    """Parse a term string; every name is a plain symbol (``u_xx`` is one symbol), ``conj`` and
    ``abs`` are sympy's ``conjugate`` and ``Abs``, ``I`` the imaginary unit."""
    return sympy.sympify(term, locals={**_symbols(term), **FUNCTIONS})


def _pair_conjugates(expr: sympy.Expr) -> sympy.Expr:
    """``u**a * conj(u)**b`` (and ``abs(u)**2k``) as ``abs(u)**(2 min) * u**(a-min)`` or
    ``* conj(u)**(b-min)``: the one name of a product of a factor and its conjugate."""
    if not expr.has(sympy.conjugate, sympy.Abs):
        return expr
    coeff, rest = expr.as_coeff_Mul()
    plain: dict[sympy.Expr, int] = {}
    conj: dict[sympy.Expr, int] = {}
    other = sympy.Integer(1)
    for base, power in rest.as_powers_dict().items():
        if isinstance(base, sympy.conjugate):
            conj[base.args[0]] = conj.get(base.args[0], 0) + int(power)
        elif isinstance(base, sympy.Abs) and int(power) % 2 == 0:
            plain[base.args[0]] = plain.get(base.args[0], 0) + int(power) // 2
            conj[base.args[0]] = conj.get(base.args[0], 0) + int(power) // 2
        elif isinstance(base, sympy.Symbol) and power.is_Integer:
            plain[base] = plain.get(base, 0) + int(power)
        else:
            other *= base**power
    out = coeff * other
    for s in set(plain) | set(conj):
        a, b = plain.get(s, 0), conj.get(s, 0)
        k = min(a, b)
        out *= sympy.Abs(s) ** (2 * k) * s ** (a - k) * sympy.conjugate(s) ** (b - k)
    return out


def term_string(expr: sympy.Expr) -> str:
    """A sympy monomial in the result grammar (``conjugate`` → ``conj``, ``Abs`` → ``abs``)."""
    text = str(_pair_conjugates(expr)).replace(" ", "")
    return text.replace("conjugate(", "conj(").replace("Abs(", "abs(")


def canonical_name(term: str) -> str:
    """The one name of a term: ``u_x*u`` → ``u*u_x``, ``u**2*conj(u)`` → ``u*abs(u)**2``."""
    return term_string(to_sympy(term))


def canonical_terms(coefs: Mapping[str, complex]) -> dict[str, complex]:
    """Merge equivalent terms (``u*u_x`` and ``u_x*u``) by parsing each with sympy; complex
    coefficients (or ``[re, im]`` pairs) are complex numbers."""
    merged: dict[str, complex] = {}
    for term, c in coefs.items():
        key = canonical_name(term)
        if isinstance(c, (list, tuple)):  # [re, im] from a result JSON
            c = complex(*c)
        c = complex(c) if isinstance(c, complex) or np_complex(c) else float(c)
        merged[key] = merged.get(key, 0.0) + c
    return merged


def np_complex(c) -> bool:
    return hasattr(c, "imag") and hasattr(c, "dtype") and c.dtype.kind == "c"


def coefficient_json(c: complex, as_complex: bool) -> float | list[float]:
    """A coefficient for the result JSON: ``[re, im]`` for a complex field, else a float."""
    return [float(c.real), float(c.imag)] if as_complex else float(c.real)


def interval_json(lo: complex, hi: complex, as_complex: bool) -> list:
    """A 95 % interval: ``[lo, hi]``; complex: ``[[re_lo, re_hi], [im_lo, im_hi]]`` (percentile
    intervals of the real and the imaginary part)."""
    if as_complex:
        return [[float(lo.real), float(hi.real)], [float(lo.imag), float(hi.imag)]]
    return [float(lo.real), float(hi.real)]


def _fmt(c: float, digits: int) -> str:
    """Significant digits, always as a float literal (``1.0``, not ``1``)."""
    text = f"{c:.{digits}g}"
    return text if any(ch in text for ch in ".en") else text + ".0"


def _signed(c: complex, digits: int, unit: str) -> tuple[str, str]:
    """(sign, magnitude text) of a coefficient: ``0.5*I`` style for a pure imaginary one,
    ``(0.1 + 0.5*I)`` for a general complex one (``unit``: ``*I`` or `` i``)."""
    c = complex(c)
    if c.imag == 0:
        return ("-" if c.real < 0 else "+"), _fmt(abs(c.real), digits)
    if c.real == 0:
        return ("-" if c.imag < 0 else "+"), _fmt(abs(c.imag), digits) + unit
    im_sign = "-" if c.imag < 0 else "+"
    return "+", f"({_fmt(c.real, digits)} {im_sign} {_fmt(abs(c.imag), digits)}{unit})"


def rhs_string(coefs: Mapping[str, complex], digits: int = 6) -> str:
    """``-1.0*u*u_x + 0.1*u_xx``; complex: ``0.5*I*u_xx + 1.0*I*u*abs(u)**2`` (parses with
    sympy); rounding is for display only."""
    if not coefs:
        return "0"
    parts = []
    for i, (term, c) in enumerate(coefs.items()):
        sign, mag = _signed(c, digits, "*I")
        body = mag if term == "1" else f"{mag}*{term}"
        parts.append((sign if sign == "-" else "") + body if i == 0 else f" {sign} {body}")
    return "".join(parts)


def _latex_symbol(name: str) -> str:
    if name.startswith("conj(") and name.endswith(")"):
        return rf"\overline{{{_latex_symbol(name[5:-1])}}}"
    if name.startswith("abs(") and name.endswith(")"):
        return rf"|{_latex_symbol(name[4:-1])}|"
    if "_" in name:
        field, axes = name.split("_", 1)
        return f"{field}_{{{axes}}}"
    return name


def latex_equation(lhs: str, coefs: Mapping[str, complex], digits: int = 4) -> str:
    """``u_t = - 1.0 u u_{x} + 0.1 u_{xx}``; complex: ``u_t = 0.5 i u_{xx} + …``."""
    pieces: list[str] = []
    for term, c in coefs.items():
        body = "" if term == "1" else " ".join(_split_powers(term))
        sign, mag = _signed(c, digits, " i")
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


def real_parts(equation: Mapping[str, Any]) -> dict[str, Any]:
    """An equation of a complex field (coefficients ``[re, im]``) as real coefficients
    ``Re[term]`` and ``Im[term]`` (the parts that are not zero), with their intervals; a real
    equation as it is."""
    if not any(isinstance(c, list) for c in equation["terms"].values()):
        return dict(equation)
    terms: dict[str, float] = {}
    ci: dict[str, list[float]] = {}
    incl: dict[str, float] = {}
    for term, (c_re, c_im) in equation["terms"].items():
        box = equation.get("ci95", {}).get(term)
        for i, (part, c) in enumerate((("Re", c_re), ("Im", c_im))):
            if c == 0.0 and (box is None or box[i] == [0.0, 0.0]):
                continue
            name = f"{part}[{term}]"
            terms[name] = c
            if box is not None:
                ci[name] = box[i]
            if term in equation.get("inclusion_probability", {}):
                incl[name] = equation["inclusion_probability"][term]
    for term, p in equation.get("inclusion_probability", {}).items():
        if term not in equation["terms"]:
            incl[term] = p
    out = dict(equation, terms=terms, inclusion_probability=incl)
    if "ci95" in equation:
        out["ci95"] = ci
    return out


def parse_equation(text: str, what: str = "equation") -> dict[str, dict[str, Any]]:
    """``"u_t = -1.0*u*u_x + 0.1*u_xx; …"`` as ``{"u_t": {"u*u_x": -1.0, "u_xx": 0.1}}``: the
    one parser of equations in the result grammar (a generator's ``attrs["equation"]``, the
    PINN's residual, the benchmarks' truth). Each right-hand side is expanded and equivalent
    terms merged; a complex coefficient (``0.5*I*u_xx``) is a complex number. A part without
    ``=`` is a ConfigError naming ``what`` and the text."""
    out: dict[str, dict[str, Any]] = {}
    for part in text.split(";"):
        if "=" not in part:
            raise ConfigError(
                f"{what} {text!r}: expected 'lhs = rhs' (e.g. 'u_t = 0.1*u_xx'), "
                f"found {part.strip()!r}"
            )
        lhs, rhs = (s.strip() for s in part.split("=", 1))
        expr = sympy.expand(to_sympy(rhs.replace(" ", "")))
        coefs: dict[str, Any] = {}
        for term in expr.as_ordered_terms():
            c, rest = term.as_independent(*term.free_symbols, as_Add=False)
            c = complex(c)
            coefs[term_string(rest)] = c if c.imag else c.real
        out[lhs] = canonical_terms(coefs)
    return out
