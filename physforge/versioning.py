"""The one code-version function: the package version plus a hash of source files, so a
change to the code that made an artifact makes a new cache key for it."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files
from pathlib import Path

import physforge

__all__ = ["code_version", "SCIENCE"]

# what the computed artifacts depend on, relative to the package (folders: every file in them)
SCIENCE = (
    "datasets",
    "discovery",
    "pinn",
    "validation",
    "storage_blocks",
    "tasks",
    "config.py",
    "refs.py",
)


@cache
def code_version(*parts: str, extra: tuple[str, ...] = ()) -> str:
    """``<version>+<sha12>`` over the package's files under ``parts`` (folders recursively,
    without ``__pycache__``; default :data:`SCIENCE`) and the files ``extra`` outside it."""
    h = hashlib.sha256(physforge.__version__.encode())
    root = files("physforge")

    def walk(node, name: str) -> None:
        if node.is_dir():
            for child in sorted(node.iterdir(), key=lambda p: p.name):
                if child.name != "__pycache__":
                    walk(child, f"{name}/{child.name}")
        elif node.is_file() and not node.name.endswith((".pyc", ".pyo")):
            h.update(name.encode())
            h.update(node.read_bytes())

    for part in parts or SCIENCE:
        node = root
        for piece in part.split("/"):
            node = node / piece
        walk(node, part)
    for path in extra:
        h.update(Path(path).name.encode())
        h.update(Path(path).read_bytes())
    return f"{physforge.__version__}+{h.hexdigest()[:12]}"
