"""What a report is made of: the run's refs (validated parameters) and the data they point to.

A report takes data only as parameters: the store URL and the keys of the run's artifacts,
plain strings checked here before anything is read. Everything is then read through the
:class:`~physforge.storage_blocks.store.ArtifactStore` (verified reads; nothing unpickled).

Stages a run may or may not have:

- ``surrogate_key``: a surrogate artifact. The report plots it when it holds
  ``predictions.zarr``, the surrogate evaluated on the data grid (the field variables, and
  ``<field>_std`` for the ensemble spread where there is one).
- ``proposals_key``: a proposals artifact holding ``proposals.json``, a list of points
  (``{"t": …, "x": …, "score": …}``) or ``{"points": [...]}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field, field_validator

from physforge.errors import ConfigError, StoreError
from physforge.storage_blocks.store import ArtifactStore, _check_key

__all__ = [
    "ReportInputs",
    "RunData",
    "latest_discovery",
    "load_result",
    "load_run",
    "notebook_inputs",
    "parse_result",
    "split_store_uri",
]

_URL = re.compile(r"^(file|s3|s3a|memory|gs|gcs|az|abfs)://[A-Za-z0-9._~:/=+@%-]*$")
_KINDS = ("discoveries", "features", "datasets", "surrogates", "proposals", "reports")


class ReportInputs(BaseModel):
    """The notebook's parameters: a store URL and artifact keys, nothing else."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    store_url: str
    discovery_key: str = Field(min_length=1)
    features_key: str = Field(min_length=1)
    dataset_key: str = Field(min_length=1)
    surrogate_key: str = ""
    proposals_key: str = ""

    @field_validator("store_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not _URL.match(v):
            raise ValueError(
                f"store_url {v!r} is not a store URL (file://, s3://, memory:// … with plain "
                "path characters only)"
            )
        return v.rstrip("/")

    @field_validator(
        "discovery_key", "features_key", "dataset_key", "surrogate_key", "proposals_key"
    )
    @classmethod
    def _key(cls, v: str) -> str:
        if v == "":
            return v
        try:
            return _check_key(v)
        except StoreError as exc:
            raise ValueError(str(exc)) from None

    def parameters(self) -> dict[str, str]:
        """The papermill parameters (strings only)."""
        return self.model_dump()

    @classmethod
    def from_result(cls, result: dict[str, Any], store_url: str | None = None) -> ReportInputs:
        """The inputs of a result document (the flow's result dict or a stored result.json)."""
        uris = {
            "discovery": (result.get("discovery") or {}).get("uri"),
            "features": (result.get("features") or {}).get("uri"),
            "dataset": (result.get("dataset") or {}).get("store_uri"),
            "surrogate": (result.get("surrogate") or {}).get("uri"),
            "proposals": (result.get("proposals") or {}).get("uri"),
        }
        keys: dict[str, str] = {}
        for name, uri in uris.items():
            if not uri:
                continue
            url, key = split_store_uri(uri)
            store_url = store_url or url
            keys[f"{name}_key"] = key
        missing = [
            k.removesuffix("_key")
            for k in ("discovery_key", "features_key", "dataset_key")
            if k not in keys
        ]
        if missing or not store_url:
            raise ConfigError(
                f"the result names no {' / '.join(missing)} artifact; expected "
                "'discovery': {'uri': …}, 'features': {'uri': …} and 'dataset': "
                "{'store_uri': …} as the discover flow returns them"
            )
        return cls(store_url=store_url, **keys)


def latest_discovery(store_url: str | None = None) -> str:
    """The URI of the newest committed discovery in a store (default: ``$PHYSFORGE_STORE``,
    else ./physforge-store), by its commit time."""
    store = ArtifactStore(store_url or None)
    keys = store.list("discoveries")
    if not keys:
        raise ConfigError(
            f"store {store.url} holds no discovery yet; run `physforge discover "
            "DATA` first, or set store_url to the store that has one"
        )
    newest = max(keys, key=lambda k: float(store.artifact(k).manifest.get("created", 0.0)))
    return store.uri(newest)


def notebook_inputs(
    store_url: str = "",
    discovery_key: str = "",
    features_key: str = "",
    dataset_key: str = "",
    surrogate_key: str = "",
    proposals_key: str = "",
) -> ReportInputs:
    """The notebook's parameters as a user leaves them when running it by hand: an empty
    ``discovery_key`` means the latest discovery in the store, and empty features and dataset
    keys are that discovery's own."""
    if discovery_key and features_key and dataset_key:
        from physforge.storage_blocks.store import resolve_store_url

        return ReportInputs(
            store_url=store_url or resolve_store_url(),
            discovery_key=discovery_key,
            features_key=features_key,
            dataset_key=dataset_key,
            surrogate_key=surrogate_key,
            proposals_key=proposals_key,
        )
    store = ArtifactStore(store_url or None)
    uri = store.uri(discovery_key) if discovery_key else latest_discovery(store.url)
    found = ReportInputs.from_result(load_result(uri))
    return found.model_copy(
        update={
            k: v
            for k, v in {
                "features_key": features_key,
                "dataset_key": dataset_key,
                "surrogate_key": surrogate_key,
                "proposals_key": proposals_key,
            }.items()
            if v
        }
    )


def split_store_uri(uri: str) -> tuple[str, str]:
    """``file:///s/discoveries/abc`` → (``file:///s``, ``discoveries/abc``)."""
    uri = uri.rstrip("/")
    for kind in _KINDS:
        marker = f"/{kind}/"
        if marker in uri:
            url, rest = uri.rsplit(marker, 1)
            return url, f"{kind}/{rest}"
    raise ConfigError(
        f"{uri!r} is not an artifact URI of a PhysForge store (expected "
        f"<store>/<kind>/<key> with kind one of {', '.join(_KINDS)})"
    )


@dataclass
class RunData:
    """A run's result and arrays, as the report's figures take them."""

    inputs: ReportInputs
    result: dict[str, Any]
    dataset: xr.Dataset
    features: Any | None  # physforge.discovery.features.FeatureSet
    models: list[dict[str, Any]] | None  # the discovery's scored candidates (models.json)
    surrogate: xr.Dataset | None
    surrogate_note: str
    proposals: list[dict[str, float]] | None
    proposals_note: str

    @property
    def fields(self) -> list[str]:
        return list(self.result["dataset"]["fields"])


def load_run(inputs: ReportInputs | dict[str, Any]) -> RunData:
    """Read every artifact the inputs name; a missing optional stage becomes a note."""
    from physforge.discovery.features import FeatureSet

    inputs = ReportInputs.model_validate(inputs) if isinstance(inputs, dict) else inputs
    store = ArtifactStore(inputs.store_url)
    discovery = store.artifact(inputs.discovery_key)
    result = discovery.read_json("result.json")
    models = None  # a discovery written before models.json: the report re-runs the sweep
    if "models.json" in discovery.manifest["files"]:
        models = list(discovery.read_json("models.json")["models"])
    dataset = store.artifact(inputs.dataset_key).open_zarr("data.zarr").load()
    # figures show a complex field by its modulus |u|
    dataset = dataset.map(lambda v: abs(v) if np.iscomplexobj(v.values) else v, keep_attrs=True)
    lib = store.artifact(inputs.features_key).open_zarr("library.zarr").load()
    features = FeatureSet.from_xarray(lib)

    surrogate, s_note = None, "No surrogate in this run."
    if inputs.surrogate_key:
        art = store.artifact(inputs.surrogate_key)
        if any(f.startswith("predictions.zarr/") for f in art.manifest["files"]):
            surrogate = art.open_zarr("predictions.zarr").load()
            s_note = ""
        else:
            s_note = (
                f"The surrogate {art.uri} stores no predictions on the data grid "
                "(predictions.zarr), so there is no fit to show."
            )

    proposals, p_note = None, "No proposals in this run."
    if inputs.proposals_key:
        art = store.artifact(inputs.proposals_key)
        if "proposals.json" in art.manifest["files"]:
            doc = art.read_json("proposals.json")
            points = doc.get("points", []) if isinstance(doc, dict) else doc
            proposals = [
                {
                    str(k): float(v)
                    for k, v in p.items()
                    if isinstance(v, (int, float)) and np.isfinite(v)
                }
                for p in points
            ]
            p_note = "" if proposals else "The proposals artifact lists no points."
        else:
            p_note = f"The proposals artifact {art.uri} has no proposals.json."
    return RunData(inputs, result, dataset, features, models, surrogate, s_note, proposals, p_note)


def parse_result(text: str, name: str = "result") -> dict[str, Any]:
    """A result document from JSON text (``physforge discover --json`` output)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}: not a result JSON ({exc})") from None
    if not isinstance(doc, dict) or "equations" not in doc:
        raise ConfigError(f"{name}: not a result JSON (expected an object with 'equations')")
    return doc


def load_result(where: str) -> dict[str, Any]:
    """The result document a user names: a JSON file (``physforge discover --json`` output or a
    stored ``result.json``), or a discovery's store URI ``<store>/discoveries/<key>``."""
    path = Path(where)
    if "://" not in where and path.is_file():
        doc = parse_result(path.read_text(), where)
        parent = path.resolve().parent
        if re.fullmatch(r"tx-[0-9a-f]{24}", parent.name):  # the committing transaction's folder
            parent = parent.parent
        if "discovery" not in doc and parent.parent.name == "discoveries":
            doc["discovery"] = {"uri": f"file://{parent}"}
        return doc
    uri = where if "://" in where else f"file://{path.resolve()}"
    url, key = split_store_uri(re.sub(r"(/tx-[0-9a-f]{24})?/result\.json$", "", uri))
    if not key.startswith("discoveries/"):
        raise ConfigError(
            f"{where}: expected a discovery (<store>/discoveries/<key>), "
            f"found a {key.split('/', 1)[0]} artifact"
        )
    art = ArtifactStore(url).artifact(key)
    doc = art.read_json("result.json")
    doc["discovery"] = {"uri": f"{url}/{key}", "sha256": art.sha256}
    return doc
