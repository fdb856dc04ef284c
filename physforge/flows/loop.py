"""The closed loop: discover → propose → measure → ingest until the best model is confident
or the budget is spent. Wiring only."""

from __future__ import annotations

import time
from typing import Any

from prefect import flow

from physforge.config import LoopConfig
from physforge.discovery.design.loop import drive, stop_rule
from physforge.heartbeat import heartbeat_hooks, own_heartbeats
from physforge.refs import MeasurementsRef, WindowDiscoveryRef
from physforge.storage_blocks.store import ArtifactStore
from physforge.tasks.common import task_options
from physforge.tasks.propose import discover_windows, ingest_measurements, measure, propose_task

__all__ = ["loop_flow", "loop"]


@flow(name="loop", log_prints=True, **heartbeat_hooks())
def loop_flow(config: LoopConfig = LoopConfig(), store: str | None = None) -> dict[str, Any]:
    """Active experiment design against a simulator oracle.

    Starts from ``config.initial`` random windows; each round discovers on all windows,
    stops once the best model's terms all have inclusion probability ≥ ``config.threshold``
    with one structure for ``config.confirm`` rounds, else proposes ``batch_size`` windows,
    measures and ingests them — at most ``proposal.budget`` added windows in all.
    """
    start = time.perf_counter()
    artifact_store = ArtifactStore(store)
    opts = task_options(artifact_store)
    history: list[dict[str, Any]] = []
    rounds: list[tuple[bool, tuple]] = []
    proposals: list[str] = []
    discoveries: list[WindowDiscoveryRef] = []

    def discover(data: MeasurementsRef, round_: int, added: int) -> bool:
        disc = discover_windows.with_options(**opts)(data, config)
        discoveries.append(disc)
        history.append(
            {
                "round": round_,
                "added": added,
                "best": disc.best,
                "min_inclusion": disc.min_inclusion,
                "confident": disc.confident,
                "structure": disc.structure,
            }
        )
        rounds.append((disc.confident, tuple(tuple(s) for s in disc.structure)))
        return stop_rule(rounds, config.confirm)

    def extend(data: MeasurementsRef, round_: int, added: int) -> tuple[MeasurementsRef, int]:
        disc = discoveries[-1]
        prop = propose_task.with_options(**opts)(data, disc, config.proposal, config, added, round_)
        proposals.append(prop.uri)
        new = measure.with_options(**opts)(config, prop, round_ + 1, artifact_store.url)
        data = ingest_measurements.with_options(**opts)(data, new)
        print(
            f"round {round_}: best {disc.best}, min P(include) {disc.min_inclusion:.2f}; "
            f"+{prop.rows} window(s) -> {len(data.datasets)}"
        )
        return data, prop.rows

    data = measure.with_options(**opts)(config, None, 0, artifact_store.url)
    data, stopped = drive(data, discover, extend, config.proposal.budget)
    return {
        "stopped": stopped,
        "added": history[-1]["added"],
        "windows": len(data.datasets),
        "best": history[-1]["best"],
        "min_inclusion": history[-1]["min_inclusion"],
        "history": history,
        "proposals": proposals,
        "discovery": discoveries[-1].uri,
        "measurements": data.uri,
        "runtime_s": round(time.perf_counter() - start, 3),
    }


def loop(config: LoopConfig | dict | None = None, store: str | None = None) -> dict[str, Any]:
    """Run the loop flow from Python: ``loop({"example": "burgers"})``."""
    if isinstance(config, dict):
        config = LoopConfig.model_validate(config)
    with own_heartbeats():
        return loop_flow(config or LoopConfig(), store)
