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
    if name not in _WHERE:
        raise AttributeError(f"module 'physforge.flows' has no attribute {name!r}")
    module = importlib.import_module(_WHERE[name])
    # importing physforge.flows.discover binds the *module* as physforge.flows.discover;
    # rebind every public name of it to the object it stands for
    for public, where in _WHERE.items():
        if where == _WHERE[name]:
            globals()[public] = getattr(module, public)
    return globals()[name]
