"""Cached re-run vs first run, and the Prefect pipeline vs the same functions without Prefect.

Runs ``physforge discover FILE --json`` on a fresh store twice (the second must be served from
cache), N times each, and the science functions directly in this process. Prints each figure
as a ratio against its baseline measured in the same run.

    .venv/bin/python benchmarks/cache_rerun.py [--repeats 3] [--noise 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def run_cli(path: Path, store: Path) -> tuple[float, dict]:
    env = {**os.environ, "PHYSFORGE_STORE": str(store)}
    t0 = time.perf_counter()
    proc = subprocess.run([str(BIN / "physforge"), "discover", str(path), "--json"],
                          capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(f"physforge discover failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0, json.loads(proc.stdout)


def plain_functions(path: Path) -> float:
    """ingest → features → discovery as plain function calls, no Prefect, no store."""
    from physforge.config import PipelineConfig
    from physforge.datasets.ingest import load_canonical
    from physforge.discovery.engine import discover_equations
    from physforge.discovery.features import build_features

    cfg = PipelineConfig()
    t0 = time.perf_counter()
    ds = load_canonical(str(path), cfg.ingest)
    discover_equations(build_features(ds, cfg.features), cfg.discovery)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--noise", type=float, default=0.05)
    args = ap.parse_args()
    from physforge.datasets.examples import make_example

    first, cached, first_flow, cached_flow, plain = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "burgers.nc"
        make_example("burgers", noise=args.noise).to_netcdf(data)
        for i in range(args.repeats):
            store = Path(tmp) / f"store{i}"
            w1, r1 = run_cli(data, store)
            w2, r2 = run_cli(data, store)
            assert r1["equations"][0]["terms"] == r2["equations"][0]["terms"]
            first.append(w1)
            cached.append(w2)
            first_flow.append(r1["runtime_s"])
            cached_flow.append(r2["runtime_s"])
            plain.append(plain_functions(data))
    med = statistics.median
    print(f"Burgers 256x101, noise {args.noise:g}, {args.repeats} repeats (medians)")
    print(f"  first run, whole command      {med(first):7.2f} s")
    ratio = med(cached) / med(first)
    print(f"  cached re-run, whole command  {med(cached):7.2f} s   ratio {ratio:.3f}")
    print(f"  first run, flow body          {med(first_flow):7.3f} s")
    print(f"  cached re-run, flow body      {med(cached_flow):7.3f} s   ratio "
          f"{med(cached_flow) / med(first_flow):.3f}")
    print(f"  plain functions (no Prefect)  {med(plain):7.3f} s")
    print(f"  pipeline flow body / plain    {med(first_flow) / med(plain):7.2f}x")
    print(f"  whole command / plain         {med(first) / med(plain):7.2f}x")


if __name__ == "__main__":
    main()
