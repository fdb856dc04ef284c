"""Task: the stored result JSON; ``markdown_summary`` renders it for the run's markdown artifact
(published by :func:`physforge.reporting.artifacts.publish_artifacts` on every run)."""

from __future__ import annotations

from prefect import task

from physforge.refs import DiscoveryRef
from physforge.storage_blocks.store import open_ref
from physforge.tasks.common import task_defaults

__all__ = ["summarise", "markdown_summary"]


def markdown_summary(result: dict) -> str:
    """The run's markdown artifact: rank 1 of each lhs as MathML (rendered by the browser, no
    MathJax or network), then the candidates compact as text, the reason for rank 1, and where
    the report is."""
    from physforge.reporting.links import browser_link
    from physforge.reporting.mathml import latex_to_mathml
    from physforge.reporting.table import compact_equation, one_minus_r2, selection_reason

    ds = result["dataset"]
    lines = [
        f"# PhysForge discovery: `{ds['uri']}`",
        "",
        f"dims {ds['dims']}, fields {ds['fields']}",
        "",
    ]
    lines += [f"> warning: {w}" for w in ds.get("warnings", [])]
    seen: set[str] = set()
    for eq in result["equations"]:
        if eq["lhs"] not in seen and eq.get("latex"):
            seen.add(eq["lhs"])
            lines += [latex_to_mathml(eq["latex"]), ""]
    lines += ["| rank | equation | terms | 1 − R² | AIC | BIC |", "|---|---|---|---|---|---|"]
    for eq in result["equations"]:
        s = eq["score"]
        lines.append(
            f"| {eq.get('rank', '')} | `{compact_equation(eq)}` | {len(eq['terms'])} "
            f"| {one_minus_r2(eq)} | {s['aic']:.1f} | {s['bic']:.1f} |"
        )
    lines += ["", f"*{selection_reason(result)}*"]
    html = (result.get("report") or {}).get("html")
    if html:
        link = browser_link(html)
        lines += [
            "",
            f"Report: [{html}]({link})" if link else f"Report: `{html.removeprefix('file://')}`",
        ]
    return "\n".join(lines)


@task(name="summarise", **task_defaults())
def summarise(discovery: DiscoveryRef) -> dict:
    result = open_ref(discovery).read_json("result.json")
    result["discovery"] = {"uri": discovery.uri, "sha256": discovery.sha256}
    return result
