"""What every problem family shares: sine modes, side predicates, boundary conditions from a spec.

Array code here takes ``xp`` (``numpy`` or ``torch``) so one formula serves the reference solution
(NumPy) and the PDE residual or hard-constraint transform (torch, inside DeepXDE).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from physforge.pinn.problems.spec import BoundarySpec, SineModes

__all__ = [
    "Traits",
    "ProblemFamily",
    "sine_modes",
    "box_bubble",
    "side_predicate",
    "scalar_conditions",
    "constant",
    "exact_component",
    "all_zero_dirichlet",
    "geometry",
    "time_factor",
]

AXIS_OF_SIDE = {"left": (0, 0), "right": (0, 1), "bottom": (1, 0), "top": (1, 1)}


@dataclass
class Traits:
    """What the automatic architecture choice looks at."""

    space_frequency: float = 0.0  # largest angular frequency in space, rad per unit length
    time_frequency: float = 0.0  # largest angular frequency in time, rad per unit time
    sharp_front: bool = False  # thin layers / shocks (small viscosity)
    corner_singularity: bool = False
    singular_points: list[tuple[float, ...]] = field(default_factory=list)  # e.g. lid corners
    linear: bool = True  # linear PDE operator
    time_saturation: float = 0.0  # k of the saturating time factor (0: τ^p), see ScalarTransient
    notes: list[str] = field(default_factory=list)


class ProblemFamily(Protocol):
    """One forward-problem family: geometry, residual, conditions, reference."""

    name: str

    def inputs(self, spec) -> list[str]: ...
    def outputs(self, spec) -> list[str]: ...
    def error_fields(self, spec) -> list[str]: ...
    def pde(self, spec) -> Callable: ...
    def conditions(self, spec, geom) -> list: ...
    def hard_transform(self, spec, time_saturation: float = 0.0) -> Callable | None: ...
    def reference(self, spec, points: np.ndarray) -> np.ndarray | None: ...
    def traits(self, spec) -> Traits: ...


def sine_modes(X, modes: SineModes, box, xp=np):
    """``Σ a Π sin(n π (x - x0) / L)`` over the space columns of X (time, if any, last)."""
    total = 0.0
    for amp, m in zip(modes.amplitudes, modes.modes):
        term = amp
        for i, (n, (a, b)) in enumerate(zip(m, box)):
            term = term * xp.sin(n * math.pi * (X[:, i : i + 1] - a) / (b - a))
        total = total + term
    return total


def mode_eigenvalues(modes: SineModes, box) -> list[float]:
    """``λ_k = Σ_i (n_ki π / L_i)²``: the Laplacian eigenvalue of each mode."""
    return [sum((n * math.pi / (b - a)) ** 2 for n, (a, b) in zip(m, box)) for m in modes.modes]


def box_bubble(X, box):
    """``Π 4 (x - a)(b - x) / L²``: zero on the box boundary, one at its centre."""
    d = 1.0
    for i, (a, b) in enumerate(box):
        d = d * 4.0 * (X[:, i : i + 1] - a) * (b - X[:, i : i + 1]) / (b - a) ** 2
    return d


def constant(value: float) -> Callable:
    """A DeepXDE condition function returning ``value`` at every point."""

    def func(X):
        return np.full((len(X), 1), value)

    return func


def along_side(side: str, box, profile: str, value: float) -> Callable:
    """A DeepXDE condition function for ``value`` shaped by ``profile`` along a 2-D side:
    ``uniform``, or ``parabolic`` = ``value · 4 s (1 − s)`` with ``s ∈ [0, 1]`` along it."""
    if profile == "uniform" or value == 0.0:
        return constant(value)
    axis = 1 - AXIS_OF_SIDE[side][0]  # the coordinate that runs along the side
    lo, hi = box[axis]

    def func(X):
        s = (X[:, axis : axis + 1] - lo) / (hi - lo)
        return value * 4.0 * s * (1.0 - s)

    return func


def exact_component(exact: Callable, component: int) -> Callable:
    """A DeepXDE condition function returning one component of the exact solution."""

    def func(X):
        return exact(X)[:, component : component + 1]

    return func


def side_predicate(side: str, box) -> Callable:
    axis, end = AXIS_OF_SIDE[side]
    value = box[axis][end]

    def on_side(x, on_boundary):
        return bool(on_boundary) and bool(np.isclose(x[axis], value))

    return on_side


def all_zero_dirichlet(boundary: dict[str, BoundarySpec], exact_is_zero: bool = False) -> bool:
    """True when every side is a homogeneous Dirichlet condition."""
    for bc in boundary.values():
        if bc.kind != "dirichlet":
            return False
        vals = bc.values(1)
        if vals is None:
            if not exact_is_zero:
                return False
        elif any(v != 0.0 for v in vals):
            return False
    return True


def geometry(spec):
    """The DeepXDE geometry (× time for transient specs)."""
    import deepxde as dde

    box = spec.domain.box
    if spec.domain.dim == 1:
        geom = dde.geometry.Interval(*box[0])
    else:
        geom = dde.geometry.Rectangle([box[0][0], box[1][0]], [box[0][1], box[1][1]])
    if spec.transient:
        geom = dde.geometry.GeometryXTime(geom, dde.geometry.TimeDomain(*spec.time))
    return geom


def scalar_conditions(spec, geom, exact: Callable | None, component: int = 0) -> list:
    """DeepXDE boundary conditions for a scalar field, one per side (periodic: one per pair)."""
    import deepxde as dde

    box = spec.domain.box
    bcs: list[Any] = []
    done_periodic: set[int] = set()
    for side, bc in spec.boundary.items():
        axis = AXIS_OF_SIDE[side][0]
        if bc.kind == "periodic":
            if axis in done_periodic:
                continue
            done_periodic.add(axis)
            a, b = box[axis]

            def on_pair(x, on_b, axis=axis, a=a, b=b):
                return bool(on_b) and bool(np.isclose(x[axis], a) or np.isclose(x[axis], b))

            bcs.append(dde.icbc.PeriodicBC(geom, axis, on_pair, component=component))
            continue
        vals = bc.values(1)
        if vals is None:
            if exact is None:
                raise ValueError(f"boundary.{side}.value: 'exact' needs an analytic solution")
            func = exact_component(exact, component)
        else:
            func = constant(vals[0])
        cls = dde.icbc.DirichletBC if bc.kind == "dirichlet" else dde.icbc.NeumannBC
        bcs.append(cls(geom, func, side_predicate(side, box), component=component))
    return bcs


def time_factor(tau, p: int, k: float = 0.0, xp=np):
    """``φ(τ)`` of a hard initial condition: ``φ(0) = 0`` with ``p - 1`` zero derivatives there,
    ``φ(1) = 1``. ``k = 0``: ``τ^p``. ``k > 0`` (``p = 2`` only):
    ``φ = (1 - exp(-k τ²)) / (1 - exp(-k))``, which grows like ``k τ²`` for ``k τ² < 1`` and
    saturates after that, so the network's correction stays of the order of the solution when
    the window holds many periods (with ``τ²`` it would have to output ``(cos ωt - 1) / τ²``,
    hundreds near ``t0`` for DeepXDE's wave_1d)."""
    if k <= 0:
        return tau**p
    if p != 2:
        raise ValueError(f"a saturating time factor needs time_power 2, got {p}")
    return (1 - xp.exp(-k * tau**2)) / (1 - math.exp(-k))


class ScalarTransient:
    """Shared by heat, wave and Burgers: one field ``u`` of (x[, y], t), sine-mode initial data.

    With homogeneous Dirichlet walls the conditions are imposed exactly:
    ``u = u0(x) + φ(τ) · bubble(x) · N(x, t)``, ``τ = (t - t0) / (t1 - t0)``, with
    ``φ = τ^p`` by default (:func:`time_factor`); ``p = 2`` also imposes ``u_t(x, t0) = 0``
    (wave).
    """

    name = "scalar"
    time_power = 1

    def inputs(self, spec):
        return ["x", "t"] if spec.domain.dim == 1 else ["x", "y", "t"]

    def outputs(self, spec):
        return ["u"]

    def error_fields(self, spec):
        return ["u"]

    def mode_in_time(self, spec, lam: float, t, xp):
        """The time factor of a sine mode with Laplacian eigenvalue ``lam``; None: no series."""
        return None

    def exact(self, spec):
        """The sine-mode series solution for homogeneous Dirichlet walls; None otherwise."""
        if not all_zero_dirichlet(spec.boundary) or self.mode_in_time(spec, 1.0, 0.0, np) is None:
            return None
        box, init, t0 = spec.domain.box, spec.initial, spec.time[0]
        lams = mode_eigenvalues(init, box)

        def u(X, xp=np):
            t = X[:, -1:] - t0
            total = 0.0
            for amp, m, lam in zip(init.amplitudes, init.modes, lams):
                one = SineModes(modes=[m], amplitudes=[amp])
                total = total + sine_modes(X, one, box, xp) * self.mode_in_time(spec, lam, t, xp)
            return total

        return u

    def initial_conditions(self, spec, geom) -> list:
        import deepxde as dde

        box, init = spec.domain.box, spec.initial
        return [dde.icbc.IC(geom, lambda X: sine_modes(X, init, box), lambda _, on_i: on_i)]

    def conditions(self, spec, geom):
        return scalar_conditions(spec, geom, self.exact(spec)) + self.initial_conditions(spec, geom)

    def hard_transform(self, spec, time_saturation: float = 0.0):
        if not all_zero_dirichlet(spec.boundary):
            return None
        box, init, (t0, t1) = spec.domain.box, spec.initial, spec.time
        p, k = self.time_power, time_saturation

        def transform(x, y):
            import torch

            tau = (x[:, -1:] - t0) / (t1 - t0)
            return (
                sine_modes(x, init, box, torch)
                + time_factor(tau, p, k, torch) * box_bubble(x, box) * y
            )

        return transform

    def reference(self, spec, points):
        u = self.exact(spec)
        return None if u is None else u(points)


class ClampedBox:
    """Shared by elasticity and Maxwell: a manufactured solution that vanishes on the walls,
    so zero Dirichlet conditions are imposed exactly by ``bubble(x) · N(x)``."""

    def exact(self, spec):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def hard_transform(self, spec, time_saturation: float = 0.0):
        if not all_zero_dirichlet(spec.boundary, exact_is_zero=True):
            return None
        box = spec.domain.box

        def transform(x, y):
            return box_bubble(x, box) * y

        return transform

    def reference(self, spec, points):
        if not all_zero_dirichlet(spec.boundary, exact_is_zero=True):
            return None
        return self.exact(spec)(points)
