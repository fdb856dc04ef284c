"""Task: the stored result JSON; ``markdown_summary`` renders it for the run's markdown artifact
(published by :func:`physforge.reporting.artifacts.publish_artifacts` on every run)."""

from __future__ import annotations

from prefect import task

from physforge.refs import DiscoveryRef
from physforge.storage_blocks.store import ArtifactStore
from physforge.tasks.common import task_defaults

__all__ = ["summarise", "markdown_summary"]


def markdown_summary(result: dict) -> str:
    ds = result["dataset"]
    lines = [f"# PhysForge discovery: `{ds['uri']}`", "",
             f"dims {ds['dims']}, fields {ds['fields']}", ""]
    lines += [f"> warning: {w}" for w in ds.get("warnings", [])]
    lines += ["| rank | equation | complexity | r² | AIC | BIC |", "|---|---|---|---|---|---|"]
    for eq in result["equations"]:
        s = eq["score"]
        lines.append(f"| {eq.get('rank', '')} | ${eq['latex']}$ | {s['complexity']} "
                     f"| {s['r2']:.6f} | {s['aic']:.1f} | {s['bic']:.1f} |")
    if (result.get("report") or {}).get("html"):
        lines += ["", f"Report: [{result['report']['html']}]({result['report']['html']})"]
    return "\n".join(lines)


@task(name="summarise", **task_defaults())
def summarise(discovery: DiscoveryRef) -> dict:
    result = ArtifactStore(discovery.store).artifact(discovery.key).read_json("result.json")
    result["discovery"] = {"uri": discovery.uri, "sha256": discovery.sha256}
    return result
