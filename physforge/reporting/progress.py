"""Training progress as the terminal sees it: read back from the Prefect progress artifacts the
members update while they train (on whichever Dask worker or host), so the CLI shows what the
Prefect UI shows, wherever the members run."""

from __future__ import annotations

from typing import Any

__all__ = ["ProgressReader", "progress_line"]


class ProgressReader:
    """Percent done per artifact key, from the Prefect API. Artifacts with those keys that
    existed before (an earlier run of the same surrogate) are ignored."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = list(keys)
        self._old = {a["id"] for a in self._read()}

    def _read(self) -> list[dict[str, Any]]:
        from prefect.client.orchestration import get_client

        # the raw endpoint: the client's read_artifacts sends null filters the server refuses
        with get_client(sync_client=True) as client:
            response = client.request("POST", "/artifacts/filter", json={
                "artifacts": {"key": {"any_": self.keys}, "type": {"any_": ["progress"]}},
                "sort": "CREATED_DESC"})
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
