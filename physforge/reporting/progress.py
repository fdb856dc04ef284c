"""Training progress as the terminal sees it: read back from the Prefect progress artifacts the
members update while they train (on whichever Dask worker or host), so the CLI shows what the
Prefect UI shows, wherever the members run."""

from __future__ import annotations

from typing import Any

__all__ = ["ProgressReader", "progress_line", "watch_training"]


class ProgressReader:
    """Percent done per artifact key, from the Prefect API. Artifacts with those keys that
    existed before (an earlier run of the same surrogate) are ignored."""

    def __init__(self, keys: list[str] | None = None, like: str | None = None) -> None:
        self.keys = list(keys or [])
        self.like = like  # a SQL LIKE pattern instead of keys, e.g. "physforge-train-%"
        self._old = {a["id"] for a in self._read()}

    def _read(self) -> list[dict[str, Any]]:
        from prefect.client.orchestration import get_client

        key = {"like_": self.like} if self.like else {"any_": self.keys}
        # the raw endpoint: the client's read_artifacts sends null filters the server refuses
        with get_client(sync_client=True) as client:
            response = client.request(
                "POST",
                "/artifacts/filter",
                json={
                    "artifacts": {"key": key, "type": {"any_": ["progress"]}},
                    "sort": "CREATED_DESC",
                },
            )
        return response.json()

    def percent(self) -> dict[str, float]:
        """The newest new artifact's progress per key (keys without one are left out)."""
        done: dict[str, float] = {}
        for art in self._read():
            if art["id"] in self._old or art["key"] in done:
                continue
            try:
                done[art["key"]] = float(art["data"])
            except (TypeError, ValueError):
                continue
        return done


def progress_line(steps: list[int], total: int) -> str:
    """``training: 41% (member 0 123/300, member 1 118/300 steps)`` for a log or a pipe."""
    overall = 100.0 * sum(steps) / max(total * len(steps), 1)
    members = ", ".join(f"member {i} {s}/{total}" for i, s in enumerate(steps))
    return f"training: {overall:3.0f}% ({members} steps)"


def _api_up() -> bool:
    """A configured API, or the ephemeral one already running in this process."""
    import sys

    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        return True
    server = sys.modules.get("prefect.server.api.server")
    instances = getattr(getattr(server, "SubprocessASGIServer", None), "_instances", {})
    return any(getattr(i, "running", False) for i in instances.values())


def watch_training(stop, write, every: float = 0.5) -> None:
    """Until ``stop`` (a threading.Event) is set, write a line whenever a PINN member trained by
    this command (a new ``physforge-train-…`` progress artifact) advances: the progress of a
    command whose flow trains a surrogate on the way (``discover`` with
    ``--derivatives surrogate``)."""
    while not _api_up():  # never start Prefect's ephemeral API from here: the flow does
        if stop.wait(every):
            return
    try:
        reader = ProgressReader(like="physforge-train-%")
    except Exception:  # noqa: BLE001 - no API: nothing to show, never fail the command
        return
    last: dict[str, float] = {}
    while not stop.wait(every):
        try:
            now = reader.percent()
        except Exception:  # noqa: BLE001 - the display must not end the command
            continue
        if now and now != last:
            members = ", ".join(
                f"member {k.rsplit('-', 1)[-1].lstrip('0') or '0'} {v:.0f}%"
                for k, v in sorted(now.items())
            )
            write(f"training surrogate: {sum(now.values()) / len(now):3.0f}% ({members})")
            last = now
