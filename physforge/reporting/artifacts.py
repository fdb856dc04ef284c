"""The Prefect artifacts of a discovery run: a markdown summary, the ranked candidates as a
table, and a link to the report. Called in the flow so that every run, cached or not, has them."""

from __future__ import annotations

from typing import Any

__all__ = ["candidate_rows", "publish_artifacts"]


def candidate_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per ranked candidate (best first), as the table artifact shows it."""
    rows = []
    for eq in result["equations"]:
        s = eq["score"]
        rows.append({
            "rank": eq.get("rank", ""), "lhs": eq["lhs"], "equation": f"{eq['lhs']} = {eq['rhs']}",
            "terms": int(s["complexity"]), "r2": round(float(s["r2"]), 10),
            "aic": round(float(s["aic"]), 3), "bic": round(float(s["bic"]), 3),
            "method": eq["method"],
        })
    return rows


def publish_artifacts(result: dict[str, Any]) -> None:
    """Create the run's artifacts; must run inside a flow or task run."""
    from prefect.artifacts import (
        create_link_artifact,
        create_markdown_artifact,
        create_table_artifact,
    )

    from physforge.tasks.summarise import markdown_summary

    create_markdown_artifact(markdown_summary(result), key="physforge-discovery",
                             description="Discovered equations, scores and validation warnings")
    create_table_artifact(candidate_rows(result), key="physforge-candidates",
                          description="Ranked candidate equations")
    report = result.get("report") or {}
    if report.get("html"):
        create_link_artifact(report["html"], link_text="Discovery report (HTML)",
                             key="physforge-report",
                             description=f"Executed notebook: {report.get('ipynb', '')}")
