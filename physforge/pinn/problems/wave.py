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

        c2, d = spec.coefficients.speed**2, spec.domain.dim

        def residual(x, y):
            lap = sum(dde.grad.hessian(y, x, i=i, j=i) for i in range(d))
            return dde.grad.hessian(y, x, i=d, j=d) - c2 * lap

        return residual

    def mode_in_time(self, spec, lam, t, xp):
        return xp.cos(spec.coefficients.speed * math.sqrt(lam) * t)

    def traits(self, spec):
        lam = max(mode_eigenvalues(spec.initial, spec.domain.box))
        omega = spec.coefficients.speed * math.sqrt(lam)
        w_dt = omega * (spec.time[1] - spec.time[0])
        # more than one period of the fastest mode in the window: saturating time factor,
        # k = (ω Δt)² / 2 so that φ ≈ (ω t)² / 2 until ω t ≈ 1 (see base.time_factor)
        return Traits(
            space_frequency=math.sqrt(lam),
            time_frequency=omega,
            time_saturation=w_dt**2 / 2 if w_dt >= 2 * math.pi else 0.0,
            notes=[
                "undamped oscillation in time",
                f"{w_dt / (2 * math.pi):.1f} periods of the fastest mode",
            ],
        )
