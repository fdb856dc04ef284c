"""Prefect flows. ``from physforge.flows import discover`` is the Python entry point.

Names are imported on first use, so ``discover`` does not pay for torch and DeepXDE
(which ``solve`` and ``loop`` need).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "discover": "physforge.flows.discover",
    "discover_flow": "physforge.flows.discover",
    "loop": "physforge.flows.loop",
    "loop_flow": "physforge.flows.loop",
    "solve": "physforge.flows.solve",
    "solve_flow": "physforge.flows.solve",
}

__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'physforge.flows' has no attribute {name!r}")
