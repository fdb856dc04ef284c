"""2-D time-harmonic TE mode in Helmholtz form: ``∇²E_z + k² E_z + f = 0``, PEC walls ``E_z = 0``.

The source is manufactured so that ``E_z = sin(m π x̂) sin(n π ŷ)`` solves the problem (as in
DeepXDE's Helmholtz example, where k = m π = n π and f = k² sin(kx) sin(ky)).
"""

from __future__ import annotations

import math

import numpy as np

from physforge.pinn.problems.base import ClampedBox, Traits, scalar_conditions

__all__ = ["Maxwell"]


class Maxwell(ClampedBox):
    name = "maxwell"

    def inputs(self, spec):
        return ["x", "y"]

    def outputs(self, spec):
        return ["Ez"]

    def error_fields(self, spec):
        return ["Ez"]

    def _waves(self, spec):
        (x0, x1), (y0, y1) = spec.domain.box
        m, n = spec.source.modes
        return m * math.pi / (x1 - x0), n * math.pi / (y1 - y0), x0, y0

    def exact(self, spec):
        kx, ky, x0, y0 = self._waves(spec)

        def ez(X, xp=np):
            return xp.sin(kx * (X[:, 0:1] - x0)) * xp.sin(ky * (X[:, 1:2] - y0))

        return ez

    def pde(self, spec):
        import deepxde as dde
        import torch

        kx, ky, _, _ = self._waves(spec)
        k2 = spec.coefficients.wavenumber**2
        ez = self.exact(spec)

        def residual(x, y):
            f = (kx**2 + ky**2 - k2) * ez(x, torch)
            lap = dde.grad.hessian(y, x, i=0, j=0) + dde.grad.hessian(y, x, i=1, j=1)
            return lap + k2 * y + f

        return residual

    def conditions(self, spec, geom):
        return scalar_conditions(spec, geom, self.exact(spec))

    def traits(self, spec):
        kx, ky, _, _ = self._waves(spec)
        return Traits(
            space_frequency=max(kx, ky, spec.coefficients.wavenumber),
            notes=["oscillatory standing wave"],
        )
