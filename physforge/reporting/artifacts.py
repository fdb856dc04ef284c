"""The Prefect artifacts of a discovery run: a markdown summary, the ranked candidates as a
table, and a link to the report. Called in the flow so that every run, cached or not, has them."""

from __future__ import annotations

from typing import Any

__all__ = ["candidate_rows", "publish_artifacts"]


def candidate_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per ranked candidate (best first), as the table artifact shows it: the equation
    compact (4 significant digits, negligible terms folded) so the table fits the artifact
    view; the result JSON has every coefficient."""
    from physforge.reporting.table import compact_equation, one_minus_r2

    rows = []
    for eq in result["equations"]:
        s = eq["score"]
        rows.append(
            {
                "rank": eq.get("rank", ""),
                "lhs": eq["lhs"],
                "equation": compact_equation(eq),
                "terms": len(eq.get("terms", {})),
                "1-r2": one_minus_r2(eq),
                "aic": round(float(s["aic"]), 1),
                "bic": round(float(s["bic"]), 1),
                "method": eq["method"],
            }
        )
    return rows


def publish_artifacts(result: dict[str, Any]) -> None:
    """Create the run's artifacts; must run inside a flow or task run.

    The report is a link artifact where a browser can open it (an http(s) store, or S3
    presigned for a week); a report in a local folder is named by its path in a markdown
    artifact instead (a ``file://`` link does not open from the UI)."""
    from prefect.artifacts import (
        create_link_artifact,
        create_markdown_artifact,
        create_table_artifact,
    )

    from physforge.reporting.links import PRESIGN_SECONDS, browser_link
    from physforge.tasks.summarise import markdown_summary

    create_markdown_artifact(
        markdown_summary(result),
        key="physforge-discovery",
        description="Discovered equations, scores and validation warnings",
    )
    create_table_artifact(
        candidate_rows(result),
        key="physforge-candidates",
        description="Ranked candidate equations (compact; the result JSON has every coefficient)",
    )
    report = result.get("report") or {}
    html = report.get("html")
    if not html:
        return
    link = browser_link(html)
    if link is not None:
        expires = (
            f"; the link expires after {PRESIGN_SECONDS // 86400} days" if link != html else ""
        )
        create_link_artifact(
            link,
            link_text="Discovery report (HTML)",
            key="physforge-report",
            description=f"{html} (notebook: {report.get('ipynb', '')}{expires})",
        )
    else:
        path = html.removeprefix("file://")
        create_markdown_artifact(
            f"Discovery report (HTML): `{path}`\n\nExecuted notebook: "
            f"`{report.get('ipynb', '').removeprefix('file://')}`\n\nA file on the machine "
            "that ran the flow: open it there (a browser does not follow file links from the "
            "UI).",
            key="physforge-report",
            description="Where the report is",
        )
