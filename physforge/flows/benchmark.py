"""The nightly benchmark: discovery on the generated example PDEs at a few noise levels, one
task per case (:mod:`physforge.tasks.benchmark`, scored by :mod:`physforge.discovery.benchmark`)
on a Dask cluster when one is named. Results go to the store (``benchmarks/<key>/results.json``)
and to a table artifact. Wiring only."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from physforge.compute.cluster import choose_cluster, scheduler_address, task_runner
from physforge.discovery.benchmark import score_case
from physforge.heartbeat import heartbeat_hooks
from physforge.storage_blocks.store import ArtifactStore
from physforge.tasks.benchmark import benchmark_case

__all__ = ["benchmark_nightly", "benchmark_case", "score_case", "cases_runner"]


@flow(name="benchmark-cases", log_prints=True, **heartbeat_hooks())
def _run_cases(examples: list[str], noise_levels: list[float], seed: int) -> list[dict]:
    futures = [benchmark_case.submit(ex, noise, seed) for ex in examples for noise in noise_levels]
    return [f.result() for f in futures]


def cases_runner(dask_address: str | None = None):
    """Dask on the scheduler at ``dask_address`` (else ``$PHYSFORGE_DASK_ADDRESS``) when one is
    named; else threads here."""
    address = scheduler_address(dask_address)
    if address:
        return task_runner(choose_cluster(address))
    return ThreadPoolTaskRunner(max_workers=1)


@flow(name="benchmark-nightly", log_prints=True, **heartbeat_hooks())
def benchmark_nightly(
    examples: list[str] = ["burgers"],  # noqa: B006 - Prefect needs a JSON default here
    noise_levels: list[float] = [0.0, 0.01, 0.05],  # noqa: B006
    seed: int = 0,
    store: str | None = None,
    dask_address: str | None = None,
) -> dict[str, Any]:
    """Discovery on the generated example PDEs at several noise levels.

    Args:
        examples: Example PDEs to generate (see `physforge example --help`), e.g. burgers.
        noise_levels: Gaussian noise levels, as fractions of each field's standard deviation.
        seed: Noise seed.
        store: Artifact store URL for the results; default: the block named by
            $PHYSFORGE_STORE_BLOCK, else $PHYSFORGE_STORE, else ./physforge-store.
        dask_address: Dask scheduler for the cases, e.g. tcp://scheduler:8786; default
            $PHYSFORGE_DASK_ADDRESS, else threads in the flow's process.
    """
    from prefect.artifacts import create_table_artifact

    rows = _run_cases.with_options(task_runner=cases_runner(dask_address))(
        list(examples), [float(n) for n in noise_levels], seed
    )
    when = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    doc = {
        "created": when,
        "cases": rows,
        "recovered": sum(r["recovered"] for r in rows),
        "total": len(rows),
    }
    artifact_store = ArtifactStore(store)
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]
    key = artifact_store.computed(
        "benchmarks",
        f"{when}-{digest}",
        lambda tx: tx.put_json("results.json", doc),
        meta={"kind": "benchmark"},
    ).prefix
    table = [
        {
            k: r[k]
            for k in ("example", "noise", "recovered", "max_rel_coef_error", "runtime_s", "worker")
        }
        for r in rows
    ]
    create_table_artifact(
        table,
        key="physforge-benchmark-nightly",
        description=f"Nightly discovery benchmark, {doc['recovered']}/"
        f"{doc['total']} recovered; {artifact_store.uri(key)}",
    )
    print(f"benchmark: {doc['recovered']}/{doc['total']} cases recovered the true equation")
    return {**doc, "uri": artifact_store.uri(key)}
