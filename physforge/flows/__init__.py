"""Prefect flows. ``from physforge.flows import discover`` is the Python entry point."""

from physforge.flows.discover import discover, discover_flow
from physforge.flows.loop import loop, loop_flow
from physforge.flows.solve import solve, solve_flow

__all__ = ["discover", "discover_flow", "loop", "loop_flow", "solve", "solve_flow"]
