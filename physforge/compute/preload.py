"""Dask worker preload: ``dask worker ADDRESS --preload physforge.compute.preload``.

Imports the training stack when the worker starts (so the first task does not pay for it, and
no two threads import torch or xarray at once) and keeps torch to the worker's thread count.
"""

from __future__ import annotations

import os

os.environ.setdefault("DDE_BACKEND", "pytorch")

import deepxde  # noqa: E402,F401

import physforge.tasks.surrogate  # noqa: E402,F401  (torch, xarray, zarr, prefect)


def dask_setup(worker) -> None:
    import torch

    state = getattr(worker, "state", None)
    torch.set_num_threads(max(1, int(getattr(state, "nthreads", 1) or 1)))
