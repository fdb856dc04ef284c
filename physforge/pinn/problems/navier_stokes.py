"""Steady incompressible Navier–Stokes (2-D): Kovasznay flow (analytic) and the lid-driven cavity.

Residuals: ``u·∇u + ∇p - ν ∇²u = 0`` and ``∇·u = 0`` for outputs (u, v, p). The cavity
reference is a second-order streamfunction–vorticity finite-difference solve run to steady
state (:func:`cavity_reference`), checked against Ghia, Ghia & Shin (1982) at Re = 100.
"""

from __future__ import annotations

import math

import numpy as np

from physforge.pinn.problems.base import (
    Traits,
    along_side,
    exact_component,
    side_predicate,
)

__all__ = ["NavierStokes", "kovasznay", "cavity_reference", "GHIA_RE100_U"]

# Ghia, Ghia & Shin (1982), Table I, Re = 100: u on the vertical centreline x = 0.5.
GHIA_RE100_U = {
    1.0: 1.0,
    0.9766: 0.84123,
    0.9688: 0.78871,
    0.9609: 0.73722,
    0.9531: 0.68717,
    0.8516: 0.23151,
    0.7344: 0.00332,
    0.6172: -0.13641,
    0.5: -0.20581,
    0.4531: -0.21090,
    0.2813: -0.15662,
    0.1719: -0.10150,
    0.1016: -0.06434,
    0.0703: -0.04775,
    0.0625: -0.04192,
    0.0547: -0.03717,
    0.0: 0.0,
}


def kovasznay(X, nu: float, xp=np):
    """Kovasznay (1948) flow: exact (u, v, p) for Re = 1/ν."""
    re = 1.0 / nu
    lam = re / 2 - math.sqrt(re**2 / 4 + 4 * math.pi**2)
    x, y = X[:, 0:1], X[:, 1:2]
    u = 1 - xp.exp(lam * x) * xp.cos(2 * math.pi * y)
    v = lam / (2 * math.pi) * xp.exp(lam * x) * xp.sin(2 * math.pi * y)
    p = 0.5 * (1 - xp.exp(2 * lam * x))
    return xp.cat([u, v, p], 1) if xp.__name__ == "torch" else np.hstack([u, v, p])


def cavity_reference(
    n: int,
    nu: float,
    lid: float = 1.0,
    length: float = 1.0,
    tol: float = 1e-7,
    max_steps: int = 200_000,
    profile: str = "uniform",
):
    """Steady lid-driven cavity on an n × n grid (walls included): returns x, y, u[y, x], v[y, x].

    Streamfunction–vorticity form: explicit vorticity transport (central differences,
    Thom's wall vorticity) and a sparse-LU Poisson solve for ψ each step. The lid moves at
    ``lid`` (``profile="uniform"``, Ghia et al.'s set-up) or at ``lid · 4 s (1 − s)``
    (``"parabolic"``, PINNacle's NS2d-C), ``s = x / length``.
    """
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    h = length / (n - 1)
    m = n - 2
    lap1 = sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(m, m)) / h**2
    eye = sp.identity(m)
    solve = spla.factorized((sp.kron(eye, lap1) + sp.kron(lap1, eye)).tocsc())
    psi = np.zeros((n, n))  # [j (y), i (x)]
    w = np.zeros((n, n))
    s = np.linspace(0.0, 1.0, n)
    lid_u = lid * (4.0 * s * (1.0 - s) if profile == "parabolic" else np.ones(n))
    dt = min(0.2 * h * h / nu, 0.5 * h / max(abs(lid), 1e-12))
    for step in range(max_steps):
        # wall vorticity (Thom); the lid is the top row j = n-1
        w[0, :] = -2 * psi[1, :] / h**2
        w[-1, :] = -2 * psi[-2, :] / h**2 - 2 * lid_u / h
        w[:, 0] = -2 * psi[:, 1] / h**2
        w[:, -1] = -2 * psi[:, -2] / h**2
        u = (psi[2:, 1:-1] - psi[:-2, 1:-1]) / (2 * h)
        v = -(psi[1:-1, 2:] - psi[1:-1, :-2]) / (2 * h)
        wx = (w[1:-1, 2:] - w[1:-1, :-2]) / (2 * h)
        wy = (w[2:, 1:-1] - w[:-2, 1:-1]) / (2 * h)
        lap = (w[1:-1, 2:] + w[1:-1, :-2] + w[2:, 1:-1] + w[:-2, 1:-1] - 4 * w[1:-1, 1:-1]) / h**2
        dw = dt * (-u * wx - v * wy + nu * lap)
        w[1:-1, 1:-1] += dw
        psi[1:-1, 1:-1] = solve((-w[1:-1, 1:-1]).ravel()).reshape(m, m)
        if step > 100 and np.abs(dw).max() / dt < tol:
            break
    u = np.zeros((n, n))
    v = np.zeros((n, n))
    u[1:-1, :] = (psi[2:, :] - psi[:-2, :]) / (2 * h)
    v[:, 1:-1] = -(psi[:, 2:] - psi[:, :-2]) / (2 * h)
    u[-1, :] = lid_u
    x = np.linspace(0, length, n)
    return x, x.copy(), u, v


class NavierStokes:
    name = "navier_stokes"

    def inputs(self, spec):
        return ["x", "y"]

    def outputs(self, spec):
        return ["u", "v", "p"]

    def error_fields(self, spec):
        return ["u", "v"]

    def exact(self, spec):
        if spec.flow != "kovasznay":
            return None
        nu = spec.coefficients.viscosity
        return lambda X, xp=np: kovasznay(X, nu, xp)

    def pde(self, spec):
        import deepxde as dde

        nu = spec.coefficients.viscosity

        def residual(x, y):
            u, v = y[:, 0:1], y[:, 1:2]
            u_x = dde.grad.jacobian(y, x, i=0, j=0)
            u_y = dde.grad.jacobian(y, x, i=0, j=1)
            v_x = dde.grad.jacobian(y, x, i=1, j=0)
            v_y = dde.grad.jacobian(y, x, i=1, j=1)
            p_x = dde.grad.jacobian(y, x, i=2, j=0)
            p_y = dde.grad.jacobian(y, x, i=2, j=1)
            u_lap = dde.grad.hessian(y, x, component=0, i=0, j=0) + dde.grad.hessian(
                y, x, component=0, i=1, j=1
            )
            v_lap = dde.grad.hessian(y, x, component=1, i=0, j=0) + dde.grad.hessian(
                y, x, component=1, i=1, j=1
            )
            return [
                u * u_x + v * u_y + p_x - nu * u_lap,
                u * v_x + v * v_y + p_y - nu * v_lap,
                u_x + v_y,
            ]

        return residual

    def conditions(self, spec, geom):
        import deepxde as dde

        box, exact, bcs = spec.domain.box, self.exact(spec), []
        for side, bc in spec.boundary.items():
            vals = bc.values(2)
            if vals is None and exact is None:
                raise ValueError(
                    f"boundary.{side}.value: 'exact' needs an analytic flow "
                    "(kovasznay); give [u, v] for the cavity"
                )
            for c in range(2):
                func = (
                    exact_component(exact, c)
                    if vals is None
                    else along_side(side, box, bc.profile, vals[c])
                )
                bcs.append(dde.icbc.DirichletBC(geom, func, side_predicate(side, box), component=c))
        if exact is not None:  # pressure fixed on the outlet, as in DeepXDE's Kovasznay example
            bcs.append(
                dde.icbc.DirichletBC(
                    geom, exact_component(exact, 2), side_predicate("right", box), component=2
                )
            )
        else:  # pressure gauge p = 0 at the bottom-left corner
            corner = np.array([[box[0][0], box[1][0]]])
            bcs.append(dde.icbc.PointSetBC(corner, np.zeros((1, 1)), component=2))
        return bcs

    def hard_transform(self, spec, time_saturation: float = 0.0):
        return None

    def _cavity_ok(self, spec):
        """The lid speed when the spec is the square cavity the reference solver knows."""
        b = spec.boundary
        (x0, x1), (y0, y1) = spec.domain.box
        if spec.flow != "cavity" or abs((x1 - x0) - (y1 - y0)) > 1e-12:
            return None
        if any(b[s].values(2) != [0.0, 0.0] for s in ("left", "right", "bottom")):
            return None
        top = b["top"].values(2)
        return None if top is None or top[1] != 0.0 else top[0]

    def _lid_profile(self, spec) -> str:
        return spec.boundary["top"].profile if "top" in spec.boundary else "uniform"

    def reference(self, spec, points):
        if spec.flow == "kovasznay":
            return self.exact(spec)(points)
        lid = self._cavity_ok(spec)
        if lid is None:
            return None
        (x0, x1), (y0, y1) = spec.domain.box
        n = spec.evaluation.resolution
        xs, ys, u, v = cavity_reference(
            n, spec.coefficients.viscosity, lid, x1 - x0, profile=self._lid_profile(spec)
        )
        i = np.clip(np.rint((points[:, 0] - x0) / (x1 - x0) * (n - 1)).astype(int), 0, n - 1)
        j = np.clip(np.rint((points[:, 1] - y0) / (y1 - y0) * (n - 1)).astype(int), 0, n - 1)
        out = np.full((len(points), 3), np.nan)
        out[:, 0], out[:, 1] = u[j, i], v[j, i]
        return out

    def traits(self, spec):
        (x0, x1), (y0, y1) = spec.domain.box
        re = max(x1 - x0, y1 - y0) / spec.coefficients.viscosity
        t = Traits(
            space_frequency=2 * math.pi / (y1 - y0)
            if spec.flow == "kovasznay"
            else math.pi / (x1 - x0),
            notes=[f"Reynolds number {re:.0f}"],
        )
        t.corner_singularity = spec.flow == "cavity"
        t.singular_points = self._moving_wall_corners(spec)
        t.linear = False
        return t

    def _moving_wall_corners(self, spec) -> list[tuple[float, float]]:
        """Corners where a wall with a non-zero tangential velocity meets another wall: the
        velocity jumps there (the lid corners of the cavity)."""
        (x0, x1), (y0, y1) = spec.domain.box
        ends = {
            "top": [(x0, y1), (x1, y1)],
            "bottom": [(x0, y0), (x1, y0)],
            "left": [(x0, y0), (x0, y1)],
            "right": [(x1, y0), (x1, y1)],
        }
        tangential = {"top": 0, "bottom": 0, "left": 1, "right": 1}
        corners: list[tuple[float, float]] = []
        for side, bc in spec.boundary.items():
            vals = bc.values(2)
            # a parabolic profile vanishes at the side's ends: no jump at its corners
            if vals is not None and vals[tangential[side]] != 0.0 and bc.profile == "uniform":
                corners += [c for c in ends[side] if c not in corners]
        return corners
