"""Ingest a dataset larger than memory budgets allow: peak RSS and wall time, against a baseline.

    .venv/bin/python benchmarks/ingest_large.py [--gb 4.3] [--nx 512] [--dir /tmp]

1. writes a float32 (t, y, x) NetCDF4 file of ``--gb`` GB time slab by time slab (a smooth
   travelling wave plus 1 % noise), never holding more than one slab;
2. baseline, in its own process: ``xr.open_dataset(path, chunks=…).to_zarr(…)`` — the plain
   xarray/dask copy to Zarr, no hashing, no validation;
3. PhysForge, in its own process: ``ingest_dataset`` — read lazily, one chunked pass for the
   content sha256 and exact statistics, pandera and Great Expectations on a bounded sample,
   chunked Zarr write into the store, and the commit manifest that hashes every written file;
4. PhysForge again on the same file: the dataset is found by its content hash, nothing written.

Each step reports its own peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``) and wall time; the
figures are printed as ratios against the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

RSS_LIMIT_GB = 1.5  # decimal GB, as the issue states it


def write_source(path: str, gb: float, nx: int, seed: int = 0) -> dict:
    """A float32 (t, y, x) NetCDF4 file of ``gb`` GB, written one slab at a time."""
    import netCDF4

    step_bytes = 4 * nx * nx
    nt = int(np.ceil(gb * 1e9 / step_bytes))
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 2 * np.pi, nx, endpoint=False)
    t = np.linspace(0.0, 10.0, nt)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        for name, n in (("t", nt), ("y", nx), ("x", nx)):
            nc.createDimension(name, n)
            nc.createVariable(name, "f8", (name,))[:] = {"t": t, "y": x, "x": x}[name]
        u = nc.createVariable("u", "f4", ("t", "y", "x"), chunksizes=(16, nx, nx))
        u.long_name = "travelling wave"
        slab = 64
        for start in range(0, nt, slab):
            tt = t[start : start + slab, None, None]
            wave = np.sin(x[None, None, :] - tt) * np.cos(x[None, :, None] + 0.5 * tt)
            noise = 0.01 * rng.standard_normal(wave.shape)
            u[start : start + slab] = (wave + noise).astype(np.float32)
    return {"nt": nt, "ny": nx, "nx": nx, "bytes": nt * step_bytes}


def _child_baseline(path: str, out: str) -> dict:
    import xarray as xr

    with xr.open_dataset(path, chunks={"t": 16}) as ds:
        ds.to_zarr(out, mode="w", zarr_format=3, consolidated=False)
    return {}


def _child_physforge(path: str, store_url: str) -> dict:
    from physforge.datasets.ingest import ingest_dataset
    from physforge.storage_blocks.store import ArtifactStore

    ref, report = ingest_dataset(path, ArtifactStore(store_url))
    return {
        "sha256": ref.sha256,
        "shape": ref.shape,
        "warnings": ref.warnings,
        "noise_estimate": round(ref.noise_estimate, 4),
    }


def _child(step: str, *args: str) -> None:
    import resource

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    start = time.perf_counter()
    info = {"baseline": _child_baseline, "physforge": _child_physforge}[step](*args)
    info["wall_s"] = time.perf_counter() - start
    info["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    print("RESULT " + json.dumps(info))


def measure(step: str, *args: str) -> dict:
    """Run one step in a fresh process; its own peak RSS and wall time."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", step, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{step} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=4.3, help="size of the float32 field, GB")
    ap.add_argument("--nx", type=int, default=512, help="grid points per space axis")
    ap.add_argument("--dir", default=None, help="scratch folder (default: a temp dir)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(*args.child)
        return 0
    scratch = tempfile.mkdtemp(prefix="physforge-bench-", dir=args.dir)
    try:
        src = os.path.join(scratch, "large.nc")
        start = time.perf_counter()
        shape = write_source(src, args.gb, args.nx)
        gen_s = time.perf_counter() - start
        size = os.path.getsize(src)
        print(
            f"source: {src}  t×y×x = {shape['nt']}×{shape['ny']}×{shape['nx']} float32, "
            f"{size / 1e9:.2f} GB ({size / 2**30:.2f} GiB) on disk, written in {gen_s:.0f} s"
        )
        base = measure("baseline", src, os.path.join(scratch, "baseline.zarr"))
        shutil.rmtree(os.path.join(scratch, "baseline.zarr"), ignore_errors=True)
        store = f"file://{scratch}/store"
        first = measure("physforge", src, store)
        again = measure("physforge", src, store)
        assert again["sha256"] == first["sha256"]
        gb = shape["bytes"] / 1e9
        rows = [
            ("baseline xr.open_dataset(chunks).to_zarr", base),
            ("physforge ingest (hash, validate, store)", first),
            ("physforge re-ingest (found by content)", again),
        ]
        print(
            f"\n{'step':44} {'wall s':>8} {'GB/s':>7} {'x base':>7} {'peak RSS GB':>13} "
            f"{'x base':>7}"
        )
        for name, r in rows:
            print(
                f"{name:44} {r['wall_s']:8.1f} {gb / r['wall_s']:7.3f} "
                f"{r['wall_s'] / base['wall_s']:7.2f} {r['peak_rss_gb']:13.3f} "
                f"{r['peak_rss_gb'] / base['peak_rss_gb']:7.2f}"
            )
        print(
            f"\ndata {gb:.2f} GB; peak RSS / data size: "
            f"{first['peak_rss_gb'] / gb:.3f}; sha256 {first['sha256'][:16]}…; "
            f"noise estimate {first['noise_estimate']}; warnings {first['warnings']}"
        )
        ok = max(first["peak_rss_gb"], again["peak_rss_gb"]) < RSS_LIMIT_GB
        print(f"peak RSS under {RSS_LIMIT_GB} GB: {'yes' if ok else 'NO'}")
        return 0 if ok else 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
