"""Refs: the small pydantic models tasks pass to each other (never arrays)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "Ref",
    "DatasetRef",
    "FeatureRef",
    "DiscoveryRef",
    "SurrogateRef",
    "ReportRef",
    "ForwardModelRef",
    "SolutionRef",
]


class Ref(BaseModel):
    """Where an artifact lives (store URL + key), its content hash and what produced it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    store: str
    key: str
    sha256: str

    @property
    def uri(self) -> str:
        return f"{self.store}/{self.key}"


class DatasetRef(Ref):
    source: str
    dims: list[str]
    fields: list[str]
    shape: list[int]
    given: list[str] = []  # variables that enter the equations but are not modelled
    noise_estimate: float = 0.0
    warnings: list[str] = []
    layout: Literal["grid", "scattered"] = "grid"


class FeatureRef(Ref):
    dataset: DatasetRef
    config: dict[str, Any]
    info: dict[str, Any] = {}


class DiscoveryRef(Ref):
    features: FeatureRef
    config: dict[str, Any]


class SurrogateRef(Ref):
    """A trained PINN ensemble: ``surrogates/<key>`` (model card, predictions, history) and its
    members' weights; open it with ``physforge.pinn.ensemble.SurrogateEnsemble.load``."""

    dataset: DatasetRef
    config: dict[str, Any]
    members: list[str] = []
    info: dict[str, Any] = {}


class ReportRef(Ref):
    """A discovery report: ``reports/<key>`` holding the executed ``report.ipynb`` and
    ``report.html`` (their store URIs in ``ipynb`` and ``html``)."""

    discovery: DiscoveryRef
    ipynb: str
    html: str


class ForwardModelRef(Ref):
    """A PINN trained for a forward problem: ``solutions/<key>/model`` (weights.pt, model.json)."""

    problem: str
    name: str
    spec: dict[str, Any]
    architecture: dict[str, Any]
    training: dict[str, Any] = {}


class SolutionRef(Ref):
    """The solution of a forward problem: ``solutions/<key>`` (solution.zarr, model_card.json)."""

    model: ForwardModelRef
    errors: dict[str, Any] = {}


class MeasurementsRef(Ref):
    """Measurements of an active-design loop: ``measurements/<key>/manifest.json`` listing
    the windows, each a canonical dataset of its own (``datasets/<sha>``)."""

    datasets: list[DatasetRef]
    points: list[list[float]] = []


class WindowDiscoveryRef(Ref):
    """Discovery on all measurements of a loop: ``discoveries/<key>/result.json``, with the
    best model's summary for the loop's stopping rule."""

    measurements: MeasurementsRef
    config: dict[str, Any]
    best: dict[str, str] = {}
    structure: list[list[str]] = []
    confident: bool = False
    min_inclusion: float = 0.0


class ProposalRef(Ref):
    """Proposed measurements: ``proposals/<key>/table.zarr`` and ``table.csv`` (rank, design
    coordinates, acquisition, value, separates, expected_gain)."""

    config: dict[str, Any]
    inputs: list[str]
    rows: int
    dims: list[str]


__all__ += ["MeasurementsRef", "WindowDiscoveryRef", "ProposalRef"]
