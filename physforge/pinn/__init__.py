"""PINN surrogates: DeepXDE networks (PyTorch backend), training, ensembles and checkpoints.

Plain science code: runs and tests without Prefect. DeepXDE reads its backend when it is first
imported, so the PyTorch backend is selected here, before anything imports ``deepxde``.
"""

from __future__ import annotations

import os

os.environ.setdefault("DDE_BACKEND", "pytorch")

__all__: list[str] = []
