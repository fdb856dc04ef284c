"""Forward PINN solving: spec → automatic architecture → DeepXDE model → Adam (+ RAR) → L-BFGS.

Plain functions, no Prefect: :func:`choose_plan` picks the network and the training schedule
from the problem (each choice with its reason, each overridable in the spec), :func:`build_model`
sets the problem up the DeepXDE way (geometry + PDE + conditions → data → model),
:func:`train` runs it with checkpoints to the artifact store and resumes from the newest one,
:func:`evaluate` predicts on a grid and compares with the reference solution, and
:func:`store_solution` writes weights, model card and the solution Zarr.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

import physforge
import physforge.pinn  # noqa: F401  (DeepXDE's PyTorch backend before import)
from physforge.pinn.checkpoint import clear_checkpoints, latest_checkpoint, save_checkpoint
from physforge.pinn.networks import NetworkSpec, build_network
from physforge.pinn.problems import family
from physforge.pinn.problems.base import Traits
from physforge.storage_blocks.store import ArtifactStore

__all__ = [
    "Plan",
    "choose_plan",
    "network_spec",
    "build_net",
    "build_model",
    "train",
    "TrainResult",
    "evaluate",
    "relative_l2",
    "solution_key",
    "store_model",
    "store_solution",
    "solve_problem",
    "REFERENCE_METHODS",
]

REFERENCE_METHODS = {
    "heat": "analytic (sine-mode series)",
    "wave": "analytic (standing waves)",
    "burgers": "Cole-Hopf transform, quadrature",
    "navier_stokes/kovasznay": "analytic (Kovasznay 1948)",
    "navier_stokes/cavity": "streamfunction-vorticity finite differences (same grid)",
    "elasticity": "manufactured solution",
    "maxwell": "manufactured solution",
}


class Plan(BaseModel):
    """The resolved architecture and training schedule (automatic choice + spec overrides)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int
    depth: int
    activation: str
    fourier_features: bool
    fourier_count: int
    fourier_scale: float
    hard_constraints: bool
    time_saturation: float = 0.0  # k of the saturating time factor; 0: τ^p (older cards)
    adam_steps: int
    learning_rate: float
    lbfgs_steps: int
    n_domain: int
    n_boundary: int
    n_initial: int
    n_corner: int = 0  # extra collocation points clustered at singular corners
    rar: bool
    rar_rounds: int
    rar_points: int
    loss_weights: list[float] | None
    checkpoint_every: int
    seed: int


def _auto(spec, traits: Traits, hard_ok: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The automatic choice and, per field, why."""
    dim = spec.domain.dim
    fam = family(spec)
    n_out = len(fam.outputs(spec))
    n_in = len(fam.inputs(spec))
    lengths = [b - a for a, b in spec.domain.box]
    # angular frequencies over the normalised [-1, 1] inputs
    w_space = traits.space_frequency * max(lengths) / 2
    w_time = traits.time_frequency * (spec.time[1] - spec.time[0]) / 2 if spec.transient else 0.0
    w_max = max(w_space, w_time)
    c: dict[str, Any] = {}
    r: dict[str, str] = {}

    if n_out > 1:
        c["width"], r["width"] = 64, f"{n_out} coupled output fields share one network"
    elif not spec.transient and w_space >= 2 * math.pi:
        c["width"], r["width"] = 64, f"standing wave, {w_space / math.pi:.1f}π rad over the domain"
    elif n_in >= 3 or w_max > 2 * math.pi:
        c["width"], r["width"] = 48, f"{n_in} inputs / {w_max / math.pi:.1f}π rad over the domain"
    else:
        c["width"], r["width"] = 32, "one smooth scalar field on a low-dimensional domain"
    if spec.problem == "navier_stokes" or traits.sharp_front:
        c["depth"], r["depth"] = (
            4,
            ("nonlinear advection" + (" with a sharp front" if traits.sharp_front else "")),
        )
    else:
        c["depth"], r["depth"] = 3, "linear operator, smooth solution"

    oscillatory_steady = not spec.transient and w_space >= 2 * math.pi
    if oscillatory_steady:
        c["activation"] = "sin"
        r["activation"] = (
            f"standing wave of {w_space / math.pi:.1f}π rad over the domain: "
            "sin activations match oscillatory solutions (DeepXDE Helmholtz)"
        )
    else:
        c["activation"], r["activation"] = "tanh", "smooth, non-periodic solution"
    ff = w_space >= 4 * math.pi
    c["fourier_features"] = ff
    r["fourier_features"] = (
        f"largest frequency in space {w_space / math.pi:.1f}π rad over the normalised domain "
        "≥ 4π: Fourier features counter the spectral bias of plain MLPs"
        if ff
        else f"largest frequency in space {w_space / math.pi:.1f}π rad over the normalised "
        "domain < 4π"
        + (
            f"; the oscillation in time ({w_time / math.pi:.1f}π) is left to the saturating "
            "time factor of the hard transform and L-BFGS (random Fourier features over (x, t) "
            "with σ = 2 made DeepXDE's wave_1d diverge)"
            if w_time >= 4 * math.pi
            else ""
        )
    )
    c["fourier_count"] = c["width"] // 2 if ff else 0
    c["fourier_scale"] = round(max(1.0, w_space / (2 * math.pi)), 3)
    r["fourier_count"] = r["fourier_scale"] = (
        "σ = the largest frequency in cycles per normalised unit" if ff else "unused"
    )

    c["hard_constraints"] = hard_ok
    r["hard_constraints"] = (
        "homogeneous Dirichlet walls"
        + (" and sine-mode initial data" if spec.transient else "")
        + ": imposed exactly by an output transform (no boundary/initial loss terms)"
        if hard_ok
        else "conditions are not all homogeneous Dirichlet: soft penalty terms"
    )

    c["time_saturation"] = traits.time_saturation if hard_ok and spec.transient else 0.0
    r["time_saturation"] = (
        f"k = {c['time_saturation']:.0f}: the window holds more than one period of the "
        "fastest mode; the time factor of the hard initial condition saturates after "
        "ω t ≈ 1 instead of growing like τ² (keeps the network's output of the order of u)"
        if c["time_saturation"] > 0
        else "time factor τ^p of the hard initial condition"
        if hard_ok and spec.transient
        else "no hard initial condition"
    )

    cavity = spec.problem == "navier_stokes" and spec.flow == "cavity"
    if ff:
        steps, lbfgs, why = 8000, 3000, "oscillation in time/space: a long Adam phase"
    elif traits.sharp_front:
        steps, lbfgs, why = (
            4000,
            3000,
            (
                "sharp front on dense collocation: Adam to the basin, then a long L-BFGS phase "
                "resolves the shock (Burgers ν = 0.01/π: 7e-4 with 4000 + 3000)"
            ),
        )
    elif cavity:
        steps, lbfgs, why = 10000, 3000, "lid-driven recirculation with corner singularities"
    elif traits.linear and hard_ok and w_time >= 2 * math.pi:
        steps, lbfgs, why = (
            2000,
            5000,
            (
                f"undamped oscillation, {w_time / math.pi:.1f}π rad in time over the normalised "
                "window: a stiff loss that Adam only brings to the basin; a long L-BFGS phase "
                "does most of the descent (wave_1d: 1.0e-2 after 2000 + 1500)"
            ),
        )
    elif traits.linear and hard_ok:
        steps, lbfgs, why = (
            2000,
            1000,
            ("linear operator with exact conditions: a well-conditioned loss"),
        )
    else:
        steps, lbfgs = 4000 if dim == 1 else 5000, 2000
        why = "nonlinear or soft-constrained problem"
    c["adam_steps"], r["adam_steps"] = steps, why
    c["learning_rate"], r["learning_rate"] = 1e-3, "Adam default for PINNs (DeepXDE examples)"
    c["lbfgs_steps"] = lbfgs
    r["lbfgs_steps"] = "L-BFGS refines after Adam (DeepXDE examples: Adam then L-BFGS)"
    n_dom = {1: 1500, 2: 2500}[dim] + (500 if spec.transient and dim == 2 else 0)
    why_dom = "collocation points by dimension (DeepXDE examples)"
    if traits.sharp_front:
        n_dom = 8000
        why_dom = (
            "sharp front: dense collocation (8000 Hammersley points) so the shock is "
            "resolved everywhere it moves; 2540 points (DeepXDE Burgers) let the "
            "network settle on a wrong shock after it forms"
        )
    if cavity:
        n_dom = 3000
    c["n_domain"], r["n_domain"] = n_dom, why_dom
    c["n_corner"] = 0
    r["n_corner"] = (
        f"{len(traits.singular_points)} singular corners (where a moving wall meets "
        "a fixed one); clustering points there (training.n_corner) did not help "
        "at full size (Ghia cavity, 600 corner points, Adam 5000 + L-BFGS 5000: "
        "1.4e-1 against 1.0e-1 without), so off by default"
        if traits.singular_points
        else "no singular corners"
    )
    nb = 0 if hard_ok else (80 if dim == 1 else 400)
    c["n_boundary"], r["n_boundary"] = (
        nb,
        ("boundary imposed exactly" if hard_ok else "points on the boundary for the penalty terms"),
    )
    ni = 0 if (hard_ok or not spec.transient) else (160 if dim == 1 else 400)
    c["n_initial"], r["n_initial"] = ni, "initial condition points (soft constraint only)"
    c["rar"] = False
    r["rar"] = (
        "dense uniform collocation already resolves the front; RAR (points added at "
        "the largest residuals during Adam) is available through training.rar"
        if traits.sharp_front
        else "smooth solution: uniform collocation suffices"
    )
    c["rar_rounds"], c["rar_points"] = 4, max(n_dom // 40, 10)
    r["rar_rounds"] = r["rar_points"] = (
        "when RAR is on: rounds through the second half of "
        "Adam × points added at the largest residuals"
    )
    if not hard_ok and spec.transient:
        c["loss_weights"] = None  # filled by build_model once the number of terms is known
        r["loss_weights"] = "initial condition weighted 10× (errors there propagate in time)"
    elif traits.corner_singularity:
        c["loss_weights"] = None
        r["loss_weights"] = "wall/lid conditions weighted 10× (the lid drives the whole flow)"
    else:
        c["loss_weights"], r["loss_weights"] = None, "all terms weighted equally"
    return c, r


def choose_plan(spec) -> tuple[Plan, dict[str, str], list[str]]:
    """Architecture and training from the problem, then the spec's overrides; with reasons."""
    fam = family(spec)
    traits = fam.traits(spec)
    hard_ok = fam.hard_transform(spec) is not None
    c, r = _auto(spec, traits, hard_ok)
    overrides = {
        **spec.architecture.model_dump(exclude_none=True),
        **spec.training.model_dump(exclude_none=True),
    }
    for k, v in overrides.items():
        if k in ("seed", "checkpoint_every"):
            c[k] = v
            continue
        if (
            k == "time_saturation"
            and v > 0
            and not (spec.transient and getattr(fam, "time_power", 1) == 2)
        ):
            from physforge.errors import ConfigError

            raise ConfigError(
                "architecture.time_saturation: a saturating time factor needs a "
                f"second-order-in-time problem (wave); {spec.problem!r} has none"
            )
        if k == "hard_constraints" and v and not hard_ok:
            from physforge.errors import ConfigError

            raise ConfigError(
                "architecture.hard_constraints: true needs homogeneous Dirichlet "
                "conditions on every side"
            )
        c[k], r[k] = v, f"set in the spec (automatic choice: {c.get(k)!r})"
    if c["fourier_features"] and not c.get("fourier_count"):
        c["fourier_count"] = c["width"] // 2
    return Plan(**c), r, traits.notes


def network_spec(spec, plan: Plan) -> NetworkSpec:
    """The network as the surrogate engineers' builder knows it; inputs scaled to [-1, 1]."""
    fam = family(spec)
    box = list(spec.domain.box) + ([tuple(spec.time)] if spec.transient else [])
    return NetworkSpec(
        in_dim=len(fam.inputs(spec)),
        out_dim=len(fam.outputs(spec)),
        width=plan.width,
        depth=plan.depth,
        kind="fourier" if plan.fourier_features else "fnn",
        activation=plan.activation,
        fourier_features=max(plan.fourier_count, 1),
        fourier_sigma=plan.fourier_scale,
        in_mean=tuple((a + b) / 2 for a, b in box),
        in_scale=tuple((b - a) / 2 for a, b in box),
    )


class HardConstraint(torch.nn.Module):
    """DeepXDE output transform ``(x, y) -> g(x, inner(x, y))``; keeps ``inner``'s buffers."""

    def __init__(self, inner: Callable, fn: Callable):
        super().__init__()
        self.inner = inner
        self.fn = fn

    def forward(self, inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        return self.fn(inputs, self.inner(inputs, outputs))


def build_net(spec, plan: Plan):
    """The network for ``spec`` (hard constraints included): the same for training and inference."""
    net = build_network(network_spec(spec, plan), seed=plan.seed)
    if plan.hard_constraints:
        inner, hard = net._output_transform, family(spec).hard_transform(spec, plan.time_saturation)
        assert inner is not None and hard is not None  # the normalisation; the family's BCs
        net.apply_output_transform(HardConstraint(inner, hard))
    return net


def _loss_weights(spec, plan: Plan, n_pde: int, conditions: list) -> list[float] | None:
    if plan.loss_weights is not None:
        return list(plan.loss_weights)
    import deepxde as dde

    if plan.hard_constraints:
        return None
    weights = [1.0] * n_pde
    for bc in conditions:
        initial = isinstance(bc, dde.icbc.IC) or (
            isinstance(bc, dde.icbc.OperatorBC) and spec.transient
        )
        lid = getattr(family(spec).traits(spec), "corner_singularity", False)
        weights.append(
            10.0 if initial or (lid and not isinstance(bc, dde.icbc.PointSetBC)) else 1.0
        )
    return weights if any(w != 1.0 for w in weights) else None


def corner_points(spec, corners, n: int, seed: int = 0, reach: float = 0.2) -> np.ndarray | None:
    """``n`` points inside the box, split among ``corners`` and clustered towards them:
    offsets ``reach · L · U²`` (U uniform) pointing into the domain."""
    if n < 1 or not corners:
        return None
    rng = np.random.default_rng(seed)
    box = np.asarray(spec.domain.box, dtype=float)
    lengths = box[:, 1] - box[:, 0]
    out = []
    for k, corner in enumerate(corners):
        m = n // len(corners) + (1 if k < n % len(corners) else 0)
        inward = np.where(np.isclose(corner, box[:, 0]), 1.0, -1.0)
        off = reach * lengths * rng.random((m, len(corner))) ** 2
        out.append(np.asarray(corner) + inward * off)
    return np.clip(np.vstack(out), box[:, 0], box[:, 1])


def build_model(spec, plan: Plan):
    """DeepXDE data + model for ``spec``: ``(model, data, geom, loss_weights)``."""
    import deepxde as dde

    from physforge.pinn.problems.base import geometry

    dde.config.set_random_seed(plan.seed)
    fam = family(spec)
    geom = geometry(spec)
    conditions = [] if plan.hard_constraints else fam.conditions(spec, geom)
    pde = fam.pde(spec)
    n_pde = len(fam.outputs(spec)) if spec.problem in ("navier_stokes", "elasticity") else 1
    if spec.problem == "elasticity":
        n_pde = 2
    if spec.transient:
        data = dde.data.TimePDE(
            geom,
            pde,
            conditions,
            num_domain=plan.n_domain,
            num_boundary=plan.n_boundary,
            num_initial=plan.n_initial,
            num_test=None,
        )
    else:
        corners = fam.traits(spec).singular_points
        anchors = corner_points(spec, corners, plan.n_corner, plan.seed) if corners else None
        data = dde.data.PDE(
            geom,
            pde,
            conditions,
            num_domain=plan.n_domain,
            num_boundary=plan.n_boundary,
            anchors=anchors,
            num_test=None,
        )
    net = build_net(spec, plan)
    model = dde.Model(data, net)
    return model, data, geom, _loss_weights(spec, plan, n_pde, conditions)


@dataclass
class TrainResult:
    net: torch.nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    wall_s: float = 0.0
    device: str = "cpu"
    resumed_from: int | None = None
    n_anchors: int = 0


def _loss_sum(model) -> float:
    return float(np.sum(model.train_state.loss_train))


def rar_schedule(plan: Plan) -> list[int]:
    """Adam steps at which RAR adds points: evenly through the second half of Adam, so
    the network trains on every new point before L-BFGS (never after Adam has ended)."""
    if not plan.rar or plan.rar_rounds < 1 or plan.adam_steps < 2:
        return []
    half = plan.adam_steps // 2
    return sorted(
        {
            half + k * (plan.adam_steps - half) // (plan.rar_rounds + 1)
            for k in range(plan.rar_rounds)
        }
    )


def _largest_residuals(spec, model, geom, n: int, n_candidates: int = 20000) -> np.ndarray:
    """The ``n`` of ``n_candidates`` random points with the largest PDE residual."""
    cand = geom.random_points(n_candidates)
    res = model.predict(cand, operator=family(spec).pde(spec))
    err = (
        np.sum([np.abs(np.asarray(r)) for r in res], axis=0)
        if isinstance(res, list)
        else np.abs(res)
    )
    return cand[np.argsort(err.ravel())[-n:]]


def train(
    spec,
    plan: Plan,
    store: ArtifactStore | None = None,
    prefix: str | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> TrainResult:
    """Adam in chunks (checkpointed), with RAR rounds inside it when chosen, then L-BFGS.

    With ``store`` and ``prefix``, a checkpoint ``<prefix>/checkpoints/step-N`` is committed
    after every ``checkpoint_every`` Adam steps and after each phase; a new call with the
    same prefix resumes from the newest one instead of starting over.
    """
    import deepxde as dde

    start = time.perf_counter()
    model, data, geom, weights = build_model(spec, plan)
    model.compile("adam", lr=plan.learning_rate, loss_weights=weights, verbose=0)
    ckpt_prefix = f"{prefix}/checkpoints" if store is not None and prefix else None
    step, phase, history, resumed = 0, "adam", [], None
    anchors = np.zeros((0, geom.dim))
    if store is not None and ckpt_prefix:
        ck = latest_checkpoint(store, ckpt_prefix)
        if ck is not None:
            model.net.load_state_dict(ck.state["net"])
            anchors = ck.state["anchors"].numpy()
            if len(anchors):
                data.add_anchors(anchors)
            if ck.meta["phase"] in ("adam", "rar") and "opt" in ck.state:
                model.opt.load_state_dict(ck.state["opt"])
            step, phase, history = ck.step, ck.meta["phase"], ck.meta["history"]
            resumed = step
            log(f"resumed from checkpoint at step {step} ({phase})")

    def checkpoint(phase_: str) -> None:
        history.append({"step": step, "loss": _loss_sum(model), "phase": phase_})
        log(f"{spec.name}: step {step} ({phase_}) loss {history[-1]['loss']:.3e}")
        if ckpt_prefix:
            state = {
                "net": model.net.state_dict(),
                "anchors": torch.as_tensor(np.asarray(anchors, dtype=np.float64)),
            }
            if phase_ in ("adam", "rar"):
                state["opt"] = model.opt.state_dict()
            assert store is not None and ckpt_prefix is not None
            save_checkpoint(store, ckpt_prefix, step, state, {"phase": phase_, "history": history})

    refine_at = rar_schedule(plan)
    if phase in ("adam", "rar"):
        while step < plan.adam_steps:
            if step in refine_at:
                new = _largest_residuals(spec, model, geom, plan.rar_points)
                anchors = np.vstack([anchors, new])
                data.add_anchors(new)
                log(f"RAR at step {step}: added {len(new)} points ({len(anchors)} in all)")
            nxt = min([s for s in refine_at if s > step] + [plan.adam_steps])
            chunk = min(plan.checkpoint_every, nxt - step)
            model.train(iterations=chunk, display_every=max(chunk, 1), verbose=0)
            step += chunk
            checkpoint("adam")
        phase = "lbfgs"
    if phase == "lbfgs" and plan.lbfgs_steps > 0:
        dde.optimizers.set_LBFGS_options(maxiter=plan.lbfgs_steps)
        model.compile("L-BFGS", loss_weights=weights, verbose=0)
        model.train(display_every=1000, verbose=0)
        step = plan.adam_steps + plan.lbfgs_steps
        checkpoint("done")
    elif phase != "done":
        checkpoint("done")
    device = str(next(model.net.parameters()).device)
    return TrainResult(
        net=model.net,
        history=history,
        wall_s=time.perf_counter() - start,
        device=device,
        resumed_from=resumed,
        n_anchors=len(anchors),
    )


# evaluation -----------------------------------------------------------------------------------
def grid(spec) -> tuple[dict[str, np.ndarray], list[str], np.ndarray]:
    """Grid coordinates, dimension order (``t`` first) and the points in input-column order."""
    fam = family(spec)
    n = spec.evaluation.resolution
    coords = {name: np.linspace(a, b, n) for name, (a, b) in zip(("x", "y"), spec.domain.box)}
    dims = list(coords)
    if spec.transient:
        t0, t1 = spec.time
        coords = {"t": np.linspace(float(t0), float(t1), spec.evaluation.time_steps), **coords}
        dims = ["t", *dims]
    mesh = np.meshgrid(*[coords[d] for d in dims], indexing="ij")
    flat = {d: m.ravel() for d, m in zip(dims, mesh)}
    points = np.stack([flat[name] for name in fam.inputs(spec)], axis=1)
    return coords, dims, points


@torch.no_grad()
def predict(net: torch.nn.Module, points: np.ndarray, batch: int = 32768) -> np.ndarray:
    """Network outputs at ``points`` (n, d) in batches, without autograd."""
    net.eval()
    p = next(net.parameters())
    out = [
        net(torch.as_tensor(points[i : i + batch], dtype=p.dtype, device=p.device)).cpu()
        for i in range(0, len(points), batch)
    ]
    return torch.cat(out).numpy().astype(np.float64)


def relative_l2(pred: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(pred - ref) / np.linalg.norm(ref))


def evaluate(spec, net: torch.nn.Module):
    """The solution on the evaluation grid as an xarray Dataset, and the errors vs the reference."""
    import xarray as xr

    fam = family(spec)
    coords, dims, points = grid(spec)
    shape = [len(coords[d]) for d in dims]
    pred = predict(net, points)
    ref = fam.reference(spec, points)
    outputs = fam.outputs(spec)
    data_vars = {}
    method = REFERENCE_METHODS[
        spec.problem if spec.problem != "navier_stokes" else f"navier_stokes/{spec.flow}"
    ]
    errors: dict[str, Any] = {
        "per_field": {},
        "relative_l2": None,
        "reference": method if ref is not None else None,
    }
    for k, name in enumerate(outputs):
        data_vars[name] = (dims, pred[:, k].reshape(shape).astype(np.float32))
        if ref is not None and np.all(np.isfinite(ref[:, k])):
            data_vars[f"{name}_reference"] = (dims, ref[:, k].reshape(shape).astype(np.float32))
            errors["per_field"][name] = relative_l2(pred[:, k], ref[:, k])
    if ref is not None:
        cols = [outputs.index(f) for f in fam.error_fields(spec)]
        errors["relative_l2"] = relative_l2(pred[:, cols], ref[:, cols])
        errors["fields"] = fam.error_fields(spec)
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs.update(
        problem=spec.problem,
        name=spec.name,
        source="physforge solve",
        relative_l2=-1.0 if errors["relative_l2"] is None else errors["relative_l2"],
    )
    return ds, errors


# storage --------------------------------------------------------------------------------------
def solution_key(spec, code: str | None = None) -> str:
    """Hash of the normalised spec and the code version: ``solutions/<key>``."""
    doc = {"spec": spec.model_dump(mode="json"), "code": code or physforge.__version__}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


def model_doc(
    spec, plan: Plan, reasons: dict[str, str], notes: list[str], result: TrainResult
) -> dict[str, Any]:
    fam = family(spec)
    return {
        "problem": spec.problem,
        "name": spec.name,
        "spec": spec.model_dump(mode="json"),
        "inputs": fam.inputs(spec),
        "outputs": fam.outputs(spec),
        "architecture": plan.model_dump(mode="json"),
        "network": network_spec(spec, plan).to_dict(),
        "reasons": reasons,
        "traits": notes,
        "training": {
            "history": result.history,
            "wall_s": round(result.wall_s, 3),
            "device": result.device,
            "resumed_from": result.resumed_from,
            "rar_points_added": result.n_anchors,
            "final_loss": result.history[-1]["loss"] if result.history else None,
        },
        "torch": torch.__version__,
        "physforge": physforge.__version__,
    }


def store_model(store: ArtifactStore, prefix: str, net: torch.nn.Module, doc: dict) -> str:
    """Weights (``torch.save(state_dict)``) and ``model.json`` at ``<prefix>/model``."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, buf)
    with store.transaction(
        f"{prefix}/model", meta={"kind": "pinn-model", "problem": doc["problem"]}
    ) as tx:
        tx.put_bytes("weights.pt", buf.getvalue())
        tx.put_json("model.json", doc)
    clear_checkpoints(store, f"{prefix}/checkpoints")
    return store.artifact(f"{prefix}/model").sha256


def store_solution(store: ArtifactStore, prefix: str, ds, card: dict) -> str:
    """The solution grid (Zarr) and the model card (JSON) at ``prefix``."""
    with store.transaction(prefix, meta={"kind": "solution", "problem": card["problem"]}) as tx:
        tx.put_zarr("solution.zarr", ds)
        tx.put_json("model_card.json", card)
    return store.artifact(prefix).sha256


def solve_problem(
    spec,
    store: ArtifactStore | None = None,
    code: str | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Everything in one process (benchmarks, notebooks): train, evaluate, optionally store."""
    plan, reasons, notes = choose_plan(spec)
    prefix = f"solutions/{solution_key(spec, code)}"
    result = train(spec, plan, store, prefix, log=log)
    ds, errors = evaluate(spec, result.net)
    card = model_doc(spec, plan, reasons, notes, result) | {"errors": errors}
    if store is not None:
        store_model(store, prefix, result.net, model_doc(spec, plan, reasons, notes, result))
        store_solution(store, prefix, ds, card)
    return {"key": prefix, "card": card, "dataset": ds, "net": result.net}
