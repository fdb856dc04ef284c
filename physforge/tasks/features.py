"""Task: a DatasetRef (and optionally a PINN surrogate) in, the candidate-term library as Zarr
out (FeatureRef)."""

from __future__ import annotations

from prefect import task

from physforge.config import FeatureConfig
from physforge.datasets.ingest import open_dataset
from physforge.discovery.features import build_features, surrogate_features
from physforge.refs import DatasetRef, FeatureRef, SurrogateRef
from physforge.storage_blocks.store import ArtifactStore, Transaction
from physforge.tasks.common import code_version, task_defaults

__all__ = ["extract_features"]


@task(name="extract_features", **task_defaults())
def extract_features(
    dataset: DatasetRef, config: FeatureConfig, surrogate: SurrogateRef | None = None
) -> FeatureRef:
    """Derivatives and library from the raw data, or by autodiff of ``surrogate``."""
    store = ArtifactStore(dataset.store)
    cfg = config.model_dump(mode="json")
    source = surrogate.sha256 if surrogate else None

    def write(tx: Transaction) -> None:
        ds = open_dataset(dataset, allow_scattered=True)  # scattered: mesh-free or surrogate
        if surrogate is not None:
            from physforge.pinn.ensemble import SurrogateEnsemble

            fs = surrogate_features(SurrogateEnsemble.load(store, surrogate.key), ds, config)
        else:
            fs = build_features(ds, config)
        tx.meta["info"] = fs.info
        tx.put_zarr("library.zarr", fs.to_xarray())

    art = store.computed(
        "features", [dataset.sha256, source, cfg, code_version()], write, meta={"kind": "features"}
    )
    return FeatureRef(
        store=store.url,
        key=art.prefix,
        sha256=art.sha256,
        dataset=dataset,
        config=cfg,
        info=art.meta.get("info", {}),
    )
