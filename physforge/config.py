"""Configuration at the edge: pydantic models validated once where input enters."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["IngestConfig", "FeatureConfig", "DiscoveryConfig", "PipelineConfig"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestConfig(_Config):
    """Which variables are the time, space and field variables (auto-detected when None)."""

    time: str | None = Field(None, description="Name of the time coordinate.")
    space: list[str] | None = Field(None, description="Names of the space coordinates.")
    fields: list[str] | None = Field(None, description="Field variables to model.")


class FeatureConfig(_Config):
    """How derivatives and the candidate-term library are built."""

    derivatives: str = Field("auto", description="auto | finite-difference | spectral | poly")
    poly_degree: int = Field(2, ge=1, le=5, description="Max degree of field monomials.")
    derivative_order: int = Field(3, ge=1, le=4, description="Max spatial derivative order.")
    include_bias: bool = Field(True, description="Include the constant term '1'.")
    max_rows: int = Field(20000, ge=100, description="Rows sampled from the grid for regression.")
    seed: int = 0


class DiscoveryConfig(_Config):
    """Sparse regression, model selection and uncertainty."""

    backend: str = Field("stlsq", description="Regression backend: stlsq | sr3.")
    criterion: Literal["mstls", "aic", "aicc", "bic"] = Field(
        "mstls",
        description="Model selection score. mstls: residual added over the full least-squares "
        "fit plus the fraction of terms used (robust when derivative errors are correlated); "
        "aic/aicc/bic use an effective sample size from the residual's autocorrelation.",
    )
    n_thresholds: int = Field(40, ge=2, le=500)
    n_bootstrap: int = Field(30, ge=0, le=1000, description="Bootstrap resamples for CIs.")
    top_k: int = Field(3, ge=1, le=20, description="Candidate equations kept per lhs.")
    seed: int = 0


class PipelineConfig(_Config):
    ingest: IngestConfig = IngestConfig()
    features: FeatureConfig = FeatureConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()
