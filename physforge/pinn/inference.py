"""Fast inference from a stored forward-problem model: load once per process, predict in batches.

``load_model("solutions/<key>", store)`` reads ``model.json`` and ``weights.pt`` (verified against
the commit manifest, ``torch.load(weights_only=True)``), rebuilds the network from the recorded
spec and architecture, and is cached per process (``functools.cache``), so a Dask worker or a
server pays the load once. ``predict`` runs under ``torch.inference_mode`` in large batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

import physforge.pinn  # noqa: F401  (DeepXDE's PyTorch backend before import)
from physforge.errors import ConfigError, DataValidationError
from physforge.storage_blocks.store import ArtifactStore, resolve_store_url

__all__ = ["LoadedModel", "load_model", "predict", "split_model_uri"]


@dataclass
class LoadedModel:
    """A rebuilt PINN with its input/output names and the spec's domain."""

    key: str
    net: torch.nn.Module
    inputs: list[str]
    outputs: list[str]
    bounds: list[tuple[float, float]]
    card: dict
    batch: int = 131072

    def predict(self, points) -> np.ndarray:
        """Outputs at ``points``: an (n, len(inputs)) array, or a DataFrame with those columns."""
        if hasattr(points, "columns"):
            missing = [c for c in self.inputs if c not in points.columns]
            if missing:
                raise DataValidationError(
                    f"points: column(s) {missing} missing; the model {self.key} takes "
                    f"{self.inputs}, found {list(points.columns)}"
                )
            points = points[self.inputs].to_numpy()
        pts = np.asarray(points)
        if pts.ndim != 2 or pts.shape[1] != len(self.inputs):
            raise DataValidationError(
                f"points: expected shape (n, {len(self.inputs)}) for inputs {self.inputs}, "
                f"found {pts.shape}"
            )
        p = next(self.net.parameters())
        x = torch.as_tensor(pts, dtype=p.dtype, device=p.device)
        with torch.inference_mode():
            out = [self.net(x[i : i + self.batch]) for i in range(0, len(x), self.batch)]
        return torch.cat(out).cpu().numpy()


def split_model_uri(model: str, store: str | None = None) -> tuple[str, str]:
    """``(store_url, key)`` from ``solutions/<key>`` (+ store) or a ``…/solutions/<key>`` URI."""
    model = model.rstrip("/")
    if "://" in model:
        if "/solutions/" not in model:
            raise ConfigError(f"model {model!r}: expected a URI ending in solutions/<key>")
        root, rest = model.rsplit("/solutions/", 1)
        return resolve_store_url(root), "solutions/" + rest
    return resolve_store_url(store), model


@cache
def _load(store_url: str, key: str) -> LoadedModel:
    from physforge.pinn.problems import load_spec
    from physforge.pinn.solve import Plan, build_net

    store = ArtifactStore(store_url)
    model_key = key if key.endswith("/model") else f"{key}/model"
    art = store.artifact(model_key)
    doc = art.read_json("model.json")
    spec = load_spec(doc["spec"])
    net = build_net(spec, Plan.model_validate(doc["architecture"]))
    net.load_state_dict(art.torch_state("weights.pt"))
    net.eval()
    for prm in net.parameters():
        prm.requires_grad_(False)
    bounds = [tuple(b) for b in spec.domain.box] + ([tuple(spec.time)] if spec.transient else [])
    return LoadedModel(
        key=key.removesuffix("/model"),
        net=net,
        inputs=doc["inputs"],
        outputs=doc["outputs"],
        bounds=bounds,
        card=doc,
    )


def load_model(model: str, store: str | None = None) -> LoadedModel:
    """The model at ``solutions/<key>`` (or a full URI), loaded once per process."""
    store_url, key = split_model_uri(model, store)
    return _load(store_url, key)


def predict(model: str, points, store: str | None = None) -> np.ndarray:
    """One call: ``predict("solutions/<key>", points)`` with the cached model."""
    return load_model(model, store).predict(points)
