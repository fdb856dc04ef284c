"""Cached re-run vs first run, and the Prefect pipeline vs the same functions without Prefect.

Runs ``physforge discover FILE --json`` on a fresh store twice (the second must be served from
cache), N times each, in the two ways the command runs:

* the default: the first command starts the warm process (``physforge.daemon``) and is served
  by it; the re-run is served by the same warm process;
* ``PHYSFORGE_DAEMON=0``: every command is a process of its own, which imports the stack and
  starts Prefect's ephemeral API.

It also times the science functions directly in this process. Every figure is printed as a
ratio against its baseline measured in the same run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cache_rerun.py [--repeats 3] [--noise 0.05]
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


def run_cli(path: Path, env: dict[str, str], *args: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run([str(BIN / "physforge"), *args, str(path), "--json"],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"physforge {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout)


def stop_warm(env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "physforge"), "daemon", "stop"], env=env, capture_output=True,
                   check=True)


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

    fig: dict[str, list[float]] = {k: [] for k in (
        "cold_first", "cold_cached", "warm_start_first", "warm_first", "warm_cached",
        "flow_first", "flow_cached", "plain")}
    with tempfile.TemporaryDirectory() as tmp:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PHYSFORGE_")}
        base.update(PHYSFORGE_DAEMON_DIR=f"{tmp}/daemon", PREFECT_HOME=f"{tmp}/prefect-home")
        warm = {**base, "PHYSFORGE_DAEMON": "1"}
        cold = {**base, "PHYSFORGE_DAEMON": "0"}
        data = Path(tmp) / "burgers.nc"
        make_example("burgers", noise=args.noise).to_netcdf(data)
        try:
            for i in range(args.repeats):
                terms = []
                # own process per command: both runs pay imports and the API's start-up
                env = {**cold, "PHYSFORGE_STORE": f"file://{tmp}/cold{i}"}
                for key in ("cold_first", "cold_cached"):
                    wall, res = run_cli(data, env, "discover")
                    fig[key].append(wall)
                    terms.append(res["equations"][0]["terms"])
                # default: the first command starts the warm process and is served by it
                stop_warm(warm)
                env = {**warm, "PHYSFORGE_STORE": f"file://{tmp}/warm{i}"}
                for key in ("warm_start_first", "warm_cached"):
                    wall, res = run_cli(data, env, "discover")
                    fig[key].append(wall)
                    terms.append(res["equations"][0]["terms"])
                    fig["flow_first" if key == "warm_start_first" else "flow_cached"].append(
                        res["runtime_s"])
                # a first run on a fresh store with the warm process already up
                env = {**warm, "PHYSFORGE_STORE": f"file://{tmp}/warm{i}b"}
                wall, res = run_cli(data, env, "discover")
                fig["warm_first"].append(wall)
                terms.append(res["equations"][0]["terms"])
                assert all(t == terms[0] for t in terms), terms
                fig["plain"].append(plain_functions(data))
        finally:
            stop_warm(warm)
    med = {k: statistics.median(v) for k, v in fig.items()}
    print(f"Burgers 256x101, noise {args.noise:g}, {args.repeats} repeats (medians); "
          f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}")
    print("  default (warm process)")
    print(f"    first run, starts the warm process   {med['warm_start_first']:7.2f} s")
    print(f"    cached re-run                        {med['warm_cached']:7.2f} s   ratio "
          f"{med['warm_cached'] / med['warm_start_first']:.3f}")
    print(f"    first run, warm process already up   {med['warm_first']:7.2f} s   "
          f"cached/this {med['warm_cached'] / med['warm_first']:.3f}")
    print("  PHYSFORGE_DAEMON=0 (a process per command)")
    print(f"    first run                            {med['cold_first']:7.2f} s")
    print(f"    cached re-run                        {med['cold_cached']:7.2f} s   ratio "
          f"{med['cold_cached'] / med['cold_first']:.3f}")
    print(f"  cached re-run, warm / own process      {med['warm_cached'] / med['cold_cached']:.3f}")
    print("  flow body (inside the command)")
    print(f"    first run                            {med['flow_first']:7.3f} s")
    print(f"    cached re-run                        {med['flow_cached']:7.3f} s   ratio "
          f"{med['flow_cached'] / med['flow_first']:.3f}")
    print(f"  plain functions (no Prefect)           {med['plain']:7.3f} s")
    print(f"  pipeline flow body / plain             {med['flow_first'] / med['plain']:7.2f}x")
    print(f"  whole command (own process) / plain    {med['cold_first'] / med['plain']:7.2f}x")


if __name__ == "__main__":
    main()
