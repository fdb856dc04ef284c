"""Prefect flows. ``from physforge.flows import discover`` is the Python entry point.

Names are imported on first use, so ``discover`` does not pay for torch and DeepXDE
(which ``solve`` and ``loop`` need).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from physforge.console import env_defaults

env_defaults()  # the embedded (ephemeral) API sends no telemetry; before Prefect is imported

_WHERE = {
    "discover": "physforge.flows.discover",
    "discover_flow": "physforge.flows.discover",
    "loop": "physforge.flows.loop",
    "loop_flow": "physforge.flows.loop",
    "solve": "physforge.flows.solve",
    "solve_flow": "physforge.flows.solve",
}

__all__ = list(_WHERE)


def _bind(module: types.ModuleType) -> None:
    for public, where in _WHERE.items():
        if where == module.__name__:
            globals()[public] = getattr(module, public)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'physforge.flows' has no attribute {name!r}")
    _bind(importlib.import_module(_WHERE[name]))
    return globals()[name]


class _Flows(types.ModuleType):
    """Importing the submodule ``physforge.flows.discover`` makes Python set the package's
    attribute ``discover`` to that module, shadowing the flow function of the same name. The
    package keeps the function: the import's assignment binds the submodule's public names."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _WHERE.get(name) == value.__name__:
            _bind(value)
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Flows
