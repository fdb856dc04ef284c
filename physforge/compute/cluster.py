"""Where ensemble members run: an existing Dask scheduler, a LocalCUDACluster, or a LocalCluster.

Order of choice: an explicit address (argument or config), else ``$PHYSFORGE_DASK_ADDRESS``
→ connect to that scheduler; else CUDA GPUs visible (counted through NVML or ``nvidia-smi``,
never by creating a CUDA context in this process) → ``dask_cuda.LocalCUDACluster`` with one
worker per GPU, each advertising ``resources={"GPU": 1}``; else ``distributed.LocalCluster``
with single-threaded worker processes. dask-cuda is imported only in the GPU case.

Local workers get the environment they need to report to the same Prefect API and reach the
same store (``PREFECT_*``, ``PHYSFORGE_*``, S3 credentials), since Dask workers do not inherit
Prefect settings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any, Literal

from physforge.errors import BackendUnavailableError

__all__ = [
    "ClusterChoice",
    "choose_cluster",
    "cuda_device_count",
    "worker_env",
    "task_runner",
    "ADDRESS_ENV",
    "scheduler_address",
    "worker_address",
]

ADDRESS_ENV = "PHYSFORGE_DASK_ADDRESS"
_PASS_PREFIXES = ("PREFECT_", "PHYSFORGE_", "AWS_", "DDE_")
_PASS_NAMES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONPATH")


def cuda_device_count() -> int:
    """Visible CUDA GPUs, without creating a CUDA context in this process.

    NVML (``pynvml``) when installed, else ``nvidia-smi -L``; ``CUDA_VISIBLE_DEVICES`` limits
    the count. 0 when neither finds a GPU.
    """
    count = 0
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            count = pynvml.nvmlDeviceGetCount()
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no NVML library or driver: fall back to nvidia-smi
        smi = shutil.which("nvidia-smi")
        if smi:
            try:
                run = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
                count = sum(line.startswith("GPU ") for line in run.stdout.splitlines())
            except (OSError, subprocess.SubprocessError):
                count = 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v for v in visible.split(",") if v.strip() and v.strip() != "-1"]
        count = min(count, len(ids))
    return count


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for local Dask workers: Prefect settings (the API URL of this process,
    including a running ephemeral server), PhysForge and S3 settings, one thread per worker."""
    env = {k: v for k, v in os.environ.items() if k.startswith(_PASS_PREFIXES) or k in _PASS_NAMES}
    url = prefect_api_url()
    if url:
        env["PREFECT_API_URL"] = url
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("DDE_BACKEND", "pytorch")
    env.update(extra or {})
    return env


def prefect_api_url() -> str | None:
    """The Prefect API this process talks to: the configured URL, or the address of the
    ephemeral server it started (so workers report to the same one)."""
    try:
        from prefect.settings import get_current_settings
    except ImportError:  # pragma: no cover - prefect is a dependency
        return None
    url = get_current_settings().api.url
    if url:
        return str(url)
    try:
        from prefect.server.api.server import SubprocessASGIServer
    except ImportError:  # pragma: no cover
        return None
    server = SubprocessASGIServer._instances.get(None)
    if server is not None and getattr(server, "running", False):
        return server.api_url
    return None


@dataclass(frozen=True)
class ClusterChoice:
    """How members will run; ``reason`` says why this one was chosen (logged, in the card)."""

    kind: Literal["address", "cuda", "local"]
    reason: str
    address: str | None = None
    n_workers: int = 1
    gpus: int = 0
    cluster_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, int] | None:
        """Per-member Dask resources to annotate with (one GPU per member on GPU clusters)."""
        return {"GPU": 1} if self.kind == "cuda" else None

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reason": self.reason,
            "address": self.address,
            "n_workers": self.n_workers,
            "gpus": self.gpus,
        }


def scheduler_address(address: str | None = None) -> str | None:
    """The Dask scheduler to use: ``address``, else ``$PHYSFORGE_DASK_ADDRESS``; None for none."""
    return address or os.environ.get(ADDRESS_ENV) or None


def worker_address() -> str | None:
    """The address of the Dask worker running the caller; None outside a worker."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


def choose_cluster(
    address: str | None = None,
    n_workers: int | None = None,
    members: int = 1,
    gpus: int | None = None,
) -> ClusterChoice:
    """Pick where to run ``members`` members (see the module docstring for the order)."""
    address = address or os.environ.get(ADDRESS_ENV) or None
    if address:
        src = "config" if address != os.environ.get(ADDRESS_ENV) else f"${ADDRESS_ENV}"
        return ClusterChoice("address", f"existing scheduler from {src}", address=address)
    gpus = cuda_device_count() if gpus is None else gpus
    if gpus > 0:
        n = min(gpus, n_workers or gpus)
        # dask-cuda sets each worker's CUDA_VISIBLE_DEVICES itself (its own `env`); workers
        # inherit this process's environment, and Prefect settings travel with each task
        kwargs = {"n_workers": n, "threads_per_worker": 1, "resources": {"GPU": 1}}
        return ClusterChoice(
            "cuda", f"{gpus} CUDA GPU(s) found", n_workers=n, gpus=gpus, cluster_kwargs=kwargs
        )
    n = n_workers or max(1, min(members, os.cpu_count() or 1))
    kwargs = {
        "n_workers": n,
        "threads_per_worker": 1,
        "processes": True,
        "env": worker_env(),
        "dashboard_address": ":0",
    }
    return ClusterChoice(
        "local",
        "no scheduler address and no CUDA GPU: local CPU cluster",
        n_workers=n,
        cluster_kwargs=kwargs,
    )


def _cuda_cluster_class():
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError as exc:
        raise BackendUnavailableError(
            "CUDA GPUs were found but dask-cuda is not installed; install the `gpu` extra "
            "(pip install 'physforge[gpu]') or set PHYSFORGE_DASK_ADDRESS to a scheduler"
        ) from exc
    return LocalCUDACluster


def task_runner(choice: ClusterChoice):
    """A prefect-dask ``DaskTaskRunner`` for ``choice``."""
    from prefect_dask import DaskTaskRunner

    if choice.kind == "address":
        return DaskTaskRunner(address=choice.address)
    if choice.kind == "cuda":
        return DaskTaskRunner(
            cluster_class=_cuda_cluster_class(), cluster_kwargs=dict(choice.cluster_kwargs)
        )
    from distributed import LocalCluster

    return DaskTaskRunner(cluster_class=LocalCluster, cluster_kwargs=dict(choice.cluster_kwargs))
