"""Linear elasticity, 2-D plane stress (Navier–Cauchy form), with a manufactured displacement.

``μ ∇²u + (λ* + μ) ∇(∇·u) + f = 0`` with ``μ = E / (2 (1 + ν))`` and the plane-stress
``λ* = E ν / (1 - ν²)``. The body force ``f`` is the operator applied to the manufactured field
``u_x = sin(π x̂) sin(π ŷ)``, ``u_y = ½ sin(2π x̂) sin(π ŷ)`` (x̂, ŷ scaled to the unit box), so
that field is the exact solution with clamped (zero-displacement) edges.
"""

from __future__ import annotations

import math

import numpy as np

from physforge.pinn.problems.base import (
    ClampedBox,
    Traits,
    constant,
    exact_component,
    side_predicate,
)

__all__ = ["Elasticity"]


def lame(spec) -> tuple[float, float]:
    e, nu = spec.coefficients.youngs_modulus, spec.coefficients.poisson_ratio
    return e * nu / (1 - nu**2), e / (2 * (1 + nu))


class Elasticity(ClampedBox):
    name = "elasticity"

    def inputs(self, spec):
        return ["x", "y"]

    def outputs(self, spec):
        return ["ux", "uy"]

    def error_fields(self, spec):
        return ["ux", "uy"]

    def exact(self, spec):
        """The manufactured displacement (kept in step with ``exact_hessian`` in ``pde``)."""
        (x0, x1), (y0, y1) = spec.domain.box

        def u(X, xp=np):
            xh = math.pi * (X[:, 0:1] - x0) / (x1 - x0)
            yh = math.pi * (X[:, 1:2] - y0) / (y1 - y0)
            ux = xp.sin(xh) * xp.sin(yh)
            uy = 0.5 * xp.sin(2 * xh) * xp.sin(yh)
            return xp.cat([ux, uy], 1) if xp.__name__ == "torch" else np.hstack([ux, uy])

        return u

    def pde(self, spec):
        import deepxde as dde
        import torch

        lam, mu = lame(spec)

        def navier(h):
            """The two Navier–Cauchy components from second derivatives h(c, i, j)."""
            fx = mu * (h(0, 0, 0) + h(0, 1, 1)) + (lam + mu) * (h(0, 0, 0) + h(1, 0, 1))
            fy = mu * (h(1, 0, 0) + h(1, 1, 1)) + (lam + mu) * (h(0, 0, 1) + h(1, 1, 1))
            return fx, fy

        (x0, x1), (y0, y1) = spec.domain.box
        kx, ky = math.pi / (x1 - x0), math.pi / (y1 - y0)

        def exact_hessian(x):
            """Second derivatives of the manufactured field, in closed form."""
            X, Y = x[:, 0:1] - x0, x[:, 1:2] - y0
            ux = torch.sin(kx * X) * torch.sin(ky * Y)
            uy = 0.5 * torch.sin(2 * kx * X) * torch.sin(ky * Y)
            d = {
                (0, 0, 0): -(kx**2) * ux,
                (0, 1, 1): -(ky**2) * ux,
                (0, 0, 1): kx * ky * torch.cos(kx * X) * torch.cos(ky * Y),
                (1, 0, 0): -4 * kx**2 * uy,
                (1, 1, 1): -(ky**2) * uy,
                (1, 0, 1): kx * ky * torch.cos(2 * kx * X) * torch.cos(ky * Y),
            }
            return lambda c, i, j: d[c, min(i, j), max(i, j)]

        def residual(x, y):
            src = navier(exact_hessian(x))
            net = navier(lambda c, i, j: dde.grad.hessian(y, x, component=c, i=i, j=j))
            return [net[0] - src[0], net[1] - src[1]]

        return residual

    def conditions(self, spec, geom):
        import deepxde as dde

        box, exact, bcs = spec.domain.box, self.exact(spec), []
        for side, bc in spec.boundary.items():
            vals = bc.values(2)
            for c in range(2):
                func = exact_component(exact, c) if vals is None else constant(vals[c])
                bcs.append(dde.icbc.DirichletBC(geom, func, side_predicate(side, box), component=c))
        return bcs

    def traits(self, spec):
        (x0, x1), _ = spec.domain.box
        return Traits(space_frequency=2 * math.pi / (x1 - x0), notes=["coupled vector field"])
