"""What the terminal shows: one ``error:`` line per failure, libraries quiet unless asked.

The ``physforge`` command calls :func:`setup` before Prefect, Dask or the science stack is
imported. Without ``--verbose``:

- Prefect logs through ``physforge/logging.yml`` (Prefect's own configuration, with its console
  handler at WARNING and a filter that keeps a failed run's ERROR records — the task engine's
  tracebacks — off the terminal; they still go to the Prefect API and UI);
- Dask's ``distributed`` loggers are at WARNING (``DASK_LOGGING__DISTRIBUTED``, inherited by
  worker processes);
- warnings that tell the user nothing are ignored (:data:`IGNORED_WARNINGS`).

Prefect's server telemetry is off for the embedded (ephemeral) API (:data:`ENV_DEFAULTS`).
Variables the user has set are never overridden.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
import warnings
from pathlib import Path

__all__ = [
    "ENV_DEFAULTS",
    "IGNORED_WARNINGS",
    "RunFailureFilter",
    "debug_enabled",
    "env_defaults",
    "error_line",
    "exit_code",
    "report_failure",
    "setup",
]

# before Prefect is imported: no telemetry from the embedded server ("Failed to send
# telemetry" offline), and time for the ephemeral API to start on a busy machine
ENV_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}
_QUIET_ENV = {
    "PREFECT_LOGGING_SETTINGS_PATH": str(Path(__file__).with_name("logging.yml")),
    "DASK_LOGGING__DISTRIBUTED": "warning",
}
# (message prefix, why it says nothing to the user)
IGNORED_WARNINGS = (
    # the sparsity sweep runs STLSQ up to thresholds that drop every term, on purpose
    ("Sparsity parameter is too big", "pysindy, at the sparse end of the threshold sweep"),
)
DEBUG_ENV = "PHYSFORGE_DEBUG"
_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def env_defaults() -> None:
    """:data:`ENV_DEFAULTS` where unset (before Prefect is imported)."""
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def setup(verbose: bool = False, debug: bool = False) -> None:
    """Environment defaults, log levels and warning filters for one command (idempotent)."""
    env_defaults()
    if debug:
        os.environ[DEBUG_ENV] = "1"
    if not (verbose or debug):
        for key, value in _QUIET_ENV.items():
            os.environ.setdefault(key, value)
        logging.getLogger("EventsWorker").setLevel(logging.ERROR)  # "Still processing items"
    ignore = ",".join(f"ignore:{prefix}" for prefix, _ in IGNORED_WARNINGS)
    current = os.environ.get("PYTHONWARNINGS")
    if ignore not in (current or ""):  # Dask workers and the report kernel inherit it
        os.environ["PYTHONWARNINGS"] = f"{current},{ignore}" if current else ignore
    for prefix, _ in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=prefix)


class RunFailureFilter(logging.Filter):
    """Keeps a failed flow or task run's ERROR records off the console handler.

    They are the task engine's report of the exception (traceback included), once per task
    and flow; the command prints the error once, and the records still reach the Prefect API
    through the run loggers' own handler.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or debug_enabled():
            return True
        return not any(record.name == n or record.name.startswith(n + ".") for n in _RUN_LOGGERS)


def _validation_error(exc: BaseException) -> str | None:
    """A pydantic ValidationError as ``field: problem (got value)`` items; None otherwise."""
    errors = getattr(exc, "errors", None)
    if type(exc).__name__ != "ValidationError" or not callable(errors):
        return None
    items = []
    for e in errors():
        where = ".".join(str(p) for p in e.get("loc", ())) or getattr(exc, "title", "config")
        msg = str(e.get("msg", "")).removeprefix("Value error, ")
        got = e.get("input")
        shown = (
            ""
            if isinstance(got, dict) or "input" not in e or repr(got) in msg
            else f" (got {got!r})"
        )
        items.append(f"{where}: {msg}{shown}")
    return f"invalid {getattr(exc, 'title', 'configuration')}: " + "; ".join(items)


def exit_code(exc: BaseException) -> int:
    """2 for input the user can fix (data, options, store, runtime, a refused configuration),
    1 for anything else."""
    from physforge.errors import PhysForgeError

    if _validation_error(exc) is not None:
        return 2
    return int(getattr(exc, "exit_code", 1)) if isinstance(exc, PhysForgeError) else 1


def error_line(exc: BaseException) -> str:
    """One line: the message of a PhysForge error; type and message of anything else."""
    from physforge.errors import PhysForgeError

    if (validation := _validation_error(exc)) is not None:
        return " ".join(validation.split())
    text = " ".join(str(exc).split())
    if isinstance(exc, PhysForgeError):
        return text
    name = type(exc).__name__
    return (f"internal error: {name}: {text}" if text else f"internal error: {name}") + (
        "" if debug_enabled() else f" (run again with --debug or {DEBUG_ENV}=1 for the traceback)"
    )


def report_failure(exc: BaseException, stream=None) -> int:
    """Print the failure (the traceback first with --debug) and return the exit code."""
    stream = stream or sys.stderr
    if debug_enabled():
        traceback.print_exception(exc, file=stream)
    stream.write(f"error: {error_line(exc)}\n")
    stream.flush()
    return exit_code(exc)
