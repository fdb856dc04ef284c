"""The nightly benchmark: discovery on the generated example PDEs at a few noise levels, one
task per case on a Dask cluster when ``$PHYSFORGE_DASK_ADDRESS`` names one. Results go to the
store (``benchmarks/<key>/results.json``) and to a table artifact. Wiring only."""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from physforge.compute.cluster import ADDRESS_ENV, choose_cluster, task_runner
from physforge.config import DiscoveryConfig, FeatureConfig
from physforge.storage_blocks.store import ArtifactStore

__all__ = ["benchmark_nightly", "benchmark_case", "score_case", "cases_runner"]


def _symbol(term: str) -> str:
    """A term of the result grammar in a canonical form (``u_x*u`` and ``u*u_x`` agree)."""
    import sympy

    return str(sympy.sympify(term.replace("_", "")))


def _true_terms(equation: str) -> dict[str, dict[str, float]]:
    """``"u_t = -1.0*u*u_x + 0.1*u_xx; …"`` → ``{"u_t": {"u*ux": -1.0, "uxx": 0.1}}``."""
    import sympy

    out: dict[str, dict[str, float]] = {}
    for part in equation.split(";"):
        lhs, rhs = (s.strip() for s in part.split("="))
        terms = (sympy.expand(sympy.sympify(rhs.replace("_", "")))).as_ordered_terms()
        out[lhs] = {str(t.as_coeff_Mul()[1]): float(t.as_coeff_Mul()[0]) for t in terms}
    return out


def score_case(truth: str, equations: list[dict]) -> dict[str, Any]:
    """Whether the best equation of each lhs has exactly the true terms, and the worst relative
    error of a true coefficient (None where a true term was missed)."""
    best: dict[str, dict] = {}
    for eq in equations:  # ranked best first
        best.setdefault(eq["lhs"], eq)
    recovered, worst = True, 0.0
    for lhs, terms in _true_terms(truth).items():
        found = {_symbol(t): c for t, c in best.get(lhs, {}).get("terms", {}).items()}
        recovered &= set(found) == set(terms)
        for term, coef in terms.items():
            if term not in found:
                worst = None
            elif worst is not None:
                worst = max(worst, abs(found[term] - coef) / abs(coef))
    return {"recovered": bool(recovered), "max_rel_coef_error": worst}


@task(name="benchmark_case", retries=1)
def benchmark_case(example: str, noise: float, seed: int = 0) -> dict[str, Any]:
    """One example at one noise level: features + discovery with the default configuration."""
    from physforge.datasets.canonical import canonicalize
    from physforge.datasets.examples import make_example
    from physforge.discovery.engine import discover_equations
    from physforge.discovery.features import build_features

    start = time.perf_counter()
    ds = make_example(example, noise=noise, seed=seed)
    canonical = canonicalize(ds, f"example {example}").load()
    equations = discover_equations(build_features(canonical, FeatureConfig()), DiscoveryConfig())
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = f"{os.uname().nodename}:{os.getpid()}"
    return {"example": example, "noise": noise, "seed": seed, "truth": ds.attrs["equation"],
            "found": f"{equations[0]['lhs']} = {equations[0]['rhs']}",
            **score_case(ds.attrs["equation"], equations),
            "runtime_s": round(time.perf_counter() - start, 3), "worker": worker}


@flow(name="benchmark-cases", log_prints=True)
def _run_cases(examples: list[str], noise_levels: list[float], seed: int) -> list[dict]:
    futures = [benchmark_case.submit(ex, noise, seed) for ex in examples for noise in noise_levels]
    return [f.result() for f in futures]


def cases_runner():
    """Dask on the scheduler at ``$PHYSFORGE_DASK_ADDRESS`` when set; else threads here."""
    if os.environ.get(ADDRESS_ENV):
        return task_runner(choose_cluster())
    return ThreadPoolTaskRunner(max_workers=1)


@flow(name="benchmark-nightly", log_prints=True)
def benchmark_nightly(
    examples: list[str] = ["burgers"],  # noqa: B006 - Prefect needs a JSON default here
    noise_levels: list[float] = [0.0, 0.01, 0.05],  # noqa: B006
    seed: int = 0,
    store: str | None = None,
) -> dict[str, Any]:
    """Discovery on the generated example PDEs at several noise levels.

    Args:
        examples: Example PDEs to generate (see `physforge example --help`), e.g. burgers.
        noise_levels: Gaussian noise levels, as fractions of each field's standard deviation.
        seed: Noise seed.
        store: Artifact store URL for the results; default: the block named by
            $PHYSFORGE_STORE_BLOCK, else $PHYSFORGE_STORE, else ./physforge-store.
    """
    from prefect.artifacts import create_table_artifact

    rows = _run_cases.with_options(task_runner=cases_runner())(
        list(examples), [float(n) for n in noise_levels], seed)
    when = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    doc = {"created": when, "cases": rows,
           "recovered": sum(r["recovered"] for r in rows), "total": len(rows)}
    artifact_store = ArtifactStore(store)
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]
    key = f"benchmarks/{when}-{digest}"
    with artifact_store.transaction(key, meta={"kind": "benchmark"}) as tx:
        tx.put_json("results.json", doc)
    table = [{k: r[k] for k in ("example", "noise", "recovered", "max_rel_coef_error",
                                "runtime_s", "worker")} for r in rows]
    create_table_artifact(table, key="physforge-benchmark-nightly",
                          description=f"Nightly discovery benchmark, {doc['recovered']}/"
                          f"{doc['total']} recovered; {artifact_store.uri(key)}")
    print(f"benchmark: {doc['recovered']}/{doc['total']} cases recovered the true equation")
    return {**doc, "uri": artifact_store.uri(key)}
