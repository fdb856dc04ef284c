"""The ``solve`` flow: validate spec → train (Dask; GPU when present; checkpoint/resume) →
evaluate on a grid → store solution Zarr + model card → report the error. Wiring only."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import dask
from prefect import flow

from physforge.compute.cluster import choose_cluster, task_runner
from physforge.heartbeat import heartbeat_hooks, own_heartbeats
from physforge.pinn.problems import load_spec
from physforge.refs import ForwardModelRef, SolutionRef
from physforge.storage_blocks.store import ArtifactStore
from physforge.tasks.common import task_options
from physforge.tasks.solve import evaluate_solution, train_solution

__all__ = ["solve_flow", "solve"]


@flow(name="solve-train", log_prints=True, **heartbeat_hooks())
def train_on_cluster(
    spec: dict[str, Any], store_url: str, cluster: dict[str, Any]
) -> ForwardModelRef:
    """Training as one task run on this flow's task runner (a Dask cluster when chosen)."""
    opts = task_options(ArtifactStore(store_url))
    resources = {"GPU": 1} if cluster.get("kind") == "cuda" else None
    with dask.annotate(resources=resources) if resources else contextlib.nullcontext():
        future = train_solution.with_options(**opts).submit(spec, store_url)
    return future.result()


def _train(
    spec: dict[str, Any], store_url: str, use_dask: bool, dask_address: str | None
) -> ForwardModelRef:
    if not use_dask:
        return train_on_cluster(spec, store_url, {"kind": "in-process"})
    from physforge.flows.surrogate import _api_visible_to_workers

    choice = choose_cluster(dask_address, n_workers=1, members=1)
    with _api_visible_to_workers():
        return train_on_cluster.with_options(task_runner=task_runner(choice))(
            spec, store_url, choice.describe()
        )


@flow(name="solve", log_prints=True, **heartbeat_hooks())
def solve_flow(
    spec: dict[str, Any],
    store: str | None = None,
    use_dask: bool = True,
    dask_address: str | None = None,
) -> dict[str, Any]:
    """Solve a forward problem with a PINN.

    Parameters
    ----------
    spec
        The problem spec as a mapping (see ``examples/specs/*.yaml``); validated first.
    store
        Artifact store URL; default ``$PHYSFORGE_STORE`` or ``./physforge-store``.
    use_dask
        Train on a Dask cluster (``$PHYSFORGE_DASK_ADDRESS`` / ``dask_address``, a
        LocalCUDACluster on GPU machines, else a LocalCluster); False trains in-process.
    """
    problem = load_spec(spec)
    normalised = problem.model_dump(mode="json")
    artifact_store = ArtifactStore(store)
    model = _train(normalised, artifact_store.url, use_dask, dask_address)
    solution: SolutionRef = evaluate_solution.with_options(**task_options(artifact_store))(model)
    err = solution.errors.get("relative_l2")
    print(
        f"{problem.name}: relative L2 error {err if err is None else f'{err:.3e}'} against "
        f"{solution.errors.get('reference')}; solution at {solution.uri}"
    )
    return {
        "problem": problem.problem,
        "name": problem.name,
        "solution": solution.uri,
        "key": solution.key,
        "model": model.key,
        "errors": solution.errors,
        "training": model.training,
    }


def solve(
    spec: str | Path | dict[str, Any], store: str | None = None, use_dask: bool = True
) -> dict[str, Any]:
    """From Python: ``solve("examples/specs/heat_1d.yaml")`` returns the summary dict."""
    problem = load_spec(spec)
    with own_heartbeats():
        return solve_flow(problem.model_dump(mode="json"), store, use_dask)
