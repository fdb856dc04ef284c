"""Prefect flows. ``from physforge.flows import discover`` is the Python entry point."""

from physforge.flows.discover import discover, discover_flow

__all__ = ["discover", "discover_flow"]
