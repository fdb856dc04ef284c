"""Task: a dataset file or URI in, a DatasetRef out (validation summarised as an artifact)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from physforge.config import IngestConfig
from physforge.datasets.ingest import check_source, ingest_dataset, source_fingerprint
from physforge.errors import PhysForgeError
from physforge.refs import DatasetRef
from physforge.storage_blocks.store import ArtifactStore
from physforge.tasks.common import ref_cache_key, task_defaults

__all__ = ["ingest", "validation_markdown"]


def _ingest_cache_key(context, parameters) -> str | None:
    """The source enters the key by its content (bytes hash or ETags), not its name. A source
    that cannot be read, or lies outside the data roots, gives no key: the task body then fails
    with the real reason instead of a cached result being returned."""
    params = dict(parameters)
    try:
        check_source(params["source"], params["config"])  # roots may have changed since
        params["source"] = source_fingerprint(params["source"])
    except (PhysForgeError, OSError):
        return None
    return ref_cache_key(context, params)


def validation_markdown(ref: DatasetRef, report: dict) -> str:
    lines = [
        f"# Data quality: `{ref.source}`",
        "",
        f"{ref.layout} {ref.dims} {ref.shape}, fields {ref.fields}, sha256 `{ref.sha256[:16]}`",
        f"noise estimate {report['noise_estimate']:.2%}",
        "",
    ]
    lines += [f"> warning: {w}" for w in report["warnings"]]
    lines += ["", "| table | expectation | kwargs | severity | result |", "|---|---|---|---|---|"]
    for r in report["results"]:
        kwargs = ", ".join(f"{k}={v}" for k, v in r["kwargs"].items())
        lines.append(
            f"| {r['table']} | {r['expectation']} | {kwargs} | {r['severity']} | "
            f"{'pass' if r['success'] else 'FAIL'} |"
        )
    return "\n".join(lines)


@task(name="ingest", **(task_defaults() | {"cache_key_fn": _ingest_cache_key}))
def ingest(source: str, config: IngestConfig, store_url: str) -> DatasetRef:
    ref, report = ingest_dataset(source, ArtifactStore(store_url), config)
    create_markdown_artifact(
        validation_markdown(ref, report.as_dict()),
        key="physforge-validation",
        description="Dataset validation",
    )
    logger = get_run_logger()
    logger.info("ingested %s: dims %s, fields %s -> %s", source, ref.dims, ref.fields, ref.key)
    for w in ref.warnings:
        logger.warning("%s: %s", source, w)
    return ref
