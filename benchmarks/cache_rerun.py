"""First run vs cached re-run of discovery, in-process and through the CLI, and where a first
run's time goes (science, report, orchestration).

One run of this script:

1. starts a local Prefect server (``physforge server start`` in a temporary data dir, free
   loopback port) and points this process at it;
2. in-process: ``discover()`` on a fresh store (first run: a flow run), then again (cached: the
   memoised result, no flow run), N times; the first run's task runs are read back from the
   server's API and its wall time split into
   *science* (the ingest, extract_features, discover and summarise task runs), *report* (the
   report task run) and *orchestration* (the rest: flow and task set-up, the API calls, the
   result artifacts);
3. the CLI (``physforge discover FILE --json``, a process per command) with the local server
   up, first and cached, N times;
4. the CLI without a server (each command starts its embedded API), first and cached.

Every figure is printed as a ratio against its baseline measured in the same run.

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
SCIENCE = ("ingest", "extract_features", "discover", "summarise")


def run_cli(path: Path, env: dict[str, str], store: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "physforge"), "discover", str(path), "--json", "--store", store],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"physforge discover failed:\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout)


def task_times(flow_run_id: str) -> dict[str, float]:
    """Each task run's run time (s) of a flow run, by task name, from the API."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = client.request(
            "POST",
            "/task_runs/filter",
            json={"task_runs": {"flow_run_id": {"any_": [flow_run_id]}}},
        ).json()
    out: dict[str, float] = {}
    for r in runs:
        name = r["name"].rsplit("-", 1)[0]
        out[name] = out.get(name, 0.0) + float(r["total_run_time"])
    return out


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
    fig: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        fig.setdefault(key, []).append(value)

    with tempfile.TemporaryDirectory() as tmp:
        for k in [
            k for k in os.environ if k.startswith(("PHYSFORGE_", "PREFECT_API", "PREFECT_UI"))
        ]:
            del os.environ[k]
        os.environ.update(PHYSFORGE_DATA_DIR=f"{tmp}/data", PREFECT_HOME=f"{tmp}/prefect-home")
        from physforge.server import start_server, stop_server

        server, _ = start_server(port=0)
        cli_env = dict(os.environ)  # the CLI finds the server through the data dir
        bare_env = {**cli_env, "PHYSFORGE_DATA_DIR": f"{tmp}/no-server"}
        os.environ["PREFECT_API_URL"] = server.api_url
        try:
            from physforge.config import PipelineConfig
            from physforge.datasets.examples import make_example
            from physforge.flows import discover

            data = Path(tmp) / "burgers.nc"
            make_example("burgers", noise=args.noise).to_netcdf(data)
            terms = []
            for i in range(args.repeats):
                store = f"file://{tmp}/inproc{i}"
                for key in ("inproc_first", "inproc_cached"):
                    t0 = time.perf_counter()
                    res = discover(str(data), PipelineConfig(), store)
                    add(key, time.perf_counter() - t0)
                    terms.append(res["equations"][0]["terms"])
                    print(f"[{i}] in-process {key}: {fig[key][-1]:.3f} s", flush=True)
                assert "cached" in res, "the second discover() was not a cache hit"
                tt = task_times(res["cached"]["flow_run_id"])  # the first run's task runs
                add("science", sum(tt.get(n, 0.0) for n in SCIENCE))
                print(f"[{i}] task run times: {tt}", flush=True)
                add("report", tt.get("report", 0.0))
                for n in (*SCIENCE, "report"):
                    add(f"task:{n}", tt.get(n, 0.0))
                for mode, env in (("cli_server", cli_env), ("cli_embedded", bare_env)):
                    store = f"file://{tmp}/{mode}{i}"
                    for key in ("first", "cached"):
                        wall, res = run_cli(data, env, store)
                        add(f"{mode}_{key}", wall)
                        print(f"[{i}] {mode} {key}: {wall:.2f} s", flush=True)
                        terms.append(res["equations"][0]["terms"])
                add("plain", plain_functions(data))
            assert all(t == terms[0] for t in terms), terms
        finally:
            stop_server()
    med = {k: statistics.median(v) for k, v in fig.items()}
    first = med["inproc_first"]
    orch = first - med["science"] - med["report"]
    print(
        f"Burgers 256x101, noise {args.noise:g}, {args.repeats} repeats (medians); "
        f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print("  in-process (discover(), local server up, stack imported)")
    print(f"    first run                     {first:7.2f} s")
    print(
        f"    cached re-run                 {med['inproc_cached']:7.2f} s   cached/first "
        f"{med['inproc_cached'] / first:.3f}   (target <= 0.05)"
    )
    print("    first run's split")
    print(
        f"      science (task runs)         {med['science']:7.2f} s   {med['science'] / first:6.1%}"
    )
    for n in SCIENCE:
        print(f"        {n:<26}{med[f'task:{n}']:7.2f} s")
    print(
        f"      report (task run)           {med['report']:7.2f} s   {med['report'] / first:6.1%}"
    )
    print(f"      orchestration (the rest)    {orch:7.2f} s   {orch / first:6.1%}")
    print(
        f"      non-science                 {first - med['science']:7.2f} s   "
        f"{(first - med['science']) / first:6.1%}   (target <= 30 %)"
    )
    for mode, title in (
        ("cli_server", "CLI, local server up"),
        ("cli_embedded", "CLI, no server (embedded API per command)"),
    ):
        f, c = med[f"{mode}_first"], med[f"{mode}_cached"]
        print(f"  {title}")
        print(f"    first run                     {f:7.2f} s")
        print(f"    cached re-run                 {c:7.2f} s   cached/first {c / f:.3f}")
    print(
        f"  plain functions (no Prefect, no store, no report)  {med['plain']:7.3f} s   "
        f"science task runs / plain {med['science'] / med['plain']:.2f}x"
    )


if __name__ == "__main__":
    main()
