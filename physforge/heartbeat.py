"""Flow-run heartbeats for the runs PhysForge starts in its own process (CLI, ``discover()``).

The crash automation (:mod:`physforge.storage_blocks.automations`) marks a flow run Crashed
once its ``prefect.flow-run.heartbeat`` events stop for 90 s, so every flow run must beat more
often than that. Prefect's engine beats every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds:
deployments set 30 (prefect.yaml), but its default is 180, so a run started from the CLI
against a server with the automation would be marked Crashed while alive. Prefect 3.8's
heartbeat thread also sleeps in 1 s steps and is joined when the flow ends, which adds up to a
second to every run.

So around a flow call it makes, PhysForge turns Prefect's heartbeat thread off
(:func:`own_heartbeats`) and each PhysForge flow beats itself (:func:`heartbeat_hooks`): the
same event on the same resource, every :data:`HEARTBEAT_S` seconds, from a thread that waits on an
event and so stops the moment the flow body ends. Runs PhysForge does not start (a worker's
flow-run process) keep Prefect's own heartbeat; the hooks then do nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from typing import Any

from physforge.storage_blocks.automations import HEARTBEAT_S

__all__ = ["HEARTBEAT_S", "heartbeat_hooks", "own_heartbeats"]

_OWN: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "physforge_heartbeat_s", default=None
)


@contextlib.contextmanager
def own_heartbeats(every: float = HEARTBEAT_S) -> Iterator[None]:
    """Around flow calls made in this process: Prefect's heartbeat thread off, PhysForge's on
    (every ``every`` seconds). Threads started inside must copy the context to inherit it."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    token = _OWN.set(every)
    try:
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield
    finally:
        _OWN.reset(token)


_BEATING: dict[str, tuple[threading.Event, threading.Thread]] = {}
_LOCK = threading.Lock()


def _beat(stop: threading.Event, every: float, resource: dict[str, str], related: list) -> None:
    from prefect.events import emit_event

    while True:
        try:
            emit_event(event="prefect.flow-run.heartbeat", resource=resource, related=related)
        except Exception:  # noqa: BLE001, S110 - a missed beat is retried at the next one
            pass
        if stop.wait(every):
            return


def _start(flow: Any, flow_run: Any, state: Any) -> None:
    every = _OWN.get()
    if every is None:  # Prefect's engine beats for this run
        return
    resource = {
        "prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
        "prefect.resource.name": flow_run.name or "",
    }
    related = [
        {
            "prefect.resource.id": f"prefect.flow.{flow_run.flow_id}",
            "prefect.resource.role": "flow",
            "prefect.resource.name": getattr(flow, "name", ""),
        }
    ]
    stop = threading.Event()
    beat = threading.Thread(
        target=contextvars.copy_context().run,  # the same API settings as the flow run
        args=(_beat, stop, every, resource, related),
        name=f"physforge-heartbeat-{flow_run.id}",
        daemon=True,
    )
    with _LOCK:
        _BEATING[str(flow_run.id)] = (stop, beat)
    beat.start()


def _stop(flow: Any, flow_run: Any, state: Any) -> None:
    with _LOCK:
        entry = _BEATING.pop(str(flow_run.id), None)
    if entry is not None:
        entry[0].set()
        entry[1].join(timeout=5)  # returns at once: the thread waits on the event


def heartbeat_hooks() -> dict[str, Any]:
    """State hooks for ``@flow(...)``: beat from Running until a final state, where
    :func:`own_heartbeats` is in effect; else they do nothing."""
    return {
        "on_running": [_start],
        "on_completion": [_stop],
        "on_failure": [_stop],
        "on_cancellation": [_stop],
        "on_crashed": [_stop],
    }
