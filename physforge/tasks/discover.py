"""Task: a FeatureRef in, the ranked equations as the design's result JSON out (DiscoveryRef),
beside ``models.json``: every candidate model the selection scored."""

from __future__ import annotations

from prefect import task

from physforge.config import DiscoveryConfig
from physforge.discovery.engine import run_discovery
from physforge.discovery.features import FeatureSet
from physforge.refs import DiscoveryRef, FeatureRef
from physforge.storage_blocks.store import ArtifactStore, Transaction, open_ref
from physforge.tasks.common import code_version, task_defaults

__all__ = ["discover_task", "result_document"]


def result_document(features: FeatureRef, equations: list[dict], config: dict) -> dict:
    dataset = features.dataset
    return {
        "dataset": {
            "uri": dataset.source,
            "sha256": dataset.sha256,
            "store_uri": dataset.uri,
            "dims": dataset.dims,
            "fields": dataset.fields,
            "given": dataset.given,
            "shape": dataset.shape,
            "noise_estimate": dataset.noise_estimate,
            "warnings": dataset.warnings,
        },
        "features": {"uri": features.uri, **features.info},
        "config": config,
        "equations": equations,
    }


@task(name="discover", **task_defaults())
def discover_task(features: FeatureRef, config: DiscoveryConfig) -> DiscoveryRef:
    store = ArtifactStore(features.store)
    cfg = config.model_dump(mode="json")

    def write(tx: Transaction) -> None:
        fs = FeatureSet.from_xarray(open_ref(features).open_zarr("library.zarr").load())
        found = run_discovery(fs, config)
        config_doc = {"features": features.config, "discovery": cfg}
        tx.put_json("result.json", result_document(features, found.equations, config_doc))
        tx.put_json("models.json", {"models": found.models})  # the report's Pareto front

    art = store.computed(
        "discoveries", [features.sha256, cfg, code_version()], write, meta={"kind": "discovery"}
    )
    return DiscoveryRef(
        store=store.url, key=art.prefix, sha256=art.sha256, features=features, config=cfg
    )
