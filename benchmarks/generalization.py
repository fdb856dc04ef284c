"""Generalization suite: PhysForge's default discovery on random instances of many PDE families,
with plain PySINDy weak-form beside it as the baseline, run in the same process pool.

Instances (``benchmarks/generalization_manifest.json``) are drawn once from the master seed
below, fixed before the first run: family (round-robin over the 13 families of
:mod:`physforge.datasets.families`), then at random its coefficients, domain, horizon, initial
condition, space dimension, grid size, sampling (uniform grid, irregular grid, scattered points),
a crop of the domain, the file format and the noise (buckets 0, ≤1 %, ≤10 %, 25 %, 50 %, 100 %
of each field's std). Every instance is reported, failures included (an error, a capability
missing on this commit, or the per-instance time limit).

PhysForge runs the code path of ``physforge discover`` with ``PipelineConfig()`` defaults
without the Prefect orchestration: the ingest (reader, canonicalisation, validation, store),
the surrogate when ``derivatives="surrogate"`` as the flow does (scattered data otherwise get
mesh-free local polynomial derivatives), then the bodies of the ``extract_features``
and ``discover`` tasks; the rank-1 equation per lhs is scored. An instance that needs a user
option (``--coordinate-degree 2``, ``--given V``) sets only that option. The baseline is
PySINDy's WeakPDELibrary (K=200) with PhysForge's default library (degree 3, derivative order
4), STLSQ over a threshold sweep, BIC (``benchmarks/_pysindy_baselines.py``).

Scored per instance: exact term set (every lhs) and, when exact, the max relative coefficient
error over the true terms (complex: |ĉ - c| / |c|).

    .venv/bin/python benchmarks/generalization.py --draw          # write the manifest (once)
    .venv/bin/python benchmarks/generalization.py --jobs 2 --out gen-results [--family heat]
        [--limit 20] [--timeout 120]                              # resumable: reruns skip done
    .venv/bin/python benchmarks/generalization.py --out gen-results --report   # table only
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import re
import signal
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from physforge.datasets.families import (  # noqa: E402
    FAMILIES,
    FORMATS,
    add_field_noise,
    observe,
    simulate_family,
    write_dataset,
)

MASTER_SEED = 20261203  # fixed before the first run; never changed after looking at results
N_INSTANCES = 208  # 16 per family
MANIFEST = Path(__file__).with_name("generalization_manifest.json")
BUCKETS = ["0", "<=1%", "<=10%", "25%", "50%", "100%"]
METHODS = ("physforge", "pysindy-weak")


# --- drawing the instances -------------------------------------------------------------------
def _noise(rng: np.random.Generator) -> tuple[str, float]:
    bucket = BUCKETS[int(rng.integers(len(BUCKETS)))]
    level = {"0": 0.0, "25%": 0.25, "50%": 0.5, "100%": 1.0}.get(bucket)
    if level is None:
        lo, hi = (1e-3, 1e-2) if bucket == "<=1%" else (1e-2, 1e-1)
        level = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return bucket, level


def _fft_sizes(lo: int, hi: int) -> list[int]:
    """Grid sizes in [lo, hi] with no prime factor above 5 (the simulation's FFTs stay fast)."""

    def smooth(n: int) -> bool:
        for p in (2, 3, 5):
            while n % p == 0:
                n //= p
        return n == 1

    return [n for n in range(lo, hi + 1) if smooth(n)]


def draw_instance(index: int, family: str, rng: np.random.Generator) -> dict:
    fam = FAMILIES[family]
    dims = int(rng.choice(fam.dims))
    physics = fam.draw(rng, dims)
    bucket, noise = _noise(rng)
    if fam.complex_field:
        layout = str(rng.choice(["grid", "irregular"], p=[0.75, 0.25]))
    else:
        layout = str(rng.choice(["grid", "irregular", "scattered"], p=[0.65, 0.2, 0.15]))
    fmt_kind = (
        "scattered" if layout == "scattered" else ("complex" if fam.complex_field else "grid")
    )
    fmt = str(rng.choice(FORMATS[fmt_kind]))
    (nlo, nhi), (tlo, thi) = fam.sizes[dims]
    sizes = _fft_sizes(nlo, nhi)
    n_out = [int(rng.choice(sizes)) for _ in range(dims)]
    nt_out = int(rng.integers(tlo, thi + 1))
    whole = family == "nls_harmonic" or rng.random() < 0.5  # the potential's frame: whole box
    crop = [1.0 if whole else float(rng.uniform(0.6, 0.9)) for _ in range(dims)]
    options = {}
    if family == "nls_harmonic":
        options = {"coordinate_degree": 2} if physics["mode"] == "coordinate" else {"given": ["V"]}
    return {
        "id": f"{index:03d}-{family}",
        "family": family,
        "dims": dims,
        "complex": fam.complex_field,
        "layout": layout,
        "format": fmt,
        "noise_bucket": bucket,
        "noise": noise,
        "n_full": n_out,
        "nt": nt_out,
        "time_stride": 3 if layout == "irregular" else 1,
        "crop": crop,
        "offset": [float(rng.uniform()) for _ in range(dims)],
        "scattered_fraction": float(rng.uniform(0.05, 0.3)) if layout == "scattered" else None,
        "physics": physics,
        "options": options,
        "seeds": {
            "simulate": int(rng.integers(2**31)),
            "observe": int(rng.integers(2**31)),
            "noise": int(rng.integers(2**31)),
        },
    }


def draw_manifest(seed: int = MASTER_SEED, n: int = N_INSTANCES) -> dict:
    names = list(FAMILIES)
    children = np.random.SeedSequence(seed).spawn(n)
    instances = [
        draw_instance(i, names[i % len(names)], np.random.default_rng(children[i]))
        for i in range(n)
    ]
    return {"master_seed": seed, "n": n, "families": names, "instances": instances}


# --- one instance ----------------------------------------------------------------------------
def generate(inst: dict, path: str) -> dict:
    """Simulate, observe, add noise and write the instance's file; returns the true equation."""
    sim = simulate_family(
        inst["family"],
        inst["physics"],
        inst["n_full"],
        (inst["nt"] - 1) * inst["time_stride"] + 1,
        inst["seeds"]["simulate"],
    )
    ds = observe(
        sim,
        time_stride=inst["time_stride"],
        irregular=inst["layout"] == "irregular",
        crop=inst["crop"],
        offset=inst["offset"],
        scattered=inst["scattered_fraction"],
        rng=np.random.default_rng(inst["seeds"]["observe"]),
    )
    ds = add_field_noise(
        ds, list(sim.fields), inst["noise"], np.random.default_rng(inst["seeds"]["noise"])
    )
    write_dataset(ds, path)
    shape = {k: int(v) for k, v in ds.sizes.items()}
    return {"truth": sim.truth, "shape": shape}


class CapabilityMissing(Exception):
    """The option an instance needs does not exist in PhysForge on this commit."""


def _config(options: dict):
    from physforge.config import PipelineConfig

    cfg = PipelineConfig().model_dump()
    for key, value in options.items():
        parts = [p for p in ("ingest", "features", "discovery") if key in cfg[p]]
        if not parts:
            raise CapabilityMissing(
                f"option {key}={value!r} (the user's --{key.replace('_', '-')}) is not a field "
                "of PipelineConfig on this commit"
            )
        cfg[parts[0]][key] = value
    return PipelineConfig.model_validate(cfg)


def run_physforge(path: str, options: dict, work: str) -> tuple[dict, dict]:
    """``physforge discover``'s path: ingest → (surrogate) → extract_features → discover."""
    from physforge.datasets.ingest import ingest_dataset
    from physforge.storage_blocks.store import ArtifactStore
    from physforge.tasks.discover import discover_task
    from physforge.tasks.features import extract_features

    cfg = _config(options)
    store = ArtifactStore(f"file://{work}/store")
    ref, _report = ingest_dataset(path, store, cfg.ingest)
    surrogate = None
    if cfg.features.derivatives == "surrogate":
        from physforge.flows.surrogate import run_ensemble

        surrogate = run_ensemble(ref, cfg.surrogate)
    feat = extract_features.fn(ref, cfg.features, surrogate)
    disc = discover_task.fn(feat, cfg.discovery)
    doc = store.artifact(disc.key).read_json("result.json")
    best = [e for e in doc["equations"] if e.get("rank", 1) == 1]
    found = {e["lhs"]: e["terms"] for e in best}
    extra = {
        e["lhs"]: {k: e[k] for k in ("identifiable", "alternatives", "method") if k in e}
        for e in best
    }
    return found, extra


def run_pysindy(path: str, options: dict, work: str) -> tuple[dict, dict]:
    from _pysindy_baselines import pysindy_problem, sweep_select

    from physforge.datasets.canonical import layout
    from physforge.datasets.ingest import load_canonical

    with load_canonical(path) as ds:
        ds = ds.load()
    if layout(ds) != "grid":
        raise CapabilityMissing(
            "PySINDy's WeakPDELibrary needs a grid; the data are scattered points"
        )
    x, y, names, lhs = pysindy_problem(ds, True, 3, 4)
    coefs = sweep_select(x, y, "bic")
    found = {
        lhs[j]: {
            names[i]: complex(c[i]) if np.iscomplexobj(c) else float(c[i])
            for i in np.flatnonzero(c)
        }
        for j, c in enumerate(coefs)
    }
    return found, {}


RUNNERS = {"physforge": run_physforge, "pysindy-weak": run_pysindy}


# --- scoring ---------------------------------------------------------------------------------
def _coef(value) -> complex:
    if isinstance(value, (list, tuple)):
        return complex(value[0], value[1])
    if isinstance(value, dict):  # {"re": .., "im": ..}
        return complex(value.get("re", 0.0), value.get("im", 0.0))
    if isinstance(value, str):
        return complex(value.replace(" ", "").replace("i", "j"))
    return complex(value)


def canonical_term(term: str) -> str:
    """One spelling per term: sympy with every name complex, ``abs(u)**2`` as ``u*conj(u)``."""
    import sympy

    text = term.replace("conj(", "conjugate(").replace("abs(", "Abs(")
    names = {
        n for n in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text) if n not in ("conjugate", "Abs")
    }
    syms = {n: sympy.Symbol(n) for n in names}
    expr = sympy.sympify(text, locals={**syms, "conjugate": sympy.conjugate, "Abs": sympy.Abs})
    expr = expr.subs({sympy.Abs(s): sympy.sqrt(s * sympy.conjugate(s)) for s in syms.values()})
    return str(sympy.expand(expr)).replace(" ", "")


def canonical(terms: dict) -> dict[str, complex]:
    out: dict[str, complex] = {}
    for term, c in terms.items():
        k = canonical_term(term)
        out[k] = out.get(k, 0) + _coef(c)
    return {k: v for k, v in out.items() if v != 0}


def score(found: dict, truth: dict) -> tuple[bool, float, dict]:
    """(exact term set for every lhs, max relative coefficient error, per-lhs differences)."""
    ok, err, diff = True, 0.0, {}
    for lhs, true_terms in truth.items():
        got, want = canonical(found.get(lhs, {})), canonical(true_terms)
        if set(got) != set(want):
            ok = False
            diff[lhs] = {
                "missing": sorted(set(want) - set(got)),
                "extra": sorted(set(got) - set(want)),
            }
            continue
        err = max(err, max(abs(got[k] - v) / abs(v) for k, v in want.items()))
    return ok, (err if ok else math.nan), diff


def _jsonable(obj):
    if isinstance(obj, complex):
        return [obj.real, obj.imag]
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


class _Timeout(Exception):
    pass


def _alarm(_signum, _frame):
    raise _Timeout()


def run_instance(inst: dict, out: Path, methods: list[str], timeout: float) -> dict:
    """Generate the data, run every method under its time limit, score; never raises."""
    warnings.filterwarnings("ignore")
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    path = str(data / f"{inst['id']}{inst['format']}")
    rec = {
        k: inst[k]
        for k in (
            "id",
            "family",
            "dims",
            "complex",
            "layout",
            "format",
            "noise_bucket",
            "noise",
            "options",
        )
    }
    t0 = time.perf_counter()
    try:
        gen = generate(inst, path)
    except Exception as exc:  # a generator failure is reported, not hidden
        rec["generate_error"] = f"{type(exc).__name__}: {exc}"
        rec["results"] = {m: {"status": "not run", "recovered": False} for m in methods}
        return rec
    rec.update(
        truth=gen["truth"], shape=gen["shape"], generate_s=round(time.perf_counter() - t0, 2)
    )
    rec["results"] = {}
    signal.signal(signal.SIGALRM, _alarm)
    for m in methods:
        res: dict = {"recovered": False}
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=out) as work:
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                found, extra = RUNNERS[m](path, inst["options"], work)
                signal.setitimer(signal.ITIMER_REAL, 0)
                ok, err, diff = score(found, gen["truth"])
                res.update(
                    status="ok",
                    recovered=ok,
                    max_rel_error=err,
                    found=found,
                    diff=diff,
                    **({"extra": extra} if extra else {}),
                )
            except _Timeout:
                res.update(status="timeout", error=f"time limit {timeout:g} s")
            except CapabilityMissing as exc:
                signal.setitimer(signal.ITIMER_REAL, 0)
                res.update(status="missing", error=str(exc))
            except BaseException as exc:  # noqa: BLE001 - every failure is a result
                signal.setitimer(signal.ITIMER_REAL, 0)
                if "_Timeout" in repr(exc):  # the alarm, wrapped by a library on its way out
                    res.update(status="timeout", error=f"time limit {timeout:g} s")
                    res["wall_s"] = round(time.perf_counter() - start, 2)
                    rec["results"][m] = res
                    continue
                tb = traceback.extract_tb(exc.__traceback__)[-1]
                res.update(
                    status="error",
                    error=f"{type(exc).__name__}: {str(exc)[:400]} "
                    f"({Path(tb.filename).name}:{tb.lineno})",
                )
        res["wall_s"] = round(time.perf_counter() - start, 2)
        rec["results"][m] = res
    return rec


def _child(inst: dict, out: Path, methods: list[str], timeout: float) -> None:
    os.setsid()  # its own process group: a kill at the hard limit takes its children too
    rec = run_instance(inst, out, methods, timeout)
    target = out / "instances" / f"{inst['id']}.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(_jsonable(rec), indent=1))
    tmp.rename(target)
    os._exit(0)


def run_all(
    instances: list[dict], out: Path, jobs: int, methods: list[str], timeout: float
) -> None:
    (out / "instances").mkdir(parents=True, exist_ok=True)
    todo = [i for i in instances if not (out / "instances" / f"{i['id']}.json").exists()]
    print(
        f"{len(instances) - len(todo)} of {len(instances)} instances already done; "
        f"running {len(todo)} with {jobs} jobs, time limit {timeout:g} s per method",
        flush=True,
    )
    ctx = mp.get_context("fork")
    hard = 120.0 + timeout * len(methods) + 60.0  # generation + methods + margin
    running: dict = {}
    done = 0
    while todo or running:
        while todo and len(running) < jobs:
            inst = todo.pop(0)
            proc = ctx.Process(target=_child, args=(inst, out, methods, timeout))
            proc.start()
            running[inst["id"]] = (proc, inst, time.monotonic())
        time.sleep(0.2)
        for iid, (proc, inst, started) in list(running.items()):
            target = out / "instances" / f"{iid}.json"
            if proc.exitcode is None and time.monotonic() - started < hard:
                continue
            if proc.exitcode is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.join()
            del running[iid]
            if not target.exists():  # killed, or crashed before writing
                rec = {
                    k: inst[k]
                    for k in (
                        "id",
                        "family",
                        "dims",
                        "complex",
                        "layout",
                        "format",
                        "noise_bucket",
                        "noise",
                        "options",
                    )
                }
                why = (
                    f"killed at the hard limit {hard:g} s"
                    if proc.exitcode == -9
                    else f"worker exited with {proc.exitcode}"
                )
                rec["results"] = {
                    m: {
                        "status": "timeout" if proc.exitcode == -9 else "error",
                        "recovered": False,
                        "error": why,
                    }
                    for m in methods
                }
                target.write_text(json.dumps(rec, indent=1))
            done += 1
            rec = json.loads(target.read_text())
            cells = "  ".join(f"{m}: {_cell(rec['results'].get(m, {}))}" for m in methods)
            print(
                f"[{done:3d}/{done + len(todo) + len(running)}] {iid:28s} "
                f"{rec['noise_bucket']:>5s} {rec['layout']:9s} {rec['format']:8s} {cells}",
                flush=True,
            )


def _cell(r: dict) -> str:
    if r.get("status") == "ok":
        return (
            f"{'yes' if r['recovered'] else 'no '} {r['max_rel_error']:.1e} {r['wall_s']:.0f}s"
            if r["recovered"]
            else f"no  {'':7s} {r['wall_s']:.0f}s"
        )
    return f"{r.get('status', '?')} {r.get('wall_s', 0):.0f}s"


# --- the report ------------------------------------------------------------------------------
def _bound(noise: float) -> float:
    return 0.01 if noise <= 0.01 else noise / 10 + 0.01


def _group_row(label: str, recs: list[dict], methods: list[str]) -> str:
    cells = [label, str(len(recs))]
    for m in methods:
        rs = [r["results"].get(m, {}) for r in recs]
        ok = [r for r in rs if r.get("recovered")]
        fails = sum(r.get("status") != "ok" for r in rs)
        errs = [r["max_rel_error"] for r in ok]
        cells += [
            f"{len(ok)}/{len(rs)} ({len(ok) / len(rs):.0%})" if rs else "-",
            f"{max(errs):.2%}" if errs else "-",
            str(fails),
        ]
    return "| " + " | ".join(cells) + " |"


def report(out: Path, instances: list[dict], methods: list[str]) -> str:
    recs = []
    for inst in instances:
        p = out / "instances" / f"{inst['id']}.json"
        if p.exists():
            recs.append(json.loads(p.read_text()))
    head = (
        "| group | n | "
        + " | ".join(f"{m} exact | {m} max err | {m} failed" for m in methods)
        + " |"
    )
    sep = "|" + "---|" * (2 + 3 * len(methods))
    lines = [
        f"{len(recs)} of {len(instances)} instances reported "
        "(exact = exact term set for every lhs; max err = max relative coefficient error "
        "over the recovered ones; failed = error, time limit or capability missing).",
        "",
    ]
    lines += ["By family:", "", head, sep]
    for fam in FAMILIES:
        sel = [r for r in recs if r["family"] == fam]
        if sel:
            lines.append(_group_row(fam, sel, methods))
    lines.append(_group_row("**all**", recs, methods))
    lines += ["", "By noise (fraction of each field's std):", "", head, sep]
    for b in BUCKETS:
        sel = [r for r in recs if r["noise_bucket"] == b]
        if sel:
            lines.append(_group_row(b, sel, methods))
    lines += ["", "By kind:", "", head, sep]
    kinds = [
        ("1-D", lambda r: r["dims"] == 1),
        ("2-D", lambda r: r["dims"] == 2),
        ("3-D", lambda r: r["dims"] == 3),
        ("systems (2 fields)", lambda r: r["family"] in ("gray_scott", "fitzhugh_nagumo")),
        ("complex fields", lambda r: r["complex"]),
        ("uniform grid", lambda r: r["layout"] == "grid"),
        ("irregular grid", lambda r: r["layout"] == "irregular"),
        ("scattered points", lambda r: r["layout"] == "scattered"),
    ]
    kinds += [
        (f"format {f}", (lambda fmt: lambda r: r["format"] == fmt)(f))
        for f in sorted({r["format"] for r in recs})
    ]
    for label, pred in kinds:
        sel = [r for r in recs if pred(r)]
        if sel:
            lines.append(_group_row(label, sel, methods))
    lines += ["", "Acceptance (issue 14):", ""]
    for m in methods:

        def rate(pred, m=m):
            sel = [r for r in recs if pred(r["noise_bucket"])]
            ok = sum(r["results"].get(m, {}).get("recovered", False) for r in sel)
            return ok, len(sel)

        parts = []
        for label, pred, target in (
            ("noise <=10%", lambda b: b in BUCKETS[:3], 0.95),
            ("25%", lambda b: b == "25%", 0.90),
            ("50%", lambda b: b == "50%", 0.80),
        ):
            ok, n = rate(pred)
            if n:
                parts.append(
                    f"{label}: {ok}/{n} = {ok / n:.1%} (target {target:.0%}: "
                    f"{'met' if ok / n >= target else 'NOT met'})"
                )
        rec_ok = [r for r in recs if r["results"].get(m, {}).get("recovered")]
        within = [r for r in rec_ok if r["results"][m]["max_rel_error"] <= _bound(r["noise"])]
        low = [r["results"][m]["max_rel_error"] for r in rec_ok if r["noise"] <= 0.01]
        parts.append(
            f"coefficients within bound (<=1% at noise <=1%, <=σ/10+1% above): "
            f"{len(within)}/{len(rec_ok)} recovered"
            + (f"; max error at noise <=1%: {max(low):.2%}" if low else "")
        )
        lines.append(f"- {m}: " + "; ".join(parts))
    failures = {}
    for r in recs:
        for m in methods:
            res = r["results"].get(m, {})
            if res.get("status") not in ("ok", None):
                # one cause per row: file names and numbers stripped
                err = re.sub(r"\S*/data/\S+", "<file>", res.get("error") or "")
                err = re.sub(r"\d+(\.\d+)?(e-?\d+)?", "#", err)[:110]
                key = (m, res["status"], err)
                failures.setdefault(key, []).append(r["id"])
        if r.get("generate_error"):
            failures.setdefault(("generator", "error", r["generate_error"][:90]), []).append(
                r["id"]
            )
    if failures:
        lines += [
            "",
            "Failures by cause:",
            "",
            "| method | status | error | n | e.g. |",
            "|---|---|---|---|---|",
        ]
        for (m, status, err), ids in sorted(failures.items(), key=lambda kv: -len(kv[1])):
            err = err.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {m} | {status} | {err} | {len(ids)} | {ids[0]} |")
    missing = [i["id"] for i in instances if not (out / "instances" / f"{i['id']}.json").exists()]
    if missing:
        lines += [
            "",
            f"Not run ({len(missing)} of {len(instances)}: the run was stopped before "
            f"them): {', '.join(missing)}",
        ]
    text = "\n".join(lines)
    (out / "table.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps(recs, indent=1))
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--draw",
        action="store_true",
        help="draw the instances and write the manifest (refused when it exists, unless --force)",
    )
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    ap.add_argument("--out", type=Path, default=Path("generalization-results"))
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--family", default=None, help="comma-separated families to run")
    ap.add_argument("--limit", type=int, default=None, help="run only the first N instances")
    ap.add_argument(
        "--ids", default=None, help="comma-separated instance ids (e.g. 049-swift_hohenberg) to run"
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="per-instance time limit per method, seconds (a failure when hit)",
    )
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="add an option to every instance (a PipelineConfig field, e.g. "
        "derivatives=weak-resampled); VALUE is read as JSON where it parses, else a string",
    )
    ap.add_argument("--report", action="store_true", help="only print the table of what ran")
    args = ap.parse_args()
    if args.draw:
        if args.manifest.exists() and not args.force:
            sys.exit(f"{args.manifest} exists: the instances are fixed; --force to redraw")
        args.manifest.write_text(json.dumps(draw_manifest(), indent=1) + "\n")
        print(f"wrote {args.manifest}: {N_INSTANCES} instances from master seed {MASTER_SEED}")
        return
    manifest = json.loads(args.manifest.read_text())
    instances = manifest["instances"]
    if args.family:
        wanted = set(args.family.split(","))
        unknown = wanted - set(FAMILIES)
        if unknown:
            sys.exit(f"--family: unknown {sorted(unknown)}; choose from {', '.join(FAMILIES)}")
        instances = [i for i in instances if i["family"] in wanted]
    if args.ids:
        wanted = set(args.ids.split(","))
        unknown = wanted - {i["id"] for i in instances}
        if unknown:
            sys.exit(f"--ids: no instance {sorted(unknown)} in {args.manifest}")
        instances = [i for i in instances if i["id"] in wanted]
    if args.limit:
        instances = instances[: args.limit]
    extra: dict = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"--set {item!r}: expected KEY=VALUE")
        try:
            extra[key] = json.loads(value)
        except json.JSONDecodeError:
            extra[key] = value
    if extra:
        instances = [{**i, "options": {**i["options"], **extra}} for i in instances]
    methods = args.methods.split(",")
    if not args.report:
        # imported once here, so that forked workers start warm
        import _pysindy_baselines  # noqa: F401

        import physforge.tasks.discover  # noqa: F401
        import physforge.tasks.features  # noqa: F401
        from physforge.datasets.ingest import ingest_dataset  # noqa: F401

        start = time.perf_counter()
        run_all(instances, args.out, args.jobs, methods, args.timeout)
        print(f"\nwall {time.perf_counter() - start:.0f} s with --jobs {args.jobs}")
    print(report(args.out, instances, methods))


if __name__ == "__main__":
    main()
