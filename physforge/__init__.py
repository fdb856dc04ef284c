"""PhysForge: governing equations from field data, as Prefect flows."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # looked up on first use: the `physforge` command's client imports this package and
    # should not pay for importlib.metadata's scan of the installed distributions
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("physforge")
        except PackageNotFoundError:  # pragma: no cover - source checkout without install
            value = "0.0.0"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module 'physforge' has no attribute {name!r}")
