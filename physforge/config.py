"""Configuration at the edge: pydantic models validated once where input enters."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["IngestConfig", "FeatureConfig", "DiscoveryConfig", "PipelineConfig", "SurrogateConfig"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestConfig(_Config):
    """Which variables are the time, space and field variables (auto-detected when None)."""

    time: str | None = Field(None, description="Name of the time coordinate.")
    space: list[str] | None = Field(None, description="Names of the space coordinates.")
    fields: list[str] | None = Field(None, description="Field variables to model.")
    given: list[str] = Field(
        [],
        description="Variables that enter the equation but are not "
        "modelled (a potential V, a forcing): library factors, no "
        "equation of their own. May span fewer dimensions than the "
        "fields (V(x)); they are broadcast over the grid.",
    )
    derivative_order: int = Field(
        3,
        ge=1,
        le=4,
        description="Highest spatial derivative "
        "order planned; each space axis needs 2*order+1 samples.",
    )
    data_roots: list[str] | None = Field(
        None,
        description="Folders or URL prefixes data may "
        "come from; default $PHYSFORGE_DATA_ROOTS, else any.",
    )


class FeatureConfig(_Config):
    """How derivatives and the candidate-term library are built."""

    derivatives: str = Field(
        "auto",
        description="auto (weak form where the grid allows; scattered data: weak-resampled) | "
        "weak | surrogate (autodiff of a PINN ensemble, trained on the data first) | "
        "auto-pointwise | meshfree-poly (moving least squares on scattered points) | "
        "weak-resampled (scattered points resampled onto a grid by MLS, then the weak form) | "
        "finite-difference | spectral | poly",
    )
    poly_degree: int = Field(3, ge=1, le=5, description="Max degree of field monomials.")
    coordinate_degree: int = Field(
        0,
        ge=0,
        le=4,
        description="Max degree of coordinate "
        "monomials (x, x**2, x*y, …) multiplying library terms; "
        "0: none (the equation does not depend on position).",
    )
    derivative_order: int = Field(4, ge=1, le=4, description="Max spatial derivative order.")
    include_bias: bool = Field(True, description="Include the constant term '1'.")
    max_rows: int = Field(20000, ge=100, description="Rows sampled from the grid for regression.")
    seed: int = 0

    @field_validator("derivatives")
    @classmethod
    def _known_derivatives(cls, value: str) -> str:
        from physforge.discovery.derivatives import derivative_choices

        if value not in (names := derivative_choices()):
            raise ValueError(
                f"unknown derivative method {value!r}; choose one of {', '.join(names)}"
            )
        return value


class DiscoveryConfig(_Config):
    """Sparse regression, model selection and uncertainty."""

    backend: str = Field(
        "stlsq", description="stlsq | sr3 | ensemble (bagging) | operon | pysr (symbolic)."
    )
    criterion: Literal["pareto", "mstls", "aic", "aicc", "bic"] = Field(
        "pareto",
        description="Model selection score. pareto: the sparsest model on the Pareto front "
        "whose residual is within `tolerance` of the full library's; mstls: residual added "
        "over the full least-squares fit plus the fraction of terms used (Messenger & Bortz); "
        "aic/aicc/bic: Gaussian likelihood with an effective sample size from the "
        "residual's autocorrelation.",
    )
    tolerance: float = Field(
        1.5, gt=1.0, description="pareto: admissible residual, as a multiple of the full fit's."
    )
    n_thresholds: int = Field(40, ge=2, le=500)
    sr_generations: int = Field(300, ge=1, description="Symbolic backends: generations.")
    sr_population: int = Field(1000, ge=10, description="Symbolic backends: population size.")
    n_bootstrap: int = Field(30, ge=0, le=1000, description="Bootstrap resamples for CIs.")
    top_k: int = Field(3, ge=1, le=20, description="Candidate equations kept per lhs.")
    seed: int = 0

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        from physforge.discovery.regression import backend_choices

        if value not in (names := backend_choices()):
            raise ValueError(
                f"unknown discovery backend {value!r}; choose one of {', '.join(names)}"
            )
        return value


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
        "none",
        description="Physics residual: none; a given PDE; a sparse candidate library "
        "with trainable coefficients (DeepMoD / PINN-SR style).",
    )
    pde: str | None = Field(
        None, description="The PDE for physics='pde', e.g. 'u_t = -1.0*u*u_x + 0.1*u_xx'."
    )
    physics_weight: float = Field(1.0, ge=0)
    collocation_points: int = Field(2000, ge=1)
    library_degree: int = Field(2, ge=1, le=4, description="Field monomial degree (library).")
    library_order: int = Field(2, ge=1, le=4, description="Spatial derivative order (library).")
    l1_weight: float = Field(1e-5, ge=0, description="L1 penalty on library coefficients.")
    sparsity_threshold: float = Field(
        0.05, ge=0, description="Library coefficients below this (in normalised units) are pruned."
    )
    sparsity_every: int = Field(1000, ge=1, description="Steps between sparsity updates.")
    checkpoint_every: int = Field(500, ge=1, description="Steps between checkpoints.")
    seed: int = 0
    dask_address: str | None = Field(
        None,
        description="Existing Dask scheduler; default "
        "$PHYSFORGE_DASK_ADDRESS, else a local (CUDA) cluster.",
    )
    n_workers: int | None = Field(None, ge=1, description="Workers of a local cluster.")
    device: Literal["auto", "cpu", "cuda"] = "auto"


# --- active experiment design (issue 6) -------------------------------------------------------
class ProposalConfig(_Config):
    """Where the next measurements may go and how they are chosen.

    A proposal is the centre of a measurement window (or a simulator parameter point);
    ``bounds`` and ``forbidden`` constrain the whole window. ``budget`` is the number of
    measurements that may still be added; each proposal round asks for ``batch_size``.
    """

    acquisition: Literal["discrimination", "equation-eig", "uncertainty", "gp-eig", "random"] = (
        Field(
            "discrimination",
            description="discrimination: where the top candidate equations, "
            "integrated forward, disagree most; equation-eig: expected information about the "
            "library coefficients (D-optimal) from the best model's forecast; uncertainty: "
            "surrogate ensemble spread; gp-eig: Gaussian-process expected information gain; "
            "random: the baseline.",
        )
    )
    design: Literal["sobol", "lhs"] = Field("sobol", description="Candidate design (scipy qmc).")
    n_candidates: int = Field(256, ge=1, le=100_000, description="Candidates scored per round.")
    bounds: dict[str, tuple[float, float]] | None = Field(
        None,
        description="Per dimension [lower, upper] that windows must stay in; default: "
        "the data's domain. Must lie inside the domain.",
    )
    forbidden: list[dict[str, tuple[float, float]]] = Field(
        [], description="Boxes no window may touch, e.g. [{'x': [0, 2], 't': [0, 5]}]."
    )
    budget: int = Field(20, ge=1, description="Measurements that may be added in all.")
    batch_size: int = Field(1, ge=1, description="Measurements proposed per round.")
    top_models: int = Field(
        3,
        ge=1,
        le=20,
        description="Ranked equations compared "
        "(discrimination), besides the best one with each term dropped.",
    )
    penalty_length: float = Field(
        1.0,
        ge=0.0,
        description="Batch spread: picks closer than "
        "this many windows to another pick or measurement are "
        "penalised (0: independent picks).",
    )
    seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> ProposalConfig:
        if self.batch_size > self.budget:
            raise ValueError(
                f"batch_size ({self.batch_size}) exceeds budget ({self.budget}); "
                "need budget >= batch_size > 0"
            )
        for name, (lo, hi) in (self.bounds or {}).items():
            if not lo < hi:
                raise ValueError(f"bounds.{name} = [{lo}, {hi}]: need lower < upper")
        for i, box in enumerate(self.forbidden):
            if not box:
                raise ValueError(f"forbidden[{i}] is empty; give [lower, upper] per dimension")
            for name, (lo, hi) in box.items():
                if not lo < hi:
                    raise ValueError(f"forbidden[{i}].{name} = [{lo}, {hi}]: need lower < upper")
                if self.bounds is not None and name not in self.bounds:
                    raise ValueError(
                        f"forbidden[{i}] names {name!r}, which is not in bounds "
                        f"{sorted(self.bounds)}"
                    )
        return self

    def within(self, domain: dict[str, tuple[float, float]]) -> ProposalConfig:
        """``self`` if its bounds and forbidden boxes fit the data's domain; else ConfigError."""
        from physforge.errors import ConfigError

        for name, (lo, hi) in (self.bounds or {}).items():
            if name not in domain:
                raise ConfigError(
                    f"bounds.{name}: {name!r} is not a dimension of the data {sorted(domain)}"
                )
            dlo, dhi = domain[name]
            if lo < dlo - 1e-9 or hi > dhi + 1e-9:
                raise ConfigError(
                    f"bounds.{name} = [{lo}, {hi}] lies outside the data's domain [{dlo}, {dhi}]"
                )
        for i, box in enumerate(self.forbidden):
            unknown = sorted(set(box) - set(domain))
            if unknown:
                raise ConfigError(
                    f"forbidden[{i}] names {unknown}, not dimensions of the data {sorted(domain)}"
                )
        return self


class LoopConfig(_Config):
    """The closed loop discover → propose → measure → ingest against a simulator oracle."""

    example: str = Field("burgers", description="Simulator: an example PDE generator.")
    simulation: dict[str, float | int] = Field(
        {"nt": 201}, description="Generator arguments (grid, horizon, coefficients)."
    )
    window: dict[str, int] = Field(
        {"t": 41, "x": 32}, description="Grid points per dimension of one measurement window."
    )
    resimulate: bool = Field(
        False,
        description="Integrate the example's equation again "
        "from its initial condition (complex-exact ETDRK4; for KdV).",
    )
    noise: float = Field(0.05, ge=0.0, description="Sensor noise, a fraction of the field std.")
    initial: int = Field(1, ge=1, description="Random measurements to start from.")
    threshold: float = Field(
        0.95,
        gt=0.0,
        le=1.0,
        description="Stop when every term of the "
        "best model has at least this inclusion probability ...",
    )
    confirm: int = Field(
        2,
        ge=1,
        description="... in this many consecutive rounds with the "
        "same structure (a model must survive new data: bootstrap inclusion "
        "probabilities of one round are over-confident on few windows).",
    )
    poly_degree: int = Field(2, ge=1, le=5)
    derivative_order: int = Field(3, ge=1, le=4)
    support: float = Field(
        0.25,
        gt=0.0,
        lt=0.5,
        description="Weak-form test-function half-width, a fraction of the window per axis.",
    )
    n_bootstrap: int = Field(30, ge=2, le=1000)
    proposal: ProposalConfig = ProposalConfig()
    seed: int = 0

    @model_validator(mode="after")
    def _window_points(self) -> LoopConfig:
        for name, n in self.window.items():
            if n < 7:
                raise ValueError(f"window.{name} = {n} grid points; the weak form needs >= 7")
        return self


__all__ += ["ProposalConfig", "LoopConfig"]


class PipelineConfig(_Config):
    """Ingestion, features and discovery settings of one discovery run."""

    ingest: IngestConfig = IngestConfig()
    features: FeatureConfig = FeatureConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()
    surrogate: SurrogateConfig = SurrogateConfig()

    @model_validator(mode="after")
    def _pointwise_for_symbolic(self) -> PipelineConfig:
        """Symbolic regression fits pointwise values: ``auto`` then means auto-pointwise."""
        if self.discovery.backend in ("operon", "pysr") and self.features.derivatives == "auto":
            feats = self.features.model_copy(update={"derivatives": "auto-pointwise"})
            object.__setattr__(self, "features", feats)
        return self
