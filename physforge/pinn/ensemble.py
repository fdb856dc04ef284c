"""Ensembles of surrogate members: storage, mean and spread, autodiff derivatives on any points.

The derivative source for the discovery stage::

    from physforge.pinn.ensemble import SurrogateEnsemble

    ens = SurrogateEnsemble.load(ref.store, ref.key)  # store (or URL), "surrogates/<key>"
    d = ens.derivatives({"t": t, "x": x}, fields=["u"],
                        multi_indices=[(), ("x",), ("x", "x"), ("t",)])
    d["u"], d["u_x"], d["u_xx"], d["u_t"]                 # ensemble means, shaped like t and x
    mean, std = ens.predict({"t": t, "x": x})           # {"u": …}, {"u": …}

Points are one array per coordinate (any common shape; results take that shape). A multi-index
is a tuple of coordinate names of order 0–4; its result is named as in the result grammar
(``physforge.discovery.terms.derivative_name``): ``u``, ``u_x``, ``u_xx``, ``u_xt``.
``derivatives(..., return_std=True)`` also gives the members' spread of each one.
Evaluation is in float64, in batches, on CPU unless a device is given.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import physforge.pinn  # noqa: F401  (DeepXDE backend)
from physforge.errors import ConfigError
from physforge.pinn.autodiff import autodiff, derivative_key, derivative_name
from physforge.pinn.networks import NetworkSpec, build_network
from physforge.pinn.surrogate import MemberFit
from physforge.storage_blocks.store import ArtifactStore, Transaction

__all__ = ["SurrogateEnsemble", "save_member", "write_member", "load_member_card"]

WEIGHTS = "weights.pt"
CARD = "card.json"


def write_member(
    tx: Transaction,
    fit: MemberFit,
    coords: Sequence[str],
    fields: Sequence[str],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A member's ``state_dict`` and its card (JSON) into an open transaction; the card."""
    buf = io.BytesIO()
    torch.save(fit.net.state_dict(), buf)
    card = {
        "spec": fit.spec.to_dict(),
        "coords": list(coords),
        "fields": list(fields),
        "steps": fit.steps,
        "resumed_from_step": fit.resumed_from_step,
        "wall_s": round(fit.wall_s, 3),
        "device": fit.device,
        "final_loss": fit.final_loss,
        "history": fit.history,
        "equations": fit.equations,
        **dict(extra or {}),
    }
    card["weights_sha256"] = tx.put_bytes(WEIGHTS, buf.getvalue())
    tx.put_json(CARD, card)
    return card


def save_member(
    store: ArtifactStore,
    prefix: str,
    fit: MemberFit,
    coords: Sequence[str],
    fields: Sequence[str],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Commit a member's ``state_dict`` and its card (JSON) under ``prefix``; returns the card."""
    with store.transaction(prefix, meta={"kind": "surrogate-member"}) as tx:
        return write_member(tx, fit, coords, fields, extra)


def load_member_card(store: ArtifactStore, prefix: str) -> dict[str, Any]:
    return store.artifact(prefix).read_json(CARD)


@dataclass
class SurrogateEnsemble:
    """K trained members over the same coordinates and fields."""

    nets: list[torch.nn.Module]
    coords: list[str]
    fields: list[str]
    cards: list[dict[str, Any]] = field(default_factory=list)
    device: str = "cpu"
    batch_size: int = 8192

    def __post_init__(self) -> None:
        self.nets = [n.to(device=self.device, dtype=torch.float64).eval() for n in self.nets]

    # construction ----------------------------------------------------------------------
    @classmethod
    def from_fits(
        cls, fits: Sequence[MemberFit], coords: Sequence[str], fields: Sequence[str], **kw: Any
    ) -> SurrogateEnsemble:
        nets = []
        for f in fits:
            net = build_network(f.spec)
            net.load_state_dict(f.net.state_dict())
            nets.append(net)
        return cls(nets, list(coords), list(fields), **kw)

    @classmethod
    def load_members(
        cls, store: ArtifactStore, prefixes: Sequence[str], **kw: Any
    ) -> SurrogateEnsemble:
        nets, cards = [], []
        for prefix in prefixes:
            art = store.artifact(prefix)
            card = art.read_json(CARD)
            net = build_network(NetworkSpec.from_dict(card["spec"]))
            net.load_state_dict(art.torch_state(WEIGHTS))  # weights_only=True
            nets.append(net)
            cards.append(card)
        if not cards:
            raise ConfigError("an ensemble needs at least one member")
        return cls(nets, cards[0]["coords"], cards[0]["fields"], cards, **kw)

    @classmethod
    def load(cls, store: ArtifactStore | str, key: str, **kw: Any) -> SurrogateEnsemble:
        """The ensemble committed at ``key`` (``surrogates/<key>``, as in a SurrogateRef)."""
        if not isinstance(store, ArtifactStore):
            store = ArtifactStore(store)
        card = store.artifact(key).read_json(CARD)
        return cls.load_members(store, [m["key"] for m in card["members"]], **kw)

    @property
    def size(self) -> int:
        return len(self.nets)

    # evaluation ------------------------------------------------------------------------
    def _points(self, points: Mapping[str, np.ndarray]) -> tuple[np.ndarray, tuple[int, ...]]:
        missing = [c for c in self.coords if c not in points]
        if missing:
            raise ConfigError(
                f"points lack coordinate(s) {missing}; the surrogate's inputs are {self.coords}"
            )
        arrays = np.broadcast_arrays(
            *[np.asarray(points[c], dtype=np.float64) for c in self.coords]
        )
        shape = arrays[0].shape
        return np.stack([a.ravel() for a in arrays], axis=1), shape

    def predict(
        self, points: Mapping[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Ensemble mean and standard deviation of every field at ``points``."""
        x, shape = self._points(points)
        outs = np.empty((self.size, len(x), len(self.fields)))
        with torch.no_grad():
            for k, net in enumerate(self.nets):
                for s in range(0, len(x), self.batch_size):
                    xb = torch.as_tensor(x[s : s + self.batch_size], device=self.device)
                    outs[k, s : s + len(xb)] = net(xb).cpu().numpy()
        mean, std = outs.mean(axis=0), outs.std(axis=0)
        return (
            {f: mean[:, j].reshape(shape) for j, f in enumerate(self.fields)},
            {f: std[:, j].reshape(shape) for j, f in enumerate(self.fields)},
        )

    def member_derivatives(
        self,
        points: Mapping[str, np.ndarray],
        fields: Sequence[str],
        multi_indices: Sequence[Sequence[str]],
    ) -> dict[str, np.ndarray]:
        """Per member: ``{name: array (K, *shape)}`` of values and derivatives."""
        for f in fields:
            if f not in self.fields:
                raise ConfigError(f"unknown field {f!r}; the surrogate models {self.fields}")
        x, shape = self._points(points)
        wanted = {
            derivative_name(f, tuple(mi)): derivative_key(f, tuple(mi), self.coords)
            for f in fields
            for mi in multi_indices
        }
        out = {name: np.empty((self.size, len(x))) for name in wanted}
        for k, net in enumerate(self.nets):
            for s in range(0, len(x), self.batch_size):
                xb = torch.as_tensor(x[s : s + self.batch_size], device=self.device)
                xb.requires_grad_(True)
                d = autodiff(net, xb, set(wanted.values()), self.coords, self.fields)
                for name, key in wanted.items():
                    out[name][k, s : s + len(xb)] = d[key].cpu().numpy()
        return {name: v.reshape((self.size, *shape)) for name, v in out.items()}

    def derivatives(
        self,
        points: Mapping[str, np.ndarray],
        fields: Sequence[str],
        multi_indices: Sequence[Sequence[str]],
        return_std: bool = False,
    ):
        """Ensemble-mean values and autodiff derivatives, named ``u``, ``u_x``, ``u_xx`` …

        ``multi_indices`` holds coordinate-name tuples of order 0–4 (``()`` is the value).
        With ``return_std`` also the members' standard deviation of each: ``(mean, std)``.
        """
        per = self.member_derivatives(points, fields, multi_indices)
        mean = {k: v.mean(axis=0) for k, v in per.items()}
        if return_std:
            return mean, {k: v.std(axis=0) for k, v in per.items()}
        return mean
