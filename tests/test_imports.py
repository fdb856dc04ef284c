"""The package's import structure: every module imports on its own in a fresh interpreter, and
no two modules import each other, directly or through others (lazy imports count)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("import_graph", ROOT / "tools" / "import_graph.py")
import_graph = importlib.util.module_from_spec(spec)
spec.loader.exec_module(import_graph)

MODULES = sorted(import_graph.module_names(ROOT / "physforge"))


def test_the_graph_sees_every_module_and_its_imports():
    graph = import_graph.import_graph(ROOT / "physforge")
    assert set(graph) == set(MODULES) and "physforge.tasks.common" in graph
    assert "physforge.storage_blocks.store" in graph["physforge.tasks.common"]
    # a lazy import inside a function counts; an import under TYPE_CHECKING does not
    assert "physforge.discovery.weak" in graph["physforge.discovery.features"]
    assert "physforge.storage_blocks.registry" in graph["physforge.storage_blocks.store"]


def test_the_cycle_finder_finds_a_planted_cycle(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg.b import g\n")
    (pkg / "b.py").write_text("from . import c\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import f\n"
    )
    assert import_graph.cycles(import_graph.import_graph(pkg)) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_no_import_cycles():
    found = import_graph.checked_cycles(ROOT / "physforge")
    assert found == [], f"import cycles: {found}"


def _import_alone(module: str) -> tuple[str, str | None]:
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return module, (proc.stderr.strip().splitlines() or ["?"])[-1] if proc.returncode else None


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~100 s alone on 2 cores; several times that on a loaded machine
def test_every_module_imports_alone_in_a_fresh_interpreter():
    """One interpreter per module: a module that imports only once another one has been
    imported first fails here (a few interpreters at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(pool.map(_import_alone, MODULES))
    assert {m: err for m, err in results.items() if err} == {}
    assert len(results) == len(MODULES) > 80
