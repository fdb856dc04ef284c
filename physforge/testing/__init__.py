"""Test utilities shipped with PhysForge: fault injection for the store's S3 path."""

from physforge.testing.faults import FAULTS, FaultyProxy

__all__ = ["FAULTS", "FaultyProxy"]
