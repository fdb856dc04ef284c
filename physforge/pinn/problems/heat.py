"""Heat / diffusion ``u_t = α ∇²u`` on an interval or rectangle; analytic sine-mode reference."""

from __future__ import annotations

import math

from physforge.pinn.problems.base import (
    ScalarTransient,
    Traits,
    mode_eigenvalues,
)

__all__ = ["Heat"]


class Heat(ScalarTransient):
    name = "heat"

    def pde(self, spec):
        import deepxde as dde

        alpha, d = spec.coefficients.diffusivity, spec.domain.dim

        def residual(x, y):
            lap = sum(dde.grad.hessian(y, x, i=i, j=i) for i in range(d))
            return dde.grad.jacobian(y, x, i=0, j=d) - alpha * lap

        return residual

    def mode_in_time(self, spec, lam, t, xp):
        return xp.exp(-spec.coefficients.diffusivity * lam * t)

    def traits(self, spec):
        lams = mode_eigenvalues(spec.initial, spec.domain.box)
        return Traits(
            space_frequency=math.sqrt(max(lams)),
            notes=["diffusion damps high modes; smooth solution"],
        )
