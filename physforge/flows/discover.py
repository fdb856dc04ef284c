"""The discovery flow: ingest → (train_surrogate) → extract_features → discover → summarise →
report. Wiring only; the surrogate is trained when asked for (``derivatives="surrogate"``);
scattered data otherwise get their features in extract_features, without a network
(:func:`physforge.discovery.features.build_features`)."""

from __future__ import annotations

import time
from typing import Any

from prefect import flow

from physforge.config import PipelineConfig
from physforge.heartbeat import heartbeat_hooks, own_heartbeats
from physforge.reporting.artifacts import publish_artifacts
from physforge.runs import recall
from physforge.server import local_server_settings
from physforge.storage_blocks.store import ArtifactStore
from physforge.tasks.common import task_options
from physforge.tasks.discover import discover_task
from physforge.tasks.features import extract_features
from physforge.tasks.ingest import ingest
from physforge.tasks.remember import remember
from physforge.tasks.report import report
from physforge.tasks.summarise import summarise

__all__ = ["discover_flow", "discover"]


@flow(name="discover", log_prints=True, **heartbeat_hooks())
def discover_flow(
    dataset: str,
    config: PipelineConfig = PipelineConfig(),
    store: str | None = None,
) -> dict[str, Any]:
    """Discover the governing PDE of a dataset.

    (Google-style ``Args:``: Prefect reads parameter descriptions for the deployment's form
    from this section and parses no other docstring style.)

    Args:
        dataset: Path or URI of the data file (NetCDF, HDF5, Zarr, .npz, .mat, CSV, Parquet),
            e.g. s3://bucket/run1/burgers.nc.
        config: Ingestion, feature and discovery settings; the defaults are the recommended
            configuration.
        store: Artifact store URL (file://… or s3://bucket/prefix); default: the block named
            by $PHYSFORGE_STORE_BLOCK, else $PHYSFORGE_STORE, else ./physforge-store.
    """
    start = time.perf_counter()
    artifact_store = ArtifactStore(store)
    opts = task_options(artifact_store)
    ds_ref = ingest.with_options(**opts)(dataset, config.ingest, artifact_store.url)
    surrogate = None
    if config.features.derivatives == "surrogate":
        from physforge.flows.surrogate import run_ensemble

        surrogate = run_ensemble(ds_ref, config.surrogate)
    feat_ref = extract_features.with_options(**opts)(ds_ref, config.features, surrogate)
    disc_ref = discover_task.with_options(**opts)(feat_ref, config.discovery)
    result = summarise.with_options(**opts)(disc_ref)
    report_ref = report.with_options(**opts)(disc_ref, surrogate)
    result["report"] = {"ipynb": report_ref.ipynb, "html": report_ref.html}
    result["runtime_s"] = round(time.perf_counter() - start, 3)
    publish_artifacts(result)
    remember.with_options(**opts)(dataset, config, artifact_store.url, result)
    return result


def discover(
    dataset: str, config: PipelineConfig | dict | None = None, store: str | None = None
) -> dict[str, Any]:
    """Run the discovery flow from Python: ``discover("burgers.nc")`` returns the result dict.

    With no Prefect API configured and the local server up (``physforge server start``), the
    run goes to that server (its UI shows it); else to Prefect's ephemeral API. A discovery
    done before (same data, configuration and code) is returned from the store without a flow
    run, its ``cached`` entry naming the run that computed it (:mod:`physforge.runs`).
    """
    if isinstance(config, dict):
        config = PipelineConfig.model_validate(config)
    config = config or PipelineConfig()
    artifact_store = ArtifactStore(store)
    cached = recall(str(dataset), config, artifact_store)
    if cached is not None:
        return cached
    with local_server_settings(), own_heartbeats():
        return discover_flow(str(dataset), config, artifact_store.url)
