"""Task: one benchmark case (an example PDE at one noise level), scored, with where it ran."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from prefect import task

from physforge.compute.cluster import worker_address
from physforge.discovery.benchmark import run_case

__all__ = ["benchmark_case"]


@task(name="benchmark_case", retries=1)
def benchmark_case(example: str, noise: float, seed: int = 0) -> dict[str, Any]:
    """One example at one noise level: features + discovery with the default configuration."""
    start = time.perf_counter()
    row = run_case(example, noise, seed)
    worker = worker_address() or f"{socket.gethostname()}:{os.getpid()}"
    return {**row, "runtime_s": round(time.perf_counter() - start, 3), "worker": worker}
