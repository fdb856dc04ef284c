"""What each section of the report displays, so the template stays a few lines a cell.

Every function takes the loaded :class:`~physforge.reporting.run.RunData` and emits figures as
``image/png`` and text as Markdown or LaTeX; a stage the run does not have shows a note instead.
Inside a Jupyter kernel (the notebook, ``physforge report --execute``) outputs are displayed;
under :func:`collect` (the report the flow writes, no kernel) they are returned as
:class:`Output` records, the same content.
"""

from __future__ import annotations

import contextvars
import functools
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import physforge
from physforge.discovery.terms import real_parts
from physforge.reporting import figures
from physforge.reporting.run import RunData
from physforge.reporting.table import one_minus_r2, selection_reason

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Output",
    "collect",
    "figure",
    "note",
    "section",
    "header",
    "equations",
    "fields",
    "surrogate",
    "derivatives",
    "pareto",
    "coefficients",
    "proposals",
    "provenance",
    "markdown_table",
]


@dataclass(frozen=True)
class Output:
    """One displayed output: its MIME type, content and, for a figure, its alt text."""

    mime: str  # text/markdown | text/latex | image/png
    data: str | bytes
    alt: str = ""


_SINK: contextvars.ContextVar[list[Output] | None] = contextvars.ContextVar(
    "physforge_report_sink", default=None
)


def collect(fn: Callable[[RunData], None], run: RunData) -> list[Output]:
    """The outputs of one section, returned instead of displayed."""
    outputs: list[Output] = []
    token = _SINK.set(outputs)
    try:
        fn(run)
    finally:
        _SINK.reset(token)
    return outputs


def _emit(out: Output) -> None:
    sink = _SINK.get()
    if sink is not None:
        sink.append(out)
        return
    from IPython.display import Image, Latex, Markdown, display

    if out.mime == "image/png":
        display(Image(data=out.data, format="png", metadata={"alt": out.alt}))
    else:
        display((Latex if out.mime == "text/latex" else Markdown)(out.data))


def _markdown(text: str) -> None:
    _emit(Output("text/markdown", text))


def figure(fig: Figure, alt: str) -> None:
    """A figure as ``image/png``, with alt text (the HTML's ``alt``)."""
    _emit(Output("image/png", figures.to_png(fig), alt))


def note(text: str) -> None:
    _markdown(f"> *{text}*")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def section(fn: Callable[[RunData], None]) -> Callable[[RunData], None]:
    """One report section: if it fails, the report says so in its place and goes on (a report
    with one missing figure is still worth reading); the error is shown, not hidden."""

    @functools.wraps(fn)
    def run_section(run: RunData) -> None:
        try:
            fn(run)
        except Exception as exc:  # noqa: BLE001 - shown in the report, in place of the section
            _markdown(f"> ⚠ **this section could not be drawn:** `{type(exc).__name__}: {exc}`")

    return run_section


def _best(run: RunData) -> list[Mapping[str, Any]]:
    eqs = run.result["equations"]
    return [e for e in eqs if e.get("rank", 1) == 1] or eqs[:1]


@section
def header(run: RunData) -> None:
    ds, feat = run.result["dataset"], run.result.get("features", {})
    shape = " × ".join(f"{d} {n}" for d, n in zip(ds["dims"], ds.get("shape", [])))
    lines = [
        f"**Data** `{ds['uri']}` — fields {', '.join(ds['fields'])}; grid {shape}; "
        f"noise estimate {ds.get('noise_estimate', 0):.3g} (fraction of the field's std).",
        "",
        f"**Derivatives** in space: {feat.get('derivatives_space', '?')}, in time: "
        f"{feat.get('derivatives_time', '?')}; periodic axes: {feat.get('periodic') or 'none'}.",
        "",
    ]
    warnings = ds.get("warnings", [])
    lines += [f"> ⚠ **validation warning:** {w}" for w in warnings] or ["No validation warnings."]
    _markdown("\n".join(lines))


@section
def equations(run: RunData) -> None:
    best = _best(run)
    figure(figures.equation_figure(best), "; ".join(e["latex"] for e in best))
    for eq in best:
        _emit(Output("text/latex", f"$${eq['latex']}$$"))
    rows = [
        (
            f"`{e['lhs']}`",
            e["method"],
            len(e["terms"]),
            one_minus_r2(e),
            f"{e['score']['aic']:.1f}",
            f"{e['score']['bic']:.1f}",
        )
        for e in best
    ]
    _markdown(markdown_table(("lhs", "method", "terms", "1 − R²", "AIC", "BIC"), rows))


@section
def fields(run: RunData) -> None:
    for f in run.fields:
        figure(figures.field_figure(run.dataset, f), f"the measured field {f}")


@section
def surrogate(run: RunData) -> None:
    if run.surrogate is None:
        note(run.surrogate_note)
        return
    for f in run.fields:
        if f in run.surrogate:
            figure(
                figures.surrogate_figure(run.dataset, run.surrogate, f),
                f"surrogate fit of {f} and its residual",
            )


@section
def derivatives(run: RunData) -> None:
    if figures.is_scattered(run.dataset):
        note("Scattered measurements: there is no grid to compare derivative methods on.")
        return
    order = int(run.result.get("config", {}).get("features", {}).get("derivative_order", 2))
    for f in run.fields:
        figure(
            figures.derivative_figure(run.dataset, f, orders=tuple(range(1, min(order, 2) + 1))),
            f"derivatives of {f} by each method against each other",
        )


@section
def pareto(run: RunData) -> None:
    cfg = run.result.get("config", {}).get("discovery", {})
    points: list[dict] = run.models or []
    if run.models is None and run.features is not None:
        points = figures.pareto_points(
            run.features, cfg.get("backend", "stlsq"), int(cfg.get("n_thresholds", 40))
        )
    figure(
        figures.pareto_figure(points, run.result["equations"]),
        "Pareto front of the candidate models: 1 - R² against complexity",
    )
    rows = [
        (
            e.get("rank", ""),
            f"`{e['lhs']} = {e['rhs']}`",
            len(e["terms"]),
            one_minus_r2(e),
            f"{e['score']['aic']:.1f}",
            f"{e['score']['bic']:.1f}",
        )
        for e in run.result["equations"]
    ]
    _markdown(markdown_table(("rank", "equation", "terms", "1 − R²", "AIC", "BIC"), rows))
    note(selection_reason(run.result))


@section
def coefficients(run: RunData) -> None:
    for eq in _best(run):
        if "ci95" not in eq:
            note(f"{eq['lhs']}: no bootstrap in this run (n_bootstrap = 0), so no intervals.")
            continue
        figure(
            figures.coefficient_figure(eq),
            f"{eq['lhs']}: coefficients with 95% intervals and inclusion probabilities",
        )
        eq = real_parts(eq)  # a complex coefficient as its real and imaginary part
        incl = eq.get("inclusion_probability", {})
        rows = [
            (
                f"`{t}`",
                f"{c:.6g}",
                f"[{eq['ci95'][t][0]:.6g}, {eq['ci95'][t][1]:.6g}]",
                f"{incl[t]:.2f}" if t in incl else "",
            )
            for t, c in eq["terms"].items()
        ]
        _markdown(markdown_table(("term", "coefficient", "95% interval", "P(include)"), rows))


@section
def proposals(run: RunData) -> None:
    if run.proposals is None:
        note(run.proposals_note)
        return
    figure(
        figures.proposals_figure(run.dataset, run.fields[0], run.proposals),
        f"{len(run.proposals)} proposed measurements over the data domain",
    )


@section
def provenance(run: RunData) -> None:
    inp = run.inputs
    keys = [
        (k, getattr(inp, k) or "—")
        for k in ("discovery_key", "features_key", "dataset_key", "surrogate_key", "proposals_key")
    ]
    rows = [
        ("store", inp.store_url),
        *keys,
        ("physforge", physforge.__version__),
        ("python", f"{sys.version.split()[0]} ({sys.prefix})"),
    ]
    text = markdown_table(("", ""), rows)
    text += f"\n\nRe-run: `physforge report {inp.store_url}/{inp.discovery_key}`"
    _markdown(text)
