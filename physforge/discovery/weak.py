"""Weak-form features (WSINDy, Messenger & Bortz 2021): integrate the PDE against compactly
supported test functions so that derivatives land on the test function, not on noisy data.

For a test function φ vanishing with its derivatives at the edge of its support,
``∫ φ ∂^α m(u) = (-1)^|α| ∫ (∂^α φ) m(u)`` and ``∫ φ u_t = -∫ φ_t u``. The library is therefore
the set of conservative terms ``∂^α m`` — a monomial ``m`` of the fields under a spatial
derivative ``α`` — which holds every equation in conservation form (``u u_x = ½ (u²)_x``).
Each column is mapped back to strong-form terms with sympy, so results use the usual grammar.

Test functions are separable piecewise polynomials ``(1 - s²)^p`` on ``2m+1`` grid points per
axis; the integrals over every centre are separable correlations of the data with the sampled
derivatives of φ, then sub-sampled to overlapping centres.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy
import xarray as xr
from numpy.polynomial import polynomial as P
from scipy.ndimage import correlate1d

from physforge.datasets.canonical import space_dims, time_dim
from physforge.discovery.derivatives import uniform_step
from physforge.discovery.featureset import FeatureSet
from physforge.discovery.library import library_monomials, library_variables, monomial_values
from physforge.discovery.noise import looks_periodic
from physforge.discovery.terms import multi_indices, term_string, to_sympy
from physforge.errors import DataValidationError

__all__ = ["WeakForm", "weak_features", "expand_conservative"]


@dataclass(frozen=True)
class WeakForm:
    """Test-function settings: support half-widths as fractions of each axis, and degree."""

    support_time: float = 0.12
    support_space: float = 0.1
    degree: int = 0  # 0: chosen from the derivative order (order + 2)
    overlap: float = 0.5  # centre stride as a fraction of the support half-width
    max_rows: int = 4000


def _test_function_derivatives(p: int, m: int, h: float, max_order: int) -> list[np.ndarray]:
    """Samples of d^k/dx^k (1 - s²)^p at s = j/m, j = -m..m, for k = 0..max_order."""
    base = P.polypow([1.0, 0.0, -1.0], p)  # (1 - s^2)^p in s
    s = np.arange(-m, m + 1) / m
    out = []
    coef = base
    for k in range(max_order + 1):
        out.append(P.polyval(s, coef) / (m * h) ** k)
        coef = P.polyder(coef)
    return out


@cache
def expand_conservative(monomial: str, axes: tuple[str, ...], coords: tuple[str, ...]) -> dict:
    """``∂^axes monomial`` as strong-form terms: ('u**2', ('x',)) → {'u*u_x': 2.0}.

    Coordinates in ``coords`` are differentiated as such (``∂_x (x u) = u + x u_x``); every
    other name is a function of them; ``conj(u)`` is the conjugate function
    (``∂_x abs(u)**2 = u*conj(u_x) + conj(u)*u_x``)."""
    expr = to_sympy(monomial).replace(sympy.Abs, lambda a: sympy.sqrt(a * sympy.conjugate(a)))
    X = [sympy.Symbol(c) for c in coords]
    names = sorted(s.name for s in expr.free_symbols if s.name not in coords)
    funcs = {n: sympy.Function(n)(*X) for n in names}
    conjs = {n: sympy.Function(f"{n}__conj")(*X) for n in names}
    expr = expr.xreplace({**{sympy.conjugate(sympy.Symbol(n)): conjs[n] for n in names},
                          **{sympy.Symbol(n): funcs[n] for n in names}})
    for a in axes:
        expr = sympy.diff(expr, sympy.Symbol(a))
    expr = sympy.expand(expr)
    subs = {}
    for d in expr.atoms(sympy.Derivative):
        base = d.expr.func.__name__
        name = base.removesuffix("__conj") + "_" + "".join(str(v) for v in d.variables)
        subs[d] = sympy.conjugate(sympy.Symbol(name)) if base.endswith("__conj") else (
            sympy.Symbol(name))
    expr = expr.xreplace(subs).xreplace(
        {**{conjs[n]: sympy.conjugate(sympy.Symbol(n)) for n in names},
         **{funcs[n]: sympy.Symbol(n) for n in names}})
    out: dict[str, float] = {}
    for term in sympy.Add.make_args(sympy.expand(expr)):
        c, rest = term.as_coeff_Mul()
        key = "1" if rest == 1 else term_string(rest)
        out[key] = out.get(key, 0.0) + float(c)
    return out


def weak_features(ds: xr.Dataset, degree: int, order: int, include_bias: bool = True,
                  form: WeakForm | None = None, seed: int = 0, coordinate_degree: int = 0):
    """Weak-form regression problem of a gridded dataset; returns a FeatureSet whose columns
    are conservative terms, with ``expansions`` mapping each to strong-form terms.

    Monomials come from :func:`physforge.discovery.library.library_monomials` (fields, their
    conjugates for complex fields, given variables, coordinate factors). Complex data give a
    complex FeatureSet (``info["complex"]``): the test functions are real, so every integral is
    the same linear map on complex values."""
    form = form or WeakForm()
    t, space = time_dim(ds), space_dims(ds)
    dims = [t, *space]
    lv = library_variables(ds, dims, coordinate_degree)
    fields = lv.fields
    values = {f: lv.factors[f] for f in fields}
    shape = values[fields[0]].shape
    steps = [uniform_step(ds[d].values, d) for d in dims]
    declared = [p for p in str(ds.attrs.get("periodic", "")).split(",") if p]
    # coordinate factors (x**2*u) are not periodic: test functions then stay inside the domain;
    # given variables (a potential) must wrap around as the fields do
    periodic = [False] + [
        not lv.coordinates and ((d in declared) if declared else all(
            looks_periodic(v, i + 1) for v in lv.factors.values()))
        for i, d in enumerate(space)
    ]
    p = form.degree or order + 2
    half = []
    for i, n in enumerate(shape):
        frac = form.support_time if i == 0 else form.support_space
        m = max(int(round(frac * n)), (order + 2) if i else 3)
        if 2 * m + 1 > n:
            raise DataValidationError(
                f"axis {dims[i]!r} has {n} points; the weak form needs more than {2 * m + 1}"
            )
        half.append(m)
    kernels = [_test_function_derivatives(p, m, h, order if i else 1)
               for i, (m, h) in enumerate(zip(half, steps))]
    dv = float(np.prod(steps))

    def integrate(arr: np.ndarray, orders: list[int]) -> np.ndarray:
        out = arr
        for ax, k in enumerate(orders):
            out = correlate1d(out, kernels[ax][k], axis=ax,
                              mode="wrap" if periodic[ax] else "constant")
        return out * dv

    # centres: interior on non-periodic axes, strided for overlap
    grids = []
    for i, n in enumerate(shape):
        stride = max(1, int(round(form.overlap * half[i])))
        lo, hi = (0, n) if periodic[i] else (half[i], n - half[i])
        grids.append(np.arange(lo, hi, stride))
    centres = np.ix_(*grids)
    n_rows = int(np.prod([g.size for g in grids]))

    # columns: monomials (degree 0..p) under spatial derivatives up to `order`; a monomial
    # without fields (1, x, x**2) only undifferentiated (its derivatives are such monomials)
    monomials = library_monomials(lv, degree, coordinate_degree)
    columns: list[tuple[str, str, tuple[str, ...]]] = []
    for mono, _powers, field_degree in monomials:
        if mono != "1" or include_bias:
            columns.append((mono, mono, ()))
        if field_degree == 0:
            continue
        for axes in multi_indices(space, order):
            columns.append((f"d_{''.join(axes)}({mono})", mono, axes))
    mono_values = {mono: monomial_values(powers, lv, shape) for mono, powers, _ in monomials}

    theta = np.empty((n_rows, len(columns)), dtype=complex if lv.complex else float)
    for j, (_name, mono, axes) in enumerate(columns):
        orders = [0] + [axes.count(d) for d in space]
        sign = (-1.0) ** len(axes)
        theta[:, j] = sign * integrate(mono_values[mono], orders)[centres].reshape(-1)
    target = np.stack(
        [-integrate(values[f], [1] + [0] * len(space))[centres].reshape(-1) for f in fields],
        axis=1,
    )
    rows = np.arange(n_rows)
    if n_rows > form.max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n_rows, form.max_rows, replace=False))
        theta, target = theta[rows], target[rows]
    expansions = {name: expand_conservative(mono, axes, tuple(space)) if axes else {mono: 1.0}
                  for name, mono, axes in columns}
    info = {
        "derivatives_space": "weak",
        "derivatives_time": "weak",
        "weak_support_points": ",".join(str(2 * m + 1) for m in half),
        "weak_degree": p,
        "periodic": ",".join(d for d, per in zip(dims, periodic) if per),
        "n_grid_rows": int(np.prod(shape)),
    }
    if lv.complex:
        info["complex"] = True
    return FeatureSet(theta, target, [c[0] for c in columns], [f"{f}_{t}" for f in fields],
                      info, None, expansions)
