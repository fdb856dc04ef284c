"""Tasks of the ``solve`` flow: train a forward-problem PINN, evaluate it on a grid.

Store layout under ``solutions/<key>`` (key = hash of the normalised spec + code version, the
same on every retry, so a retried training resumes from its checkpoints):
``checkpoints/step-<n>`` while training, ``model/`` (``weights.pt`` + ``model.json``) once
trained, and ``solution.zarr`` + ``model_card.json`` once evaluated.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task

from physforge.pinn.problems import load_spec
from physforge.refs import ForwardModelRef, SolutionRef
from physforge.storage_blocks.store import ArtifactStore
from physforge.tasks.common import code_version, task_defaults

__all__ = ["train_solution", "evaluate_solution", "solution_prefix"]


def solution_prefix(spec) -> str:
    from physforge.pinn.solve import solution_key

    return f"solutions/{solution_key(spec, code_version())}"


def _model_ref(store: ArtifactStore, prefix: str) -> ForwardModelRef:
    art = store.artifact(f"{prefix}/model")
    doc = art.read_json("model.json")
    return ForwardModelRef(
        store=store.url,
        key=f"{prefix}/model",
        sha256=art.sha256,
        problem=doc["problem"],
        name=doc["name"],
        spec=doc["spec"],
        architecture=doc["architecture"],
        training={k: v for k, v in doc["training"].items() if k != "history"},
    )


@task(name="train-solution", **task_defaults())
def train_solution(spec: dict[str, Any], store_url: str) -> ForwardModelRef:
    """Train the PINN for ``spec`` (Adam → RAR → L-BFGS, checkpointed); reuse a stored model."""
    from physforge.pinn.solve import choose_plan, model_doc, store_model, train

    logger = get_run_logger()
    problem = load_spec(spec)
    store = ArtifactStore(store_url)
    prefix = solution_prefix(problem)
    if store.is_committed(f"{prefix}/model"):
        logger.info("model for %s already in the store at %s/model", problem.name, prefix)
        return _model_ref(store, prefix)
    plan, reasons, notes = choose_plan(problem)
    for name, why in reasons.items():
        logger.info("%s = %s: %s", name, getattr(plan, name), why)
    result = train(problem, plan, store, prefix, log=logger.info)
    store_model(store, prefix, result.net, model_doc(problem, plan, reasons, notes, result))
    return _model_ref(store, prefix)


@task(name="evaluate-solution", **task_defaults())
def evaluate_solution(model: ForwardModelRef) -> SolutionRef:
    """The solution on the spec's grid (Zarr), its error against the reference, the model card."""
    from physforge.pinn.inference import load_model
    from physforge.pinn.solve import evaluate, store_solution

    problem = load_spec(model.spec)
    store = ArtifactStore(model.store)
    prefix = model.key.removesuffix("/model")
    loaded = load_model(prefix, store.url)
    ds, errors = evaluate(problem, loaded.net)
    card = dict(loaded.card) | {
        "errors": errors,
        "model": {"key": model.key, "sha256": model.sha256},
        "grid": {k: int(v) for k, v in ds.sizes.items()},
    }
    sha = store_solution(store, prefix, ds, card)
    get_run_logger().info(
        "%s: relative L2 error %s (%s)", problem.name, errors["relative_l2"], errors["reference"]
    )
    return SolutionRef(store=store.url, key=prefix, sha256=sha, model=model, errors=errors)
