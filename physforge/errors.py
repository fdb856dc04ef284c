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
    """Base class of every error PhysForge raises on purpose.

    ``exit_code`` is what the ``physforge`` command exits with: 2 for input the user can fix
    (data, options, store, runtime), 1 for a failure inside PhysForge.
    """

    exit_code = 1


class DataValidationError(PhysForgeError, ValueError):
    """Input data that cannot be used as given (file, variable, expectation, finding)."""

    exit_code = 2


class ConfigError(PhysForgeError, ValueError):
    """A configuration value or spec that is refused."""

    exit_code = 2


class StoreError(PhysForgeError, OSError):
    """The artifact store could not be read or written."""

    exit_code = 2


class IntegrityError(StoreError):
    """An artifact whose content does not match its recorded sha256."""

    exit_code = 1


class BackendUnavailableError(PhysForgeError, ImportError):
    """An optional backend whose runtime is missing on this machine."""

    exit_code = 2


class DiscoveryError(PhysForgeError, RuntimeError):
    """Equation discovery could not produce a model."""
