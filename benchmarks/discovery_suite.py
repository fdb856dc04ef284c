"""Discovery suite: PhysForge's default configuration against two plain-PySINDy baselines.

Cases: generated Burgers, KdV, Kuramoto–Sivashinsky, a two-field reaction–diffusion system and
2-D heat, plus the PDE-FIND datasets in ``../shared/data/pdefind``; noise 0, 1, 5, 10 and 25 %
of each field's std (Gaussian, seeded). Per case and method: structure recovered (the exact
term set), max relative coefficient error over the true terms, wall time. Baselines, run in the
same process on the same data:

- ``pdefind``: PySINDy PDELibrary with finite differences, STLSQ over a threshold sweep,
  AIC picks the threshold (regression on 20 000 random grid points, as PDE-FIND subsamples,
  and as PhysForge's pointwise path does);
- ``pysindy-weak``: PySINDy WeakPDELibrary (K=200 subdomains), same sweep, BIC picks.

All three use the same candidate library: field monomials of degree <= 3 times derivatives up
to order 4 (2 for the reaction–diffusion system, to keep PySINDy's 2-field library tractable).

    .venv/bin/python benchmarks/discovery_suite.py [--quick] [--cases burgers,kdv] [--json out]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _pysindy_baselines import pysindy_problem, sweep_select  # noqa: E402

from physforge.config import DiscoveryConfig, FeatureConfig  # noqa: E402
from physforge.datasets.canonical import canonicalize  # noqa: E402
from physforge.datasets.examples import add_noise, make_example  # noqa: E402
from physforge.discovery.engine import discover_equations  # noqa: E402
from physforge.discovery.features import build_features  # noqa: E402
from physforge.discovery.terms import canonical_terms  # noqa: E402

warnings.filterwarnings("ignore")
DATA = Path(os.environ.get("PHYSFORGE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DATA = DATA / "data" / "pdefind"

TRUTH = {
    "burgers": {"u_t": {"u*u_x": -1.0, "u_xx": 0.1}},
    "kdv": {"u_t": {"u*u_x": -6.0, "u_xxx": -1.0}},
    "kuramoto_sivashinsky": {"u_t": {"u*u_x": -1.0, "u_xx": -1.0, "u_xxxx": -1.0}},
    "reaction_diffusion": {
        "u_t": {"u_xx": 0.1, "u": 1.0, "u**3": -1.0, "u*v**2": -1.0, "u**2*v": 1.0, "v**3": 1.0},
        "v_t": {"v_xx": 0.1, "v": 1.0, "u**2*v": -1.0, "v**3": -1.0, "u**3": -1.0, "u*v**2": -1.0},
    },
    "heat2d": {"u_t": {"u_xx": 0.1, "u_yy": 0.1}},
    "pdefind/burgers.mat": {"u_t": {"u*u_x": -1.0, "u_xx": 0.1}},
    "pdefind/kdv.mat": {"u_t": {"u*u_x": -6.0, "u_xxx": -1.0}},
    "pdefind/kuramoto_sivishinky.mat": {"u_t": {"u*u_x": -1.0, "u_xx": -1.0, "u_xxxx": -1.0}},
}
NOISE = [0.0, 0.01, 0.05, 0.10, 0.25]


def load_case(name: str):
    if name.startswith("pdefind/"):
        from physforge.datasets.ingest import load_canonical

        return load_canonical(str(DATA / name.split("/", 1)[1]))
    return canonicalize(make_example(name), name)


def library(name: str) -> tuple[int, int]:
    return (3, 2) if name == "reaction_diffusion" else (3, 4)


def score(found: dict[str, dict[str, float]], truth: dict[str, dict[str, float]]):
    """(structure recovered for every lhs, max relative coefficient error)."""
    ok, err = True, 0.0
    for lhs, true_terms in truth.items():
        terms = canonical_terms(found.get(lhs, {}))
        expected = canonical_terms(true_terms)
        if set(terms) != set(expected):
            ok = False
            continue
        err = max(err, max(abs(terms[k] - v) / abs(v) for k, v in expected.items()))
    return ok, (err if ok else math.nan)


def run_physforge(ds, name):
    degree, order = library(name)
    fs = build_features(ds, FeatureConfig(poly_degree=degree, derivative_order=order))
    eqs = discover_equations(fs, DiscoveryConfig())
    return {e["lhs"]: e["terms"] for e in eqs if e["rank"] == 1}


def run_baseline(ds, name, weak: bool):
    degree, order = library(name)
    x, y, names, lhs = pysindy_problem(ds, weak, degree, order)
    coefs = sweep_select(x, y, "bic" if weak else "aic")
    return {lhs[j]: {names[i]: float(c[i]) for i in np.flatnonzero(c)} for j, c in enumerate(coefs)}


METHODS = {
    "physforge": run_physforge,
    "pdefind": lambda ds, name: run_baseline(ds, name, weak=False),
    "pysindy-weak": lambda ds, name: run_baseline(ds, name, weak=True),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=",".join(TRUTH))
    ap.add_argument("--noise", default=",".join(map(str, NOISE)))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--json", default=None, help="also write the rows as JSON")
    args = ap.parse_args()
    cases = args.cases.split(",")
    noises = [float(n) for n in args.noise.split(",")]
    methods = args.methods.split(",")
    rows = []
    print(f"{'case':34s} {'noise':>5s} " + " ".join(f"{m:>27s}" for m in methods))
    for case in cases:
        clean = load_case(case)
        for noise in noises:
            ds = add_noise(clean, noise, seed=0)
            cells = []
            for m in methods:
                t0 = time.perf_counter()
                try:
                    found = METHODS[m](ds, case)
                    ok, err = score(found, TRUTH[case])
                except Exception as exc:  # a baseline that crashes counts as not recovered
                    ok, err, found = False, math.nan, {"error": repr(exc)[:200]}
                wall = time.perf_counter() - t0
                rows.append(
                    {
                        "case": case,
                        "noise": noise,
                        "method": m,
                        "recovered": ok,
                        "max_rel_error": err,
                        "wall_s": wall,
                    }
                )
                cells.append(f"{'yes' if ok else 'no ':>3s} {err:9.2e} {wall:7.2f}s")
            print(f"{case:34s} {noise:5.2f} " + " ".join(f"{c:>27s}" for c in cells), flush=True)
    print("\ntotals (structures recovered / cases, median wall time):")
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        for label, sel in (
            ("all", mine),
            ("noise<=10%", [r for r in mine if r["noise"] <= 0.1]),
            ("noise=25%", [r for r in mine if r["noise"] == 0.25]),
        ):
            if sel:
                print(
                    f"  {m:14s} {label:11s} {sum(r['recovered'] for r in sel):3d}/{len(sel):<3d}"
                    f" median {np.median([r['wall_s'] for r in sel]):.2f} s"
                )
    pf = [r for r in rows if r["method"] == "physforge" and r["recovered"]]
    for lim, label in ((0.01, "noise<=1%"), (0.10, "noise<=10%")):
        errs = [r["max_rel_error"] for r in pf if r["noise"] <= lim]
        if errs:
            print(f"  physforge max coefficient error at {label}: {max(errs):.2%}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
