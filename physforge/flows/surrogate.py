"""The surrogate flows: ensemble members in parallel on a DaskTaskRunner. Wiring only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import dask
from prefect import flow

from physforge.compute.cluster import choose_cluster, prefect_api_url, task_runner
from physforge.config import IngestConfig, SurrogateConfig
from physforge.heartbeat import heartbeat_hooks, own_heartbeats
from physforge.refs import DatasetRef, SurrogateRef
from physforge.storage_blocks.store import ArtifactStore
from physforge.tasks.common import task_options
from physforge.tasks.ingest import ingest
from physforge.tasks.surrogate import assemble_surrogate, train_member

__all__ = ["train_ensemble_flow", "run_ensemble", "train_surrogate", "train_flow", "train"]


@flow(name="train-ensemble", log_prints=True, **heartbeat_hooks())
def train_ensemble_flow(
    dataset: DatasetRef, config: SurrogateConfig, cluster: dict[str, Any]
) -> SurrogateRef:
    """K members as separate task runs on this flow's (Dask) task runner, then the ensemble."""
    opts = task_options(ArtifactStore(dataset.store))
    workers = _warm_workers()
    member_task = train_member.with_options(**opts)
    futures = []
    for i in range(config.members):
        # spread members over the workers up front (a worker may otherwise be handed two at
        # once while another idles); any other worker may take a member over if one dies
        place: dict[str, Any] = {}
        if workers:
            place = {"workers": [workers[i % len(workers)]], "allow_other_workers": True}
        if cluster.get("kind") == "cuda":
            place["resources"] = {"GPU": 1}
        with dask.annotate(**place) if place else contextlib.nullcontext():
            futures.append(member_task.submit(dataset, config, i))
    members = [f.result() for f in futures]
    return assemble_surrogate.with_options(**opts)(dataset, config, members, cluster)


def _import_science() -> int:
    """Import the training stack once per worker, before any task runs: two threads of one
    worker importing xarray/torch at the same time can deadlock on Python's import locks."""
    import importlib
    import os

    import physforge.tasks.surrogate  # noqa: F401  (torch, xarray, zarr, prefect; DDE_BACKEND)
    from physforge.storage_blocks.blocks import register_guarded_protocols

    register_guarded_protocols()  # members' results (an install older than the entry points)
    importlib.import_module("deepxde")  # the networks import it lazily; it takes seconds
    return os.getpid()


def _warm_workers() -> list[str]:
    """Import the science on every worker of this flow's Dask runner; their addresses."""
    from prefect.context import FlowRunContext
    from prefect_dask import DaskTaskRunner

    ctx = FlowRunContext.get()
    runner = ctx.task_runner if ctx else None
    if not isinstance(runner, DaskTaskRunner):
        return []
    return sorted(runner.client.run(_import_science))


@contextlib.contextmanager
def _api_visible_to_workers() -> Iterator[None]:
    """Dask workers get Prefect settings with each task; with Prefect's ephemeral API (no
    PREFECT_API_URL) they would each start their own server, so point them at this process's."""
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    if get_current_settings().api.url:
        yield
        return
    url = prefect_api_url()
    if url is not None:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield
        return
    # no API yet: one for the ensemble's duration, stopped (and reaped) when it ends
    from physforge.server import EmbeddedServer

    server = EmbeddedServer().start()
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.wait()}):
            yield
    finally:
        server.close()


def run_ensemble(dataset: DatasetRef, config: SurrogateConfig) -> SurrogateRef:
    """Choose the cluster (address / LocalCUDACluster / LocalCluster) and run the ensemble."""
    choice = choose_cluster(config.dask_address, config.n_workers, config.members)
    with _api_visible_to_workers():
        runner = task_runner(choice)
        return train_ensemble_flow.with_options(task_runner=runner)(
            dataset, config, choice.describe()
        )


def train_surrogate(dataset: DatasetRef, config: SurrogateConfig | None = None) -> SurrogateRef:
    """Fit the PINN ensemble to a dataset: members run in parallel as Prefect task runs on Dask
    (an existing scheduler, a LocalCUDACluster, or a LocalCluster; see
    :func:`physforge.compute.cluster.choose_cluster`). Works inside a flow (as a subflow) or on
    its own."""
    return run_ensemble(dataset, config or SurrogateConfig())


@flow(name="train", log_prints=True, **heartbeat_hooks())
def train_flow(
    dataset: str,
    config: SurrogateConfig = SurrogateConfig(),
    store: str | None = None,
    ingest_config: IngestConfig = IngestConfig(),
) -> SurrogateRef:
    """Ingest a data file and fit the PINN surrogate ensemble to it."""
    artifact_store = ArtifactStore(store)
    ds_ref = ingest.with_options(**task_options(artifact_store))(
        dataset, ingest_config, artifact_store.url
    )
    return run_ensemble(ds_ref, config)


def train(
    dataset: str, config: SurrogateConfig | dict | None = None, store: str | None = None
) -> SurrogateRef:
    """From Python: ``train("burgers.nc", {"members": 3})`` returns the SurrogateRef."""
    if isinstance(config, dict):
        config = SurrogateConfig.model_validate(config)
    with own_heartbeats():
        return train_flow(str(dataset), config or SurrogateConfig(), store)
