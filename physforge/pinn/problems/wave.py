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

    def time_factor(self, spec, tau, xp):
        """``τ²`` when the window holds less than one period of the fastest mode; otherwise
        ``φ = (1 - exp(-k τ²)) / (1 - exp(-k))``, ``k = (ω Δt)² / 2``, which is ``≈ (ω t)² / 2``
        for ``ω t < 1`` and saturates after that. With ``τ²`` the network would have to output
        ``(cos ωt - 1) / τ² ≈ (ω Δt)² / 2`` near ``t0`` (hundreds for DeepXDE's wave_1d);
        with ``φ`` it stays of the order of the amplitudes. ``φ(0) = φ'(0) = 0`` as before."""
        k = self._stiffness(spec)
        if k is None:
            return tau**2
        return (1 - xp.exp(-k * tau**2)) / (1 - math.exp(-k))

    def _stiffness(self, spec) -> float | None:
        w_dt = self.traits(spec).time_frequency * (spec.time[1] - spec.time[0])
        return None if w_dt < 2 * math.pi else w_dt**2 / 2

    def mode_in_time(self, spec, lam, t, xp):
        return xp.cos(spec.coefficients.speed * math.sqrt(lam) * t)

    def traits(self, spec):
        lam = max(mode_eigenvalues(spec.initial, spec.domain.box))
        return Traits(space_frequency=math.sqrt(lam),
                      time_frequency=spec.coefficients.speed * math.sqrt(lam),
                      notes=["undamped oscillation in time"])
