"""Errors that teach: each names what, what was expected, and what was found."""

from __future__ import annotations

__all__ = [
    "PhysForgeError",
    "DataValidationError",
    "StoreError",
    "IntegrityError",
    "BackendUnavailableError",
    "ConfigError",
    "DiscoveryError",
]


class PhysForgeError(Exception):
    """Base class of every error PhysForge raises on purpose."""


class DataValidationError(PhysForgeError, ValueError):
    """Input data that cannot be used as given (file, variable, expectation, finding)."""


class ConfigError(PhysForgeError, ValueError):
    """A configuration value or spec that is refused."""


class StoreError(PhysForgeError, OSError):
    """The artifact store could not be read or written."""


class IntegrityError(StoreError):
    """An artifact whose content does not match its recorded sha256."""


class BackendUnavailableError(PhysForgeError, ImportError):
    """An optional backend whose runtime is missing on this machine."""


class DiscoveryError(PhysForgeError, RuntimeError):
    """Equation discovery could not produce a model."""
