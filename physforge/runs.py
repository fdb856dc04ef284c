"""A whole discovery's result, memoised: ``runs/<key>/result.json`` in the store.

Every task of the discovery flow is cached already, but a fully cached flow run still costs a
flow run's set-up, six task runs and their API calls: about a second, which is most of a
re-run's wall time. So the flow's last task records the result under a key of everything the
result depends on (the source's content, the configuration, the code version of the science
and the flow wiring, the reporting code and the report template), and ``discover()`` and
``physforge discover`` look it up before they start a flow run. A hit is returned as the run
that computed it returned it, with ``cached`` naming that run; the discovery and report it
points to must still be committed, or it is no hit. A miss (or a damaged record) runs the
flow, which rewrites the record (:func:`physforge.tasks.remember.remember`).

No Prefect here: a cached ``physforge discover`` imports this module and returns before
Prefect is imported.
"""

from __future__ import annotations

from typing import Any

from physforge.config import PipelineConfig
from physforge.datasets.ingest import check_source, source_fingerprint
from physforge.errors import IntegrityError, PhysForgeError, StoreError
from physforge.storage_blocks.store import ArtifactStore, artifact_key
from physforge.versioning import SCIENCE, code_version

__all__ = ["KIND", "recall", "run_key"]

KIND = "runs"


def run_key(dataset: str, config: PipelineConfig) -> str | None:
    """``runs/<key>`` of a discovery of ``dataset`` with ``config``; None when the source
    cannot be read (the flow then fails with the reason)."""
    from physforge.reporting.notebook import report_version

    try:
        check_source(dataset, config.ingest)
        fingerprint = source_fingerprint(dataset)
        report = report_version()  # the reporting code and the template in use
    except (PhysForgeError, OSError):
        return None
    parts = [
        "discover",
        fingerprint,
        config.model_dump(mode="json"),
        code_version(*SCIENCE, "flows", "runs.py"),
        report,
    ]
    return artifact_key(KIND, parts)


def _committed(store: ArtifactStore, uri: str | None) -> bool:
    """Whether the artifact holding ``uri`` (a file in it, or its prefix) is committed."""
    if not uri:
        return False
    base = f"{store.protocol}://{store.root.rstrip('/')}/"
    if not uri.startswith(base):
        return False
    rel = uri[len(base) :].split("/")
    return len(rel) >= 2 and store.is_committed("/".join(rel[:2]))


def recall(dataset: str, config: PipelineConfig, store: ArtifactStore) -> dict[str, Any] | None:
    """The memoised result of this discovery, or None."""
    key = run_key(dataset, config)
    if key is None or not store.is_committed(key):
        return None
    try:
        art = store.artifact(key)
        result = art.read_json("result.json")
    except (IntegrityError, StoreError):  # damaged: the flow recomputes and rewrites it
        return None
    report = result.get("report") or {}
    if not all(
        _committed(store, uri)
        for uri in ((result.get("discovery") or {}).get("uri"), report.get("html"))
    ):
        return None
    result["cached"] = {
        "flow_run_id": art.manifest.get("meta", {}).get("flow_run_id"),
        "computed_at": art.manifest.get("meta", {}).get("computed_at"),
        "record": art.uri,
    }
    return result
