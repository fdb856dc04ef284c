"""Flow-run heartbeats: PhysForge's own for the runs it starts, Prefect's for the others."""

from __future__ import annotations

import threading

from prefect import flow
from prefect.settings import get_current_settings

from physforge.heartbeat import heartbeat_hooks, own_heartbeats


def _beats() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("physforge-heartbeat-")]


@flow(name="heartbeat-probe", **heartbeat_hooks())
def _probe() -> tuple[int | None, list[str]]:
    return get_current_settings().flows.heartbeat_frequency, _beats()


def test_runs_started_by_physforge_beat_on_their_own_thread_and_stop_with_the_run():
    with own_heartbeats(every=30):
        prefect_frequency, during = _probe()
    assert prefect_frequency is None  # Prefect's heartbeat thread is off for this run
    assert len(during) == 1, during  # PhysForge's is on
    assert _beats() == []  # and gone once the run is final


def test_other_runs_keep_prefects_heartbeat_and_start_none():
    prefect_frequency, during = _probe()
    assert prefect_frequency == get_current_settings().flows.heartbeat_frequency is not None
    assert during == []
