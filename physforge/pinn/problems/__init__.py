"""The library of forward problems: spec models and one family per PDE, chosen by name."""

from __future__ import annotations

from physforge.pinn.problems.base import ProblemFamily, Traits
from physforge.pinn.problems.burgers import Burgers
from physforge.pinn.problems.elasticity import Elasticity
from physforge.pinn.problems.heat import Heat
from physforge.pinn.problems.maxwell import Maxwell
from physforge.pinn.problems.navier_stokes import NavierStokes
from physforge.pinn.problems.spec import ProblemSpec, load_spec
from physforge.pinn.problems.wave import Wave

__all__ = ["PROBLEMS", "family", "load_spec", "ProblemSpec", "ProblemFamily", "Traits"]

PROBLEMS: dict[str, ProblemFamily] = {
    f.name: f for f in (Heat(), Wave(), Burgers(), NavierStokes(), Elasticity(), Maxwell())
}


def family(spec) -> ProblemFamily:
    """The family that solves ``spec`` (registry keyed by the spec's ``problem``)."""
    return PROBLEMS[spec.problem]
