"""Viscous Burgers ``u_t + u u_x = ν u_xx``; reference by the Cole–Hopf transform (exact integral).

For sine-mode initial data with homogeneous Dirichlet walls the solution is the whole-line solution
of the odd periodic extension, which Cole–Hopf gives as
``u(x, t) = ∫ (η / t) w dη / ∫ w dη``, ``w = exp(-U0(x - η) / (2ν) - η² / (4νt))``, ``U0' = u0``,
evaluated by quadrature in log space (the exponents reach several hundred for ν = 0.01/π).
"""

from __future__ import annotations

import math

import numpy as np

from physforge.pinn.problems.base import ScalarTransient, Traits, all_zero_dirichlet, sine_modes

__all__ = ["Burgers", "burgers_cole_hopf"]


def _primitive(y, init, box):
    """U0(y) = ∫ u0 from the left wall to y (any constant works: it cancels)."""
    (a, b), total = box[0], 0.0
    for amp, m in zip(init.amplitudes, init.modes):
        k = m[0] * math.pi / (b - a)
        total = total - amp / k * np.cos(k * (y - a))
    return total


def burgers_cole_hopf(
    x: np.ndarray, t: np.ndarray, nu: float, init, box, n_quad: int = 4001
) -> np.ndarray:
    """u at points (x_i, t_i) by Cole–Hopf quadrature; t = 0 gives the initial condition."""
    x, t = np.asarray(x, float).ravel(), np.asarray(t, float).ravel()
    out = np.empty_like(x)
    umax = float(sum(abs(a) for a in init.amplitudes))
    for tv in np.unique(t):
        sel = t == tv
        xs = x[sel]
        if tv <= 0:
            out[sel] = sine_modes(xs[:, None], init, box)[:, 0]
            continue
        half = umax * tv + 12.0 * math.sqrt(2 * nu * tv)
        eta = np.linspace(-half, half, n_quad)
        expo = -_primitive(xs[:, None] - eta[None, :], init, box) / (2 * nu) - eta**2 / (
            4 * nu * tv
        )
        expo -= expo.max(axis=1, keepdims=True)
        w = np.exp(expo)
        out[sel] = np.trapezoid(eta / tv * w, eta, axis=1) / np.trapezoid(w, eta, axis=1)
    return out


class Burgers(ScalarTransient):
    name = "burgers"

    def pde(self, spec):
        import deepxde as dde

        nu = spec.coefficients.viscosity

        def residual(x, y):
            u_x = dde.grad.jacobian(y, x, i=0, j=0)
            u_t = dde.grad.jacobian(y, x, i=0, j=1)
            return u_t + y * u_x - nu * dde.grad.hessian(y, x, i=0, j=0)

        return residual

    def reference(self, spec, points):
        if not all_zero_dirichlet(spec.boundary):
            return None
        t = points[:, 1] - spec.time[0]
        u = burgers_cole_hopf(
            points[:, 0], t, spec.coefficients.viscosity, spec.initial, spec.domain.box
        )
        return u[:, None]

    def traits(self, spec):
        (a, b) = spec.domain.box[0]
        umax = sum(abs(v) for v in spec.initial.amplitudes)
        reynolds = umax * (b - a) / spec.coefficients.viscosity
        k = max(m[0] for m in spec.initial.modes) * math.pi / (b - a)
        return Traits(
            space_frequency=k,
            sharp_front=reynolds > 100,
            linear=False,
            notes=[f"Reynolds number U L / ν = {reynolds:.0f}"],
        )
