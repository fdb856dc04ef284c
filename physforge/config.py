"""Configuration at the edge: pydantic models validated once where input enters."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["IngestConfig", "FeatureConfig", "DiscoveryConfig", "PipelineConfig",
           "SurrogateConfig"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestConfig(_Config):
    """Which variables are the time, space and field variables (auto-detected when None)."""

    time: str | None = Field(None, description="Name of the time coordinate.")
    space: list[str] | None = Field(None, description="Names of the space coordinates.")
    fields: list[str] | None = Field(None, description="Field variables to model.")
    derivative_order: int = Field(3, ge=1, le=4, description="Highest spatial derivative "
                                  "order planned; each space axis needs 2*order+1 samples.")
    data_roots: list[str] | None = Field(None, description="Folders or URL prefixes data may "
                                         "come from; default $PHYSFORGE_DATA_ROOTS, else any.")


class FeatureConfig(_Config):
    """How derivatives and the candidate-term library are built."""

    derivatives: str = Field(
        "auto",
        description="auto (weak form where the grid allows) | weak | auto-pointwise | "
        "finite-difference | spectral | poly",
    )
    poly_degree: int = Field(3, ge=1, le=5, description="Max degree of field monomials.")
    derivative_order: int = Field(4, ge=1, le=4, description="Max spatial derivative order.")
    include_bias: bool = Field(True, description="Include the constant term '1'.")
    max_rows: int = Field(20000, ge=100, description="Rows sampled from the grid for regression.")
    seed: int = 0


class DiscoveryConfig(_Config):
    """Sparse regression, model selection and uncertainty."""

    backend: str = Field("stlsq", description="Regression backend: stlsq | sr3.")
    criterion: Literal["pareto", "mstls", "aic", "aicc", "bic"] = Field(
        "pareto",
        description="Model selection score. pareto: the sparsest model on the Pareto front "
        "whose residual is within `tolerance` of the full library's; mstls: residual added "
        "over the full least-squares fit plus the fraction of terms used (Messenger & Bortz); aic/aicc/bic: "
        "Gaussian likelihood with an effective sample size from the residual's autocorrelation.",
    )
    tolerance: float = Field(
        1.5, gt=1.0, description="pareto: admissible residual, as a multiple of the full fit's."
    )
    n_thresholds: int = Field(40, ge=2, le=500)
    n_bootstrap: int = Field(30, ge=0, le=1000, description="Bootstrap resamples for CIs.")
    top_k: int = Field(3, ge=1, le=20, description="Candidate equations kept per lhs.")
    seed: int = 0


class PipelineConfig(_Config):
    ingest: IngestConfig = IngestConfig()
    features: FeatureConfig = FeatureConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()


class SurrogateConfig(_Config):
    """A PINN surrogate ensemble: network, optimisers, physics regularisation, execution.

    ``dask_address``, ``n_workers`` and ``device`` choose where members run and never change
    the result, so they stay out of the surrogate's store key (a retry on another cluster
    resumes the same checkpoints).
    """

    members: int = Field(3, ge=1, le=64, description="Ensemble size K.")
    bootstrap: bool = Field(False, description="Train each member on a bootstrap resample.")
    network: Literal["fnn", "resnet", "fourier"] = "fnn"
    width: int = Field(64, ge=2, le=4096)
    depth: int = Field(4, ge=1, le=64)
    activation: str = "tanh"
    fourier_features: int = Field(32, ge=1, le=4096)
    fourier_sigma: float = Field(1.0, gt=0)
    adam_steps: int = Field(5000, ge=0, description="Adam iterations.")
    learning_rate: float = Field(1e-3, gt=0)
    lbfgs_steps: int = Field(500, ge=0, description="L-BFGS iterations after Adam.")
    batch_size: int | None = Field(None, ge=1, description="Adam mini-batch; None = full batch.")
    max_points: int = Field(20000, ge=10, description="Data points used (random subsample).")
    physics: Literal["none", "pde", "library"] = Field(
        "none", description="Physics residual: none; a given PDE; a sparse candidate library "
        "with trainable coefficients (DeepMoD / PINN-SR style).")
    pde: str | None = Field(None, description="The PDE for physics='pde', e.g. "
                            "'u_t = -1.0*u*u_x + 0.1*u_xx'.")
    physics_weight: float = Field(1.0, ge=0)
    collocation_points: int = Field(2000, ge=1)
    library_degree: int = Field(2, ge=1, le=4, description="Field monomial degree (library).")
    library_order: int = Field(2, ge=1, le=4, description="Spatial derivative order (library).")
    l1_weight: float = Field(1e-5, ge=0, description="L1 penalty on library coefficients.")
    sparsity_threshold: float = Field(0.05, ge=0, description="Library coefficients below "
                                      "this (in normalised units) are pruned.")
    sparsity_every: int = Field(1000, ge=1, description="Steps between sparsity updates.")
    checkpoint_every: int = Field(500, ge=1, description="Steps between checkpoints.")
    seed: int = 0
    dask_address: str | None = Field(None, description="Existing Dask scheduler; default "
                                     "$PHYSFORGE_DASK_ADDRESS, else a local (CUDA) cluster.")
    n_workers: int | None = Field(None, ge=1, description="Workers of a local cluster.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
