"""Wave ``u_tt = c² ∇²u`` with ``u(x, 0)`` given and ``u_t(x, 0) = 0``; analytic standing waves."""

from __future__ import annotations

import math

from physforge.pinn.problems.base import (
    ScalarTransient,
    Traits,
    mode_eigenvalues,
)

__all__ = ["Wave"]


class Wave(ScalarTransient):
    name = "wave"
    time_power = 2  # u(x, t0) = u0 and u_t(x, t0) = 0 hold exactly through the τ² factor

    def pde(self, spec):
        import deepxde as dde

        c2, d = spec.coefficients.speed ** 2, spec.domain.dim

        def residual(x, y):
            lap = sum(dde.grad.hessian(y, x, i=i, j=i) for i in range(d))
            return dde.grad.hessian(y, x, i=d, j=d) - c2 * lap

        return residual

    def mode_in_time(self, spec, lam, t, xp):
        return xp.cos(spec.coefficients.speed * math.sqrt(lam) * t)

    def traits(self, spec):
        lam = max(mode_eigenvalues(spec.initial, spec.domain.box))
        return Traits(space_frequency=math.sqrt(lam),
                      time_frequency=spec.coefficients.speed * math.sqrt(lam),
                      notes=["undamped oscillation in time"])
