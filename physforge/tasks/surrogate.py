"""Tasks: train PINN surrogate members (one Prefect task run each, on Dask workers), assemble
the ensemble (:func:`physforge.flows.surrogate.train_surrogate` wires them: a DatasetRef in and a
SurrogateRef out).

Store layout under ``surrogates/<key>`` (``key`` from the dataset's sha256, the training
configuration and the PINN code version — the same on every retry, so a retry finds its
checkpoints): ``checkpoints/member-<i>/step-<n>`` while training, ``members/member-<i>``
(``weights.pt`` state_dict + ``card.json``), and the ensemble's ``card.json`` (model card),
``predictions.zarr`` (mean and spread on the dataset grid) and ``history.zarr``.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from prefect import get_run_logger, task

from physforge.compute.cluster import worker_address
from physforge.config import SurrogateConfig
from physforge.datasets.ingest import open_dataset
from physforge.pinn.checkpoint import clear_checkpoints
from physforge.pinn.ensemble import SurrogateEnsemble, load_member_card, write_member
from physforge.pinn.surrogate import TrainData, fit_member
from physforge.refs import DatasetRef, SurrogateRef
from physforge.storage_blocks.store import ArtifactStore, Transaction, artifact_key
from physforge.tasks.common import code_version, task_defaults

if TYPE_CHECKING:
    from uuid import UUID

__all__ = [
    "train_member",
    "assemble_surrogate",
    "surrogate_key",
    "member_prefix",
    "checkpoint_prefix",
    "member_progress",
    "progress_key",
    "EXECUTION_FIELDS",
]

# where and on what members run never changes what they compute
EXECUTION_FIELDS = frozenset({"dask_address", "n_workers", "device"})
_PINN_MODULES = ("autodiff.py", "checkpoint.py", "ensemble.py", "networks.py", "surrogate.py")


def pinn_version() -> str:
    """The code version of the surrogate's science modules only (not the whole tree, so
    unrelated edits never orphan checkpoints)."""
    return code_version(*(f"pinn/{name}" for name in _PINN_MODULES))


def surrogate_key(dataset: DatasetRef, config: SurrogateConfig) -> str:
    cfg = config.model_dump(mode="json", exclude=set(EXECUTION_FIELDS))
    return artifact_key("surrogates", [dataset.sha256, cfg, pinn_version()])


def member_prefix(key: str, member: int) -> str:
    return f"{key}/members/member-{member:03d}"


def checkpoint_prefix(key: str, member: int) -> str:
    return f"{key}/checkpoints/member-{member:03d}"


def member_progress(store: ArtifactStore, key: str, members: int, total: int) -> list[int]:
    """Steps done per member, read from the store (committed checkpoints; ``total`` once the
    member is committed) — what a progress bar in another process can see."""
    from physforge.pinn.checkpoint import list_checkpoints

    done = []
    for i in range(members):
        if store.is_committed(member_prefix(key, i)):
            done.append(total)
        else:
            found = list_checkpoints(store, checkpoint_prefix(key, i))
            done.append(found[-1][0] if found else 0)
    return done


def training_data(dataset: DatasetRef, config: SurrogateConfig) -> TrainData:
    ds = open_dataset(dataset, allow_scattered=True)
    return TrainData.from_dataset(ds).subsample(config.max_points, seed=config.seed)


def _where() -> dict[str, Any]:
    return {"worker": worker_address(), "pid": os.getpid(), "host": socket.gethostname()}


def progress_key(key: str, member: int) -> str:
    """The Prefect artifact key of a member's training progress (what ``physforge train``
    shows): lowercase letters, digits and dashes, from the surrogate's store key."""
    return f"physforge-train-{key.rsplit('/', 1)[-1]}-member-{member:03d}"


def _progress_reporter(key: str, member: int, min_interval: float = 0.5):
    """A Prefect progress artifact for this member, updated as training reports (every 1 %
    of the steps), at most every ``min_interval`` seconds and always at the end."""
    from prefect.artifacts import create_progress_artifact, update_progress_artifact

    artifact_id = cast(
        "UUID",
        create_progress_artifact(
            progress=0.0,
            key=progress_key(key, member),
            description=f"PINN surrogate {key}, member {member}: training progress",
        ),
    )
    last = [0.0]

    def report(step: int, total: int, loss: float) -> None:
        now = time.monotonic()
        if step < total and now - last[0] < min_interval:
            return
        last[0] = now
        update_progress_artifact(
            artifact_id,
            progress=100.0 * step / max(total, 1),
            description=f"PINN surrogate {key}, member {member}: step "
            f"{step}/{total}, loss {loss:.3e}",
        )

    return report


def _member_summary(card: dict[str, Any], prefix: str) -> dict[str, Any]:
    keep = (
        "member",
        "seed",
        "steps",
        "resumed_from_step",
        "final_loss",
        "wall_s",
        "device",
        "worker",
        "pid",
        "host",
        "entered",
        "started",
        "finished",
        "weights_sha256",
    )
    return {"key": prefix, **{k: card.get(k) for k in keep}}


@task(name="train_member", **task_defaults())
def train_member(dataset: DatasetRef, config: SurrogateConfig, member: int) -> dict[str, Any]:
    """Train (or resume, or find) ensemble member ``member``; returns its summary (JSON)."""
    entered = time.time()
    store = ArtifactStore(dataset.store)
    key = surrogate_key(dataset, config)
    prefix = member_prefix(key, member)

    def write(tx: Transaction) -> None:
        data = training_data(dataset, config)
        started = time.time()
        fit = fit_member(
            data,
            config,
            member,
            store=store,
            prefix=checkpoint_prefix(key, member),
            progress=_progress_reporter(key, member),
        )
        write_member(
            tx,
            fit,
            data.coords,
            data.fields,
            extra={
                "member": member,
                "seed": config.seed + member,
                "n_points": len(data.y),
                "dataset_sha256": dataset.sha256,
                "entered": entered,
                "started": started,
                "finished": time.time(),
                **_where(),
            },
        )
        get_run_logger().info(
            "member %d: %d steps (resumed from %d) in %.1f s on %s, loss %.3e",
            member,
            fit.steps,
            fit.resumed_from_step,
            fit.wall_s,
            fit.device,
            fit.final_loss,
        )

    committed = store.is_committed(prefix)
    store.computed(
        f"{key}/members", f"member-{member:03d}", write, meta={"kind": "surrogate-member"}
    )
    if not committed:
        clear_checkpoints(store, checkpoint_prefix(key, member))
    return _member_summary(load_member_card(store, prefix), prefix)


def _history(cards: list[dict[str, Any]]):
    import xarray as xr

    n = max(len(c["history"]["step"]) for c in cards)
    arrays = {}
    for name in ("step", "loss", "data", "physics"):
        a = np.full((len(cards), n), np.nan)
        for i, c in enumerate(cards):
            v = c["history"][name]
            a[i, : len(v)] = v
        arrays[name] = (("member", "record"), a)
    return xr.Dataset(arrays, coords={"member": np.arange(len(cards))})


def _predictions(ens: SurrogateEnsemble, dataset: DatasetRef):
    import xarray as xr

    ds = open_dataset(dataset, allow_scattered=True)
    dims = dataset.dims
    if dataset.layout == "scattered":  # predict on a regular grid over the points' bounds
        axes = [np.linspace(float(ds[d].min()), float(ds[d].max()), 64) for d in dims]
    else:
        axes = [ds[d].values for d in dims]
    mesh = np.meshgrid(*axes, indexing="ij")
    mean, std = ens.predict(dict(zip(dims, mesh)))
    out = xr.Dataset(coords=dict(zip(dims, axes)))
    for f in ens.fields:
        out[f] = (dims, mean[f])
        out[f"{f}_std"] = (dims, std[f])
    out.attrs["description"] = "PINN ensemble mean (field) and members' standard deviation"
    return out


@task(name="assemble_surrogate", **task_defaults())
def assemble_surrogate(
    dataset: DatasetRef,
    config: SurrogateConfig,
    members: list[dict[str, Any]],
    cluster: dict[str, Any],
) -> SurrogateRef:
    """Write the ensemble's model card, predictions and history; return its ref."""
    store = ArtifactStore(dataset.store)
    key = surrogate_key(dataset, config)
    prefixes = [m["key"] for m in sorted(members, key=lambda m: m["member"])]

    def write(tx: Transaction) -> None:
        ens = SurrogateEnsemble.load_members(store, prefixes)
        cards = ens.cards
        spec = dict(cards[0]["spec"])
        n_params = sum(p.numel() for p in ens.nets[0].parameters())
        card = {
            "kind": "pinn-surrogate-ensemble",
            "architecture": {
                k: spec[k]
                for k in (
                    "kind",
                    "width",
                    "depth",
                    "activation",
                    "in_dim",
                    "out_dim",
                    "fourier_features",
                    "fourier_sigma",
                )
            }
            | {"parameters": int(n_params), "library": "deepxde (pytorch backend)"},
            "normalisation": {k: spec[k] for k in ("in_mean", "in_scale", "out_mean", "out_scale")},
            "data": {
                "key": dataset.key,
                "sha256": dataset.sha256,
                "source": dataset.source,
                "coords": ens.coords,
                "fields": ens.fields,
                "n_points": cards[0].get("n_points"),
            },
            "config": config.model_dump(mode="json"),
            "members": [
                _member_summary(c, p) | {"equations": c.get("equations", {})}
                for c, p in zip(cards, prefixes)
            ],
            "losses": {"final": [c["final_loss"] for c in cards]},
            "wall_time_s": {
                "max_member": max(c["wall_s"] for c in cards),
                "sum_members": round(sum(c["wall_s"] for c in cards), 3),
            },
            "devices": sorted({c["device"] for c in cards}),
            "cluster": cluster,
            "code_version": code_version(),
            "created": time.time(),
        }
        tx.put_zarr("predictions.zarr", _predictions(ens, dataset))
        tx.put_zarr("history.zarr", _history(cards))
        tx.put_json("card.json", card)

    art = store.computed(
        "surrogates", key.removeprefix("surrogates/"), write, meta={"kind": "surrogate"}
    )
    card = art.read_json("card.json")
    return SurrogateRef(
        store=store.url,
        key=key,
        sha256=art.sha256,
        dataset=dataset,
        config=config.model_dump(mode="json"),
        members=prefixes,
        info={
            "final_losses": card["losses"]["final"],
            "devices": card["devices"],
            "resumed_from_step": [m["resumed_from_step"] for m in card["members"]],
            "workers": [m["worker"] for m in card["members"]],
        },
    )
