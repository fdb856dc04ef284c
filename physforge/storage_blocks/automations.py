"""Crashed-run detection for flow runs whose process died without a word (a node lost, a
worker SIGKILLed, a pre-empted VM), installed by ``physforge blocks register``.

Nothing is left to report such a run's end, so the Prefect server shows it Running for ever.
Prefect's remedy is a heartbeat plus an automation: each flow-run process emits a
``prefect.flow-run.heartbeat`` event every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds
(prefect.yaml sets 30 for every PhysForge deployment), and a proactive automation marks a run
Crashed when its heartbeats stop without a terminal state. A Crashed run is not retried by
Prefect; run it again and every task that had completed returns from its cache.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = [
    "CRASH_AUTOMATION",
    "CRASH_SILENCE_S",
    "HEARTBEAT_S",
    "crashed_run_automation",
    "install_crash_automation",
]

CRASH_AUTOMATION = "physforge-crashed-flow-runs"
HEARTBEAT_S = 30  # PREFECT_FLOWS_HEARTBEAT_FREQUENCY in prefect.yaml's job variables
CRASH_SILENCE_S = 90.0  # three heartbeats missed: a loaded host delays one, not three


def crashed_run_automation(silence_s: float = CRASH_SILENCE_S, name: str = CRASH_AUTOMATION):
    """The automation that marks a flow run Crashed after ``silence_s`` seconds without a
    heartbeat (choose at least the heartbeat frequency plus a margin). Save it with
    ``.create()`` on the Prefect API the workers use."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture

    terminal = [f"prefect.flow-run.{s}" for s in ("Completed", "Failed", "Cancelled", "Crashed")]
    return Automation(
        name=name,
        description="Mark flow runs Crashed when their heartbeats stop (process lost).",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *terminal},
            match={"prefect.resource.id": ["prefect.flow-run.*"]},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=silence_s),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {silence_s:g} s: the flow-run process was lost",
            )
        ],
    )


def install_crash_automation(
    silence_s: float = CRASH_SILENCE_S, name: str = CRASH_AUTOMATION
) -> str:
    """Create the automation on the Prefect API ($PREFECT_API_URL), or update the one of that
    name (idempotent); its id."""
    from prefect.automations import Automation

    if silence_s < HEARTBEAT_S + 5:
        from physforge.errors import ConfigError

        raise ConfigError(
            f"crash detection after {silence_s:g} s: expected at least "
            f"{HEARTBEAT_S + 5} s (heartbeats come every {HEARTBEAT_S} s)"
        )
    wanted = crashed_run_automation(silence_s, name)
    try:
        existing = Automation.read(name=name, _sync=True)  # type: ignore[call-overload]
    except ValueError:  # not there yet
        return str(wanted.create(_sync=True).id)
    wanted.id = existing.id
    wanted.update(_sync=True)
    return str(existing.id)
