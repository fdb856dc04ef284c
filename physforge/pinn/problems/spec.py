"""Forward-problem specs: pydantic models per problem family, a union on ``problem``.

A spec mirrors DeepXDE's shape — geometry (``domain``, ``time``), physics (``coefficients``),
conditions (``boundary``, ``initial``) — plus optional ``architecture`` / ``training``
overrides of the automatic choice and the ``evaluation`` grid. ``load_spec`` validates a
YAML file or a dict once, at the edge, and turns every refusal into a :class:`ConfigError`
whose message names the field (``boundary.top``, ``coefficients.viscosity``, ``domain``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from physforge.errors import ConfigError

__all__ = [
    "Interval",
    "Rectangle",
    "BoundarySpec",
    "SineModes",
    "ArchitectureSpec",
    "TrainingSpec",
    "EvaluationSpec",
    "HeatSpec",
    "WaveSpec",
    "BurgersSpec",
    "NavierStokesSpec",
    "ElasticitySpec",
    "MaxwellSpec",
    "ProblemSpec",
    "load_spec",
    "spec_errors",
]

SIDES_1D = ("left", "right")
SIDES_2D = ("left", "right", "bottom", "top")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# geometry ------------------------------------------------------------------------------------
def _bounds(name: str, v: tuple[float, float]) -> None:
    if not v[1] > v[0]:
        raise ValueError(f"{name}: upper bound must exceed lower bound, found {list(v)}")


class Interval(_Model):
    """1-D domain ``[x0, x1]`` (``dde.geometry.Interval``)."""

    shape: Literal["interval"]
    x: tuple[float, float]

    @property
    def dim(self) -> int:
        return 1

    @property
    def box(self) -> list[tuple[float, float]]:
        return [self.x]

    @model_validator(mode="after")
    def _check(self) -> Interval:
        _bounds("x", self.x)
        return self


class Rectangle(_Model):
    """2-D domain ``[x0, x1] × [y0, y1]`` (``dde.geometry.Rectangle``)."""

    shape: Literal["rectangle"]
    x: tuple[float, float]
    y: tuple[float, float]

    @property
    def dim(self) -> int:
        return 2

    @property
    def box(self) -> list[tuple[float, float]]:
        return [self.x, self.y]

    @model_validator(mode="after")
    def _check(self) -> Rectangle:
        _bounds("x", self.x)
        _bounds("y", self.y)
        return self


Domain = Annotated[Interval | Rectangle, Field(discriminator="shape")]


# conditions ----------------------------------------------------------------------------------
class BoundarySpec(_Model):
    """A condition on one side. ``value``: a number, one number per constrained component
    (``[u, v]`` for flow, ``[ux, uy]`` for elasticity), or ``exact`` (the reference solution)."""

    kind: Literal["dirichlet", "neumann", "periodic"] = "dirichlet"
    value: float | list[float] | Literal["exact"] = 0.0
    profile: Literal["uniform", "parabolic"] = Field(
        "uniform",
        description="How the value varies along the side: 'uniform', or "
        "'parabolic' (value × 4 s (1 − s), s ∈ [0, 1] along the side: zero at the corners, "
        "e.g. PINNacle's NS2d-C lid u = 4 x (1 − x)).",
    )

    def values(self, n: int) -> list[float] | None:
        """The value per component, or None for ``exact``."""
        if self.value == "exact":
            return None
        return list(self.value) if isinstance(self.value, list) else [float(self.value)] * n


class SineModes(_Model):
    """``Σ_k a_k Π_i sin(n_ki π (x_i - x0_i) / L_i)``: sine modes of the box (zero on its walls)."""

    kind: Literal["sine"] = "sine"
    modes: list[list[Annotated[int, Field(ge=1)]]] = Field(min_length=1)
    amplitudes: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> SineModes:
        if len(self.modes) != len(self.amplitudes):
            raise ValueError(
                f"modes and amplitudes differ in length ({len(self.modes)} vs "
                f"{len(self.amplitudes)})"
            )
        return self


# architecture and training overrides -----------------------------------------------------------
class ArchitectureSpec(_Model):
    """Overrides of the automatic architecture choice; None = let PhysForge choose."""

    width: int | None = Field(None, ge=2, le=1024)
    depth: int | None = Field(None, ge=1, le=16, description="Hidden layers.")
    activation: Literal["tanh", "sin", "silu", "gelu"] | None = None
    fourier_features: bool | None = None
    fourier_count: int | None = Field(None, ge=1, le=512)
    fourier_scale: PositiveFloat | None = None
    hard_constraints: bool | None = None
    time_saturation: NonNegativeFloat | None = Field(
        None,
        description="k of the saturating time factor of a hard wave initial condition (0: τ²).",
    )


class TrainingSpec(_Model):
    """Overrides of the automatic training choice; None = let PhysForge choose."""

    adam_steps: int | None = Field(None, ge=0)
    learning_rate: PositiveFloat | None = None
    lbfgs_steps: int | None = Field(None, ge=0)
    n_domain: int | None = Field(None, ge=1)
    n_boundary: int | None = Field(None, ge=0)
    n_initial: int | None = Field(None, ge=0)
    n_corner: int | None = Field(None, ge=0, description="Points clustered at singular corners.")
    rar: bool | None = Field(None, description="Residual-based adaptive refinement.")
    rar_rounds: int | None = Field(None, ge=0)
    rar_points: int | None = Field(None, ge=1, description="Points added per RAR round.")
    loss_weights: list[PositiveFloat] | None = None
    checkpoint_every: int = Field(1000, ge=1)
    seed: int = 0


class EvaluationSpec(_Model):
    resolution: int = Field(101, ge=2, le=2001, description="Grid points per space axis.")
    time_steps: int = Field(51, ge=2, le=2001, description="Grid points in time.")


class _Base(_Model):
    name: str = Field("problem", pattern=r"^[A-Za-z0-9._-]+$")
    description: str = ""
    architecture: ArchitectureSpec = ArchitectureSpec()
    training: TrainingSpec = TrainingSpec()
    evaluation: EvaluationSpec = EvaluationSpec()

    # filled by subclasses
    domain: Interval | Rectangle
    boundary: dict[str, BoundarySpec]
    if TYPE_CHECKING:
        problem: str  # each subclass's Literal discriminator

    @property
    def transient(self) -> bool:
        return getattr(self, "time", None) is not None

    @property
    def sides(self) -> tuple[str, ...]:
        return SIDES_1D if self.domain.dim == 1 else SIDES_2D

    def _check_boundary(self, components: int = 1, kinds: tuple[str, ...] | None = None) -> None:
        missing = [s for s in self.sides if s not in self.boundary]
        if missing:
            raise ValueError(
                f"boundary.{missing[0]}: missing — the {self.domain.shape} domain needs a "
                f"condition on each of {', '.join(self.sides)}; found {sorted(self.boundary)}"
            )
        extra = [s for s in self.boundary if s not in self.sides]
        if extra:
            raise ValueError(
                f"boundary.{extra[0]}: unknown side for a {self.domain.shape} domain "
                f"(sides: {', '.join(self.sides)})"
            )
        for side, bc in self.boundary.items():
            if bc.profile != "uniform" and self.problem != "navier_stokes":
                raise ValueError(
                    f"boundary.{side}.profile: {bc.profile!r} is supported for navier_stokes "
                    f"only; {self.problem} takes uniform values"
                )
            if kinds and bc.kind not in kinds:
                raise ValueError(
                    f"boundary.{side}.kind: {bc.kind!r} is not supported for {self.problem} "
                    f"(supported: {', '.join(kinds)})"
                )
            if isinstance(bc.value, list) and len(bc.value) != components:
                raise ValueError(
                    f"boundary.{side}.value: expected {components} value(s), one per "
                    f"constrained component, found {len(bc.value)}"
                )
        for a, b in (("left", "right"), ("bottom", "top")):
            if a in self.boundary and b in self.boundary:
                if (self.boundary[a].kind == "periodic") != (self.boundary[b].kind == "periodic"):
                    raise ValueError(f"boundary.{a}: periodic must be set on both {a} and {b}")

    def _check_time(self) -> None:
        t = getattr(self, "time", None)
        if t is not None and not t[1] > t[0]:
            raise ValueError(f"time: end must exceed start, found {list(t)}")

    def _check_dimension(self, dimension: int) -> None:
        if self.domain.dim != dimension:
            want = "interval" if dimension == 1 else "rectangle"
            raise ValueError(
                f"domain: {self.problem} with dimension {dimension} needs a {want} domain, "
                f"found {self.domain.shape} ({self.domain.dim}-D)"
            )

    def _check_modes(self, modes: SineModes, where: str) -> None:
        for k, m in enumerate(modes.modes):
            if len(m) != self.domain.dim:
                raise ValueError(
                    f"{where}.modes[{k}]: expected {self.domain.dim} mode number(s), one per "
                    f"space axis of the {self.domain.shape}, found {len(m)}"
                )


class _TransientScalar(_Base):
    """A scalar field on an interval or rectangle with sine-mode initial data."""

    domain: Domain
    time: tuple[float, float]
    initial: SineModes
    boundary: dict[str, BoundarySpec]

    @model_validator(mode="after")
    def _check(self):
        self._check_dimension(self.dimension)
        self._check_time()
        self._check_modes(self.initial, "initial")
        self._check_boundary(1)
        return self


class _Steady2D(_Base):
    """A steady problem on a rectangle; ``components`` values per boundary condition."""

    dimension: Literal[2] = 2
    domain: Domain
    boundary: dict[str, BoundarySpec]

    @model_validator(mode="after")
    def _check(self):
        self._check_dimension(self.dimension)
        self._check_boundary(self._components(), kinds=("dirichlet",))
        return self

    def _components(self) -> int:
        return 1


class HeatCoefficients(_Model):
    diffusivity: PositiveFloat = Field(description="α in u_t = α ∇²u.")


class HeatSpec(_TransientScalar):
    """Heat / diffusion ``u_t = α ∇²u`` (1-D or 2-D, transient)."""

    problem: Literal["heat"]
    dimension: Literal[1, 2] = 1
    coefficients: HeatCoefficients


class WaveCoefficients(_Model):
    speed: PositiveFloat = Field(description="c in u_tt = c² ∇²u.")


class WaveSpec(_TransientScalar):
    """Wave ``u_tt = c² ∇²u`` (1-D or 2-D), ``u(x, 0)`` from ``initial`` and ``u_t(x, 0) = 0``."""

    problem: Literal["wave"]
    dimension: Literal[1, 2] = 1
    coefficients: WaveCoefficients


class BurgersCoefficients(_Model):
    viscosity: PositiveFloat = Field(description="ν in u_t + u u_x = ν u_xx.")


class BurgersSpec(_TransientScalar):
    """Viscous Burgers ``u_t + u u_x = ν u_xx`` (1-D)."""

    problem: Literal["burgers"]
    dimension: Literal[1] = 1
    coefficients: BurgersCoefficients


class FlowCoefficients(_Model):
    viscosity: PositiveFloat = Field(description="Kinematic viscosity ν = 1/Re (ρ = 1).")


class NavierStokesSpec(_Steady2D):
    """Steady incompressible Navier–Stokes (2-D): Kovasznay flow or the lid-driven cavity."""

    problem: Literal["navier_stokes"]
    flow: Literal["kovasznay", "cavity"]
    coefficients: FlowCoefficients

    def _components(self) -> int:
        return 2

    @model_validator(mode="after")
    def _check_flow(self) -> NavierStokesSpec:
        for side, bc in self.boundary.items():
            if self.flow == "cavity" and bc.value == "exact":
                raise ValueError(
                    f"boundary.{side}.value: 'exact' needs an analytic flow "
                    "(kovasznay); give [u, v] for the cavity"
                )
            if bc.profile != "uniform" and bc.value == "exact":
                raise ValueError(
                    f"boundary.{side}.profile: {bc.profile!r} shapes a given "
                    "value; 'exact' has its own"
                )
        return self


class ElasticityCoefficients(_Model):
    youngs_modulus: PositiveFloat
    poisson_ratio: float = Field(gt=-1.0, lt=0.5)


class ElasticitySpec(_Steady2D):
    """Linear elasticity, 2-D plane stress, body force from a manufactured displacement field."""

    problem: Literal["elasticity"]
    coefficients: ElasticityCoefficients
    body_force: Literal["manufactured"] = "manufactured"

    def _components(self) -> int:
        return 2


class MaxwellCoefficients(_Model):
    wavenumber: PositiveFloat = Field(description="k in ∇²E_z + k² E_z = -f.")


class ManufacturedSource(_Model):
    """Source chosen so that ``E_z = sin(m π x̂) sin(n π ŷ)`` is the solution."""

    kind: Literal["manufactured"] = "manufactured"
    modes: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]]


class MaxwellSpec(_Steady2D):
    """2-D time-harmonic TE mode (Helmholtz form) for ``E_z`` with PEC walls (``E_z = 0``)."""

    problem: Literal["maxwell"]
    coefficients: MaxwellCoefficients
    source: ManufacturedSource


ProblemSpec = Annotated[
    HeatSpec | WaveSpec | BurgersSpec | NavierStokesSpec | ElasticitySpec | MaxwellSpec,
    Field(discriminator="problem"),
]
_ADAPTER: TypeAdapter = TypeAdapter(ProblemSpec)
_UNION_MEMBERS = {"interval", "rectangle", "float", "list[float]", "literal['exact']"}
_TAGS = {"heat", "wave", "burgers", "navier_stokes", "elasticity", "maxwell"}


def spec_errors(exc: ValidationError) -> list[str]:
    """``field: message`` lines from a pydantic error, the union's tag left out of the path."""
    lines = []
    for e in exc.errors():
        loc = [str(p) for p in e["loc"]]
        if loc and loc[0] in _TAGS:
            loc = loc[1:]
        loc = [p for p in loc if p not in _UNION_MEMBERS]
        msg = e["msg"].removeprefix("Value error, ")
        if isinstance(e.get("input"), (int, float, str)) and e["type"] != "value_error":
            msg += f", found {e['input']!r}"
        if e["type"] == "union_tag_invalid" and not loc:
            loc = ["problem"]
        where = ".".join(loc)
        # our own validators already start their message with the field path
        lines.append(
            msg
            if not where or msg.startswith(where) or (not loc and ":" in msg)
            else f"{where}: {msg}"
        )
    return lines


def load_spec(source: str | Path | dict[str, Any] | BaseModel) -> Any:
    """A validated problem spec from a YAML path, a YAML string, a dict or a spec model."""
    if isinstance(source, BaseModel):
        source = source.model_dump(mode="json")
    if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and source.endswith((".yaml", ".yml"))
    ):
        path = Path(source)
        if not path.exists():
            raise ConfigError(f"spec file {path} does not exist")
        text, origin = path.read_text(), str(path)
    elif isinstance(source, str):
        text, origin = source, "spec"
    else:
        text, origin = None, "spec"
    if text is not None:
        try:
            source = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{origin}: not valid YAML ({exc})") from exc
    if not isinstance(source, dict):
        raise ConfigError(
            f"{origin}: expected a mapping with a 'problem' field, found {type(source).__name__}"
        )
    if "problem" not in source:
        raise ConfigError(f"{origin}: problem: missing — one of {', '.join(sorted(_TAGS))}")
    try:
        return _ADAPTER.validate_python(source)
    except ValidationError as exc:
        lines = spec_errors(exc)
        raise ConfigError(f"{origin} is refused:\n  " + "\n  ".join(lines)) from None


def box_lengths(spec) -> list[float]:
    return [b - a for a, b in spec.domain.box]


def max_angular_frequency(modes: SineModes, spec) -> float:
    """Largest spatial angular frequency n π / L over the modes and axes."""
    lengths = box_lengths(spec)
    return max(n * math.pi / L for m in modes.modes for n, L in zip(m, lengths))
