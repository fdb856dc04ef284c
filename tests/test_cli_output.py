"""What a successful command prints: the compact candidates table of a clean Burgers run fits
in 25 terminal lines (80 columns) with the reason for rank 1 and the report's path; ``--full``
shows every term."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "physforge"


def _terminal_lines(text: str, columns: int = 80) -> int:
    return sum(max(1, math.ceil(len(line.rstrip()) / columns)) for line in text.splitlines())


def test_clean_burgers_table_fits_25_lines_with_reason_and_report(tmp_path, burgers_clean):
    env = {
        **os.environ,
        "COLUMNS": "80",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PHYSFORGE_STORE": str(tmp_path / "store"),
    }
    env.pop("PREFECT_API_URL", None)
    run = subprocess.run(
        [str(BIN), "discover", str(burgers_clean)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    shown = run.stdout + run.stderr
    assert _terminal_lines(shown) <= 25, shown
    assert "u_t = -1 u*u_x + 0.1 u_xx " in run.stdout  # rank 1, rounded for display
    assert "small terms" in run.stdout  # ranks 2-3: their 1e-7 coefficients folded
    assert "Why: rank 1 (u_t): the sparsest fit within 1.5x" in run.stdout
    assert "1−R²" in run.stdout and "1.000000" not in run.stdout
    report = next(ln for ln in run.stdout.splitlines() if ln.startswith("Report: "))
    path = Path(report.removeprefix("Report: ").strip())
    assert path.name == "report.html" and path.is_file()
    # Prefect's ephemeral API has no UI: no link to one, and none of Prefect's own chatter
    assert "Prefect UI" not in shown and "/runs/flow-run/" not in shown
    assert "INFO" not in run.stderr and "Traceback" not in shown
    assert "Still processing items" not in shown and "telemetry" not in shown

    full = subprocess.run(
        [str(BIN), "discover", str(burgers_clean), "--full"],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "400"},
        timeout=600,
    )
    assert full.returncode == 0, full.stderr
    # --full: nothing folded; the tiny coefficients of ranks 2-3 are printed in full
    assert "small terms" not in full.stdout
    assert re.search(r"[0-9]e-0[5-9]\*u", full.stdout), full.stdout


def test_train_progress_moves_while_it_runs(tmp_path):
    """Through the default CLI path, stderr a pipe read as it comes: at least five distinct
    progress lines arrive before the command ends (from the members' Prefect progress
    artifacts, every 1 % of the steps)."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PHYSFORGE_STORE": str(tmp_path / "store"),
    }
    data = tmp_path / "b.nc"
    made = subprocess.run(
        [str(BIN), "example", "burgers", "--noise", "0.05", "-o", str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr
    proc = subprocess.Popen(
        [str(BIN), "train", str(data), "--members", "1", "--steps", "300", "--lbfgs-steps", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    updates = []
    for line in proc.stderr:  # incrementally, while the command runs
        if line.startswith("training:"):
            updates.append(line.strip())
            if len(updates) >= 5:
                assert proc.poll() is None, "the updates came only at the end"
    proc.wait(timeout=600)
    assert proc.returncode == 0, (proc.stdout.read(), updates)
    assert len(set(updates)) >= 5, updates
    percents = [int(u.split("%")[0].split()[-1]) for u in updates]
    assert percents == sorted(percents) and percents[-1] == 100
    assert "INFO" not in "".join(updates)
