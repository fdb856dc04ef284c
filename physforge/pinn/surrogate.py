"""Fit one PINN surrogate member: data misfit + optional physics residual; Adam then L-BFGS.

The physics residual is either (a) a given PDE (``u_t = -1.0*u*u_x + 0.1*u_xx``, fixed
coefficients) or (b) a sparse candidate library with trainable coefficients, pruned every
``sparsity_every`` steps by a sequentially thresholded least-squares fit on the network's own
derivatives (DeepMoD / PINN-SR style), so fitting and discovery alternate.

With a store and a prefix, a checkpoint (weights, optimiser state, RNG state, history) is
committed every ``checkpoint_every`` steps and a new call with the same prefix resumes from the
newest one: a process killed mid-training loses at most ``checkpoint_every`` steps.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import physforge.pinn  # noqa: F401  (DeepXDE backend)
from physforge.config import SurrogateConfig
from physforge.errors import ConfigError, DataValidationError
from physforge.pinn.autodiff import DerivKey, autodiff, derivative_key, derivative_name
from physforge.pinn.checkpoint import latest_checkpoint, save_checkpoint
from physforge.pinn.networks import NetworkSpec, build_network
from physforge.storage_blocks.store import ArtifactStore

__all__ = [
    "TrainData",
    "PhysicsResidual",
    "MemberFit",
    "fit_member",
    "network_spec",
    "resolve_device",
]

Progress = Callable[[int, int, float], None]


@dataclass
class TrainData:
    """Points and values to fit: ``x`` (n × coords, time first), ``y`` (n × fields)."""

    coords: list[str]
    fields: list[str]
    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float64)
        self.y = np.asarray(self.y, dtype=np.float64)
        if self.y.ndim == 1:
            self.y = self.y[:, None]
        if self.x.shape != (len(self.y), len(self.coords)) or self.y.shape[1] != len(self.fields):
            raise DataValidationError(
                f"training data: x has shape {self.x.shape} and y {self.y.shape}; expected "
                f"(n, {len(self.coords)}) for coordinates {self.coords} and (n, "
                f"{len(self.fields)}) for fields {self.fields}"
            )
        if len(self.y) < 2 or not (np.isfinite(self.x).all() and np.isfinite(self.y).all()):
            raise DataValidationError(
                f"training data: need at least 2 finite points, got {len(self.y)} "
                f"({int((~np.isfinite(self.y)).sum())} non-finite values)"
            )

    @classmethod
    def from_points(
        cls, coords: Mapping[str, np.ndarray], values: Mapping[str, np.ndarray]
    ) -> TrainData:
        """Scattered measurements: one 1-D array per coordinate and per field."""
        return cls(
            list(coords),
            list(values),
            np.stack([np.ravel(v) for v in coords.values()], axis=1),
            np.stack([np.ravel(v) for v in values.values()], axis=1),
        )

    @classmethod
    def from_dataset(cls, ds, fields: Sequence[str] | None = None) -> TrainData:
        """Every grid point (or measured point) of a canonical dataset (``t`` first, then space)."""
        fields = list(fields or sorted(ds.data_vars))
        if ds.attrs.get("physforge_layout") == "scattered":
            dims = [
                ds.attrs["physforge_time"],
                *[d for d in ds.attrs["physforge_space"].split(",") if d],
            ]
            return cls.from_points(
                {d: ds[d].values for d in dims}, {f: ds[f].values for f in fields}
            )
        dims = list(ds[fields[0]].dims)
        if "physforge_time" in ds.attrs:
            dims = [
                ds.attrs["physforge_time"],
                *[d for d in ds.attrs["physforge_space"].split(",") if d],
            ]
        mesh = np.meshgrid(*[ds[d].values for d in dims], indexing="ij")
        x = np.stack([m.ravel() for m in mesh], axis=1)
        y = np.stack([ds[f].transpose(*dims).values.ravel() for f in fields], axis=1)
        return cls(dims, fields, x, y)

    def subsample(self, n: int, seed: int = 0) -> TrainData:
        """At most ``n`` points, chosen at random (deterministic in ``seed``)."""
        if len(self.y) <= n:
            return self
        idx = np.sort(np.random.default_rng(seed).choice(len(self.y), n, replace=False))
        return TrainData(self.coords, self.fields, self.x[idx], self.y[idx])

    @property
    def space(self) -> list[str]:
        return self.coords[1:]

    @property
    def time(self) -> str:
        return self.coords[0]


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' was asked for, but torch sees no CUDA device here")
    return torch.device(device)


def network_spec(data: TrainData, config: SurrogateConfig) -> NetworkSpec:
    """The architecture plus input/output normalisation from the data's ranges and moments."""
    lo, hi = data.x.min(axis=0), data.x.max(axis=0)
    half = np.where(hi > lo, (hi - lo) / 2.0, 1.0)
    ystd = data.y.std(axis=0)
    return NetworkSpec(
        in_dim=len(data.coords),
        out_dim=len(data.fields),
        width=config.width,
        depth=config.depth,
        kind=config.network,
        activation=config.activation,
        fourier_features=config.fourier_features,
        fourier_sigma=config.fourier_sigma,
        in_mean=tuple(((hi + lo) / 2.0).tolist()),
        in_scale=tuple(half.tolist()),
        out_mean=tuple(data.y.mean(axis=0).tolist()),
        out_scale=tuple(np.where(ystd > 0, ystd, 1.0).tolist()),
    )


# physics -----------------------------------------------------------------------------------
Factor = tuple[DerivKey, int]  # ((field, axes), power)


def _parse_term(term: str, fields: Sequence[str], coords: Sequence[str]) -> list[Factor]:
    if term == "1":
        return []
    factors: list[Factor] = []
    for part in term.replace("**", "^").split("*"):
        name, _, power = part.partition("^")
        fname, _, letters = name.partition("_")
        if fname not in fields:
            raise ConfigError(f"term {term!r}: unknown field {fname!r}; fields are {list(fields)}")
        factors.append((derivative_key(fname, tuple(letters), coords), int(power or 1)))
    return factors


def parse_pde(
    pde: str, fields: Sequence[str], coords: Sequence[str]
) -> tuple[list[str], list[str], np.ndarray]:
    """``"u_t = -1.0*u*u_x + 0.1*u_xx"`` (several separated by ``;``) → lhs, terms, coefs."""
    from physforge.discovery.terms import parse_equation

    parsed = parse_equation(pde, what="pde")
    lhs_list, rows = list(parsed), list(parsed.values())
    terms = sorted({t for r in rows for t in r})
    for t in terms:
        _parse_term(t, fields, coords)
    coefs = np.array([[r.get(t, 0.0) for t in terms] for r in rows])
    return lhs_list, terms, coefs


def candidate_library(
    fields: Sequence[str], space: Sequence[str], degree: int, order: int
) -> list[str]:
    """PDE-FIND's library: field monomials up to ``degree`` times 1 or one spatial derivative
    up to ``order``, named in the result grammar (``1``, ``u``, ``u**2``, ``u*u_x`` …)."""
    from physforge.discovery.terms import monomial_name, multi_indices, product_name

    monos = []
    for d in range(degree + 1):
        for combo in itertools.combinations_with_replacement(fields, d):
            monos.append(monomial_name({f: combo.count(f) for f in fields}))
    derivs = ["1"] + [
        derivative_name(f, axes) for axes in multi_indices(space, order) for f in fields
    ]
    return [product_name(m, d) for d in derivs for m in monos]


class PhysicsResidual(torch.nn.Module):
    """``lhs - Θ(u) ξ`` on collocation points; ``ξ`` fixed (a PDE) or trainable (a library).

    ``scale`` (per equation) makes the residual dimensionless; ``mask`` holds the library terms
    still in play after thresholding.
    """

    def __init__(
        self,
        lhs: list[str],
        terms: list[str],
        coefs: np.ndarray,
        trainable: bool,
        fields: Sequence[str],
        coords: Sequence[str],
        scale: np.ndarray,
    ):
        super().__init__()
        self.lhs, self.terms = list(lhs), list(terms)
        self.fields, self.coords = list(fields), list(coords)
        self.lhs_keys = [_parse_term(name, fields, coords)[0][0] for name in lhs]
        self.factors = [_parse_term(t, fields, coords) for t in terms]
        c = torch.as_tensor(np.asarray(coefs, dtype=np.float32))
        if trainable:
            self.coefs = torch.nn.Parameter(c)
        else:
            self.register_buffer("coefs", c)
        self.trainable = trainable
        self.register_buffer("mask", torch.ones_like(c))
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale, dtype=np.float32)))

    @property
    def wanted(self) -> set[DerivKey]:
        keys = set(self.lhs_keys)
        for fs in self.factors:
            keys.update(k for k, _ in fs)
        return keys

    def theta(self, d: Mapping[DerivKey, torch.Tensor], n: int, like: torch.Tensor) -> torch.Tensor:
        cols = []
        for fs in self.factors:
            col = torch.ones(n, dtype=like.dtype, device=like.device)
            for key, p in fs:
                col = col * d[key] ** p
            cols.append(col)
        return torch.stack(cols, dim=1)

    def forward(self, net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Mean squared dimensionless residual over the equations."""
        d = autodiff(net, x, self.wanted, self.coords, self.fields, create_graph=True)
        theta = self.theta(d, len(x), x)
        lhs = torch.stack([d[k] for k in self.lhs_keys], dim=1)
        res = (lhs - theta @ (self.coefs * self.mask).T) / self.scale
        return (res**2).mean()

    def l1(self) -> torch.Tensor:
        return (self.coefs * self.mask).abs().sum() if self.trainable else self.coefs.new_zeros(())

    @torch.no_grad()
    def sparsify(
        self, net: torch.nn.Module, x: torch.Tensor, threshold: float, iterations: int = 10
    ) -> None:
        """STLSQ on the network's derivatives: refit ξ, prune terms whose normalised |ξ| is below
        ``threshold``, refit on the survivors; sets ``coefs`` and ``mask``."""
        if not self.trainable:
            return
        with torch.enable_grad():
            xg = x.detach().clone().requires_grad_(True)
            d = autodiff(net, xg, self.wanted, self.coords, self.fields)
        theta = self.theta(d, len(x), x).double().cpu().numpy()
        norms = np.linalg.norm(theta, axis=0)
        norms[norms == 0] = 1.0
        th = theta / norms
        for i, key in enumerate(self.lhs_keys):
            b = d[key].double().cpu().numpy()
            bnorm = np.linalg.norm(b) or 1.0
            keep = self.mask[i].cpu().numpy() > 0
            xi = np.zeros(th.shape[1])
            for _ in range(iterations):
                if not keep.any():
                    break
                xi[:] = 0.0
                xi[keep] = np.linalg.lstsq(th[:, keep], b / bnorm, rcond=None)[0]
                new = keep & (np.abs(xi) >= threshold)
                if (new == keep).all():
                    break
                keep = new
            xi[~keep] = 0.0
            self.coefs[i] = torch.as_tensor(xi * bnorm / norms, dtype=self.coefs.dtype)
            self.mask[i] = torch.as_tensor(keep, dtype=self.mask.dtype)

    def equations(self) -> dict[str, dict[str, float]]:
        c = (self.coefs * self.mask).detach().cpu().double().numpy()
        return {
            lhs: {t: float(v) for t, v in zip(self.terms, row) if v != 0.0}
            for lhs, row in zip(self.lhs, c)
        }


def build_physics(
    config: SurrogateConfig, data: TrainData, spec: NetworkSpec
) -> PhysicsResidual | None:
    if config.physics == "none":
        return None
    # dimensionless residual: lhs is a time derivative of each field, ~ field scale / time scale
    t_scale = spec.in_scale[0] if spec.in_scale else 1.0
    if config.physics == "pde":
        if not config.pde:
            raise ConfigError(
                "physics='pde' needs the equation in `pde`, e.g. 'u_t = -1.0*u*u_x + 0.1*u_xx'"
            )
        lhs, terms, coefs = parse_pde(config.pde, data.fields, data.coords)
        trainable = False
    else:
        lhs = [derivative_name(f, (data.time,)) for f in data.fields]
        terms = candidate_library(
            data.fields, data.space, config.library_degree, config.library_order
        )
        coefs = np.zeros((len(lhs), len(terms)))
        trainable = True
    out_scale = dict(zip(data.fields, spec.out_scale or (1.0,) * len(data.fields)))
    scale = np.array([out_scale[name.partition("_")[0]] / t_scale for name in lhs])
    return PhysicsResidual(lhs, terms, coefs, trainable, data.fields, data.coords, scale)


# training ----------------------------------------------------------------------------------
@dataclass
class MemberFit:
    """A trained member: the network (CPU), how it was built, and how training went."""

    net: torch.nn.Module
    spec: NetworkSpec
    history: dict[str, list[float]]
    steps: int
    resumed_from_step: int
    wall_s: float
    device: str
    equations: dict[str, dict[str, float]] = field(default_factory=dict)
    physics_state: dict[str, Any] = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        return self.history["loss"][-1] if self.history["loss"] else float("nan")


def _lbfgs(params: list[torch.nn.Parameter]) -> torch.optim.LBFGS:
    return torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=1,
        history_size=50,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )


def fit_member(
    data: TrainData,
    config: SurrogateConfig,
    member: int = 0,
    *,
    store: ArtifactStore | None = None,
    prefix: str | None = None,
    progress: Progress | None = None,
    device: str | None = None,
) -> MemberFit:
    """Train ensemble member ``member`` (seed ``config.seed + member``; a bootstrap resample of
    the points when ``config.bootstrap``), checkpointing under ``prefix`` in ``store``.

    ``progress(step, total_steps, loss)`` is called every 1 % of the steps (and every L-BFGS
    chunk), at each checkpoint and at the end; a reporter throttles what it sends on.
    """
    start = time.perf_counter()
    dev = resolve_device(device or config.device)
    seed = config.seed + member
    rng = np.random.default_rng(seed + 104729)
    n = len(data.y)
    idx = rng.integers(0, n, n) if config.bootstrap else np.arange(n)
    spec = network_spec(data, config)
    dtype = torch.float32
    x = torch.as_tensor(data.x[idx], dtype=dtype, device=dev)
    y = torch.as_tensor(data.y[idx], dtype=dtype, device=dev)
    y_scale = torch.as_tensor(np.asarray(spec.out_scale), dtype=dtype, device=dev)
    net = build_network(spec, seed=seed).to(dev)
    physics = build_physics(config, data, spec)
    colloc = None
    if physics is not None:
        physics = physics.to(dev)
        lo, hi = data.x.min(axis=0), data.x.max(axis=0)
        pts = lo + (hi - lo) * rng.random((config.collocation_points, len(data.coords)))
        colloc = torch.as_tensor(pts, dtype=dtype, device=dev).requires_grad_(True)
    params = list(net.parameters()) + (list(physics.parameters()) if physics else [])
    adam = torch.optim.Adam(params, lr=config.learning_rate)
    lbfgs: torch.optim.LBFGS | None = None
    batch_gen = torch.Generator(device="cpu").manual_seed(seed)
    history: dict[str, list[float]] = {"step": [], "loss": [], "data": [], "physics": []}
    step = resumed = 0
    total = config.adam_steps + config.lbfgs_steps
    record_every = max(1, total // 200)
    report_every = max(1, total // 100)

    use_store = store is not None and prefix is not None
    if use_store:
        assert store is not None and prefix is not None
        ck = latest_checkpoint(store, prefix)
        if ck is not None:
            net.load_state_dict(ck.state["net"])
            if physics is not None:
                physics.load_state_dict(ck.state["physics"])
            if ck.meta["phase"] == "adam":
                adam.load_state_dict(ck.state["optimizer"])
            else:
                lbfgs = _lbfgs(params)
                lbfgs.load_state_dict(ck.state["optimizer"])
            batch_gen.set_state(ck.state["batch_rng"])
            history = ck.meta["history"]
            step = resumed = ck.step

    def physics_on() -> bool:
        # a library starts after a data-only warm-up of `sparsity_every` steps: its first
        # coefficients come from STLSQ on a network that already fits the data
        return physics is not None and (not physics.trainable or step >= config.sparsity_every)

    def loss_terms(bx: torch.Tensor, by: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        data_loss = (((net(bx) - by) / y_scale) ** 2).mean()
        if not physics_on():
            return data_loss, data_loss.new_zeros(())
        assert physics is not None
        phys = physics(net, colloc)
        return data_loss, phys

    def combine(data_loss: torch.Tensor, phys: torch.Tensor) -> torch.Tensor:
        if physics is None or not physics_on():
            return data_loss
        return data_loss + config.physics_weight * phys + config.l1_weight * physics.l1()

    def record(s: int, data_loss: torch.Tensor, phys: torch.Tensor, tot: torch.Tensor) -> None:
        history["step"].append(s)
        history["loss"].append(float(tot))
        history["data"].append(float(data_loss))
        history["physics"].append(float(phys))

    def checkpoint(phase: str, opt: torch.optim.Optimizer) -> None:
        if store is None or prefix is None:
            return
        state = {
            "net": net.state_dict(),
            "optimizer": opt.state_dict(),
            "batch_rng": batch_gen.get_state(),
        }
        if physics is not None:
            state["physics"] = physics.state_dict()
        save_checkpoint(
            store,
            prefix,
            step,
            state,
            {"phase": phase, "history": history, "member": member, "pid": os.getpid()},
        )

    def report(loss_value: float) -> None:
        if progress is not None:
            progress(step, total, loss_value)

    # Adam --------------------------------------------------------------------------------
    while step < config.adam_steps:
        if config.batch_size and config.batch_size < n:
            sel = torch.randint(0, n, (config.batch_size,), generator=batch_gen).to(dev)
            bx, by = x[sel], y[sel]
        else:
            bx, by = x, y
        adam.zero_grad(set_to_none=True)
        data_loss, phys = loss_terms(bx, by)
        tot = combine(data_loss, phys)
        tot.backward()
        adam.step()
        step += 1
        if step % record_every == 0 or step == config.adam_steps:
            record(step, data_loss.detach(), phys.detach(), tot.detach())
        if physics is not None and physics.trainable and step % config.sparsity_every == 0:
            physics.sparsify(net, colloc, config.sparsity_threshold)
        if step % config.checkpoint_every == 0:
            checkpoint("adam", adam)
            report(float(tot.detach()))
        elif step % report_every == 0:
            report(float(tot.detach()))

    # L-BFGS ------------------------------------------------------------------------------
    if config.lbfgs_steps and step < total:
        lbfgs = lbfgs or _lbfgs(params)
        last: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            lbfgs.zero_grad(set_to_none=True)
            data_loss, phys = loss_terms(x, y)
            tot = combine(data_loss, phys)
            tot.backward()
            last.update(data=data_loss.detach(), phys=phys.detach(), tot=tot.detach())
            return tot

        last_ck = step
        while step < total:
            chunk = min(config.checkpoint_every, record_every, total - step)
            group = lbfgs.param_groups[0]
            group["max_iter"], group["max_eval"] = chunk, chunk * 10
            before = lbfgs.state[lbfgs._params[0]].get("n_iter", 0)
            lbfgs.step(closure)
            done = lbfgs.state[lbfgs._params[0]].get("n_iter", 0) - before
            step += max(done, 0)
            record(step, last["data"], last["phys"], last["tot"])
            converged = done <= 0  # no further progress possible (tolerances met)
            if step - last_ck >= config.checkpoint_every or converged or step >= total:
                checkpoint("lbfgs", lbfgs)
                last_ck = step
            report(float(last["tot"]))
            if converged:
                break
    if physics is not None and physics.trainable:
        physics.sparsify(net, colloc, config.sparsity_threshold)
    report(history["loss"][-1] if history["loss"] else float("nan"))
    net = net.to("cpu")
    return MemberFit(
        net=net,
        spec=spec,
        history=history,
        steps=step,
        resumed_from_step=resumed,
        wall_s=time.perf_counter() - start,
        device=str(dev),
        equations=physics.equations() if physics is not None else {},
        physics_state={k: v.cpu() for k, v in physics.state_dict().items()} if physics else {},
    )
