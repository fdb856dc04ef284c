"""Equations as MathML: rendered by browsers natively, offline."""

from __future__ import annotations

__all__ = ["latex_to_mathml"]


def latex_to_mathml(latex: str, display: str = "block") -> str:
    """MathML for a LaTeX equation (``$$…$$``, ``$…$`` or bare), with the LaTeX kept as its
    annotation: browsers render it natively, with no script or font from the network."""
    from html import escape

    from latex2mathml.converter import convert

    body = latex.strip().strip("$").strip()
    math = convert(body, display=display)
    head, rest = math.split(">", 1)
    inner = rest.rsplit("</math>", 1)[0]
    return (
        f'{head}><semantics>{inner}<annotation encoding="application/x-tex">'
        f"{escape(body)}</annotation></semantics></math>"
    )
