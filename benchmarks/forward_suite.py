"""Forward PINN suite: every spec in examples/specs, trained at full size, against its reference.

Prints, per problem, the relative L2 error against the analytic solution or the classical solver
run here (Cole-Hopf quadrature for Burgers, streamfunction-vorticity finite differences for the
cavity), the training time and the issue's target; then the inference time for 100 000 points.

    OMP_NUM_THREADS=2 python benchmarks/forward_suite.py [--only heat_1d,burgers] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# issue 9 minimum targets (relative L2)
TARGETS = {
    "heat_1d": 1e-2,
    "heat_2d": 1e-2,
    "wave_1d": 1e-2,
    "wave_2d": 1e-2,
    "burgers": 1e-2,
    "kovasznay": 1e-2,
    "elasticity": 1e-2,
    "cavity": 5e-2,
    "cavity_pinnacle": 5e-2,
    "maxwell": 5e-2,
}


def cavity_check(n: int = 65) -> float:
    """The finite-difference cavity solver vs Ghia et al. (1982), u on x = 0.5: max |Δu|."""
    from physforge.pinn.problems.navier_stokes import GHIA_RE100_U, cavity_reference

    x, y, u, _ = cavity_reference(n, 0.01)
    centre = np.interp(0.5, x, np.arange(n))
    col = u[:, int(round(centre))]
    return max(abs(np.interp(yy, y, col) - ug) for yy, ug in GHIA_RE100_U.items())


def inference_time(key: str, store_url: str, n: int = 100_000) -> tuple[float, float]:
    from physforge.pinn.inference import load_model

    t0 = time.perf_counter()
    model = load_model(key, store_url)
    load_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    lo = np.array([a for a, _ in model.bounds])
    hi = np.array([b for _, b in model.bounds])
    pts = lo + (hi - lo) * rng.random((n, len(lo)))
    model.predict(pts[:1000])  # warm-up
    best = min(_timed(model.predict, pts) for _ in range(3))
    return load_s, best


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated spec names (default: all)")
    ap.add_argument("--store", default=None, help="store URL (default: a temporary directory)")
    ap.add_argument("--json", default=None, help="also write the figures as JSON here")
    args = ap.parse_args()

    import torch

    from physforge.pinn.problems import load_spec
    from physforge.pinn.solve import solve_problem
    from physforge.storage_blocks.store import ArtifactStore

    names = [n for n in args.only.split(",") if n] or sorted(
        p.stem for p in (ROOT / "examples" / "specs").glob("*.yaml")
    )
    store_url = args.store or f"file://{tempfile.mkdtemp(prefix='physforge-forward-')}"
    store = ArtifactStore(store_url)
    print(
        f"# forward suite — {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
        f", CUDA: {torch.cuda.is_available()}",
        flush=True,
    )
    print(
        f"{'problem':<14}{'rel. L2':>12}{'target':>10}{'met':>6}{'train s':>10}  reference",
        flush=True,
    )
    rows = []
    for name in names:
        spec = load_spec(ROOT / "examples" / "specs" / f"{name}.yaml")
        res = solve_problem(spec, store=store)
        card = res["card"]
        err = card["errors"]["relative_l2"]
        target = TARGETS.get(name)
        met = err is not None and target is not None and err <= target
        row = {
            "problem": name,
            "relative_l2": err,
            "per_field": card["errors"]["per_field"],
            "target": target,
            "met": met,
            "train_s": card["training"]["wall_s"],
            "reference": card["errors"]["reference"],
            "key": res["key"],
            "architecture": card["architecture"],
        }
        rows.append(row)
        print(
            f"{name:<14}{err:>12.3e}{target:>10.0e}{'yes' if met else 'NO':>6}"
            f"{row['train_s']:>10.1f}  {row['reference']}",
            flush=True,
        )
    if "cavity" in names:
        dev = cavity_check()
        print(
            f"cavity FD solver (65²) vs Ghia et al. 1982 centreline u: max |Δu| = {dev:.4f}",
            flush=True,
        )
    if rows:
        load_s, pred_s = inference_time(rows[0]["key"], store_url)
        print(
            f"inference ({rows[0]['problem']}): load {load_s:.3f} s, 100 000 points {pred_s:.3f} s",
            flush=True,
        )
        rows.append(
            {
                "inference": {
                    "problem": rows[0]["problem"],
                    "load_s": load_s,
                    "predict_100k_s": pred_s,
                }
            }
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
