"""Task: the stored result JSON, shown as a Prefect markdown artifact."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact

from physforge.refs import DiscoveryRef
from physforge.storage_blocks.store import ArtifactStore
from physforge.tasks.common import task_defaults

__all__ = ["summarise", "markdown_summary"]


def markdown_summary(result: dict) -> str:
    ds = result["dataset"]
    lines = [f"# PhysForge discovery: `{ds['uri']}`", "",
             f"dims {ds['dims']}, fields {ds['fields']}", ""]
    lines += [f"> warning: {w}" for w in ds.get("warnings", [])]
    lines += ["| rank | equation | complexity | r² |", "|---|---|---|---|"]
    for eq in result["equations"]:
        lines.append(f"| {eq.get('rank', '')} | ${eq['latex']}$ | {eq['score']['complexity']} "
                     f"| {eq['score']['r2']:.6f} |")
    return "\n".join(lines)


@task(name="summarise", **task_defaults())
def summarise(discovery: DiscoveryRef) -> dict:
    result = ArtifactStore(discovery.store).artifact(discovery.key).read_json("result.json")
    result["discovery"] = {"uri": discovery.uri, "sha256": discovery.sha256}
    create_markdown_artifact(markdown_summary(result), key="physforge-discovery",
                             description="Discovered equations")
    return result
