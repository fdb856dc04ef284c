"""Weak-form features (WSINDy, Messenger & Bortz 2021): integrate the PDE against compactly
supported test functions so that derivatives land on the test function, not on noisy data.

For a test function φ vanishing with its derivatives at the edge of its support,
``∫ φ ∂^α m(u) = (-1)^|α| ∫ (∂^α φ) m(u)`` and ``∫ φ u_t = -∫ φ_t u``. The library is therefore
the set of conservative terms ``∂^α m`` — a monomial ``m`` of the fields under a spatial
derivative ``α`` — which holds every equation in conservation form (``u u_x = ½ (u²)_x``).
Each column is mapped back to strong-form terms with sympy, so results use the usual grammar.

Test functions are separable piecewise polynomials ``(1 - s²)^p`` with a support of about
``2m+1`` grid points per axis, centred on a tensor grid of overlapping centres. They are
evaluated on the data's actual nodes, uniform or not, and integrated with quadrature weights on
those nodes; the integrals are contracted axis by axis with small (centres × nodes) matrices,
so a 3-D field costs a few matrix products, not an N-D convolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy
import xarray as xr
from numpy.polynomial import polynomial as P

from physforge.datasets.canonical import space_dims, time_dim
from physforge.discovery.derivatives import is_uniform
from physforge.discovery.featureset import FeatureSet
from physforge.discovery.library import library_monomials, library_variables, monomial_values
from physforge.discovery.noise import estimate_noise, looks_periodic
from physforge.discovery.terms import multi_indices, term_string, to_sympy
from physforge.errors import DataValidationError

__all__ = [
    "WeakForm",
    "weak_features",
    "expand_conservative",
    "axis_tests",
    "product_matrices",
    "separable_integrals",
]


@dataclass(frozen=True)
class WeakForm:
    """Test-function settings: support half-widths as fractions of each axis, and degree."""

    support_time: float = 0.12
    support_space: float = 0.1
    degree: int = 0  # 0: chosen from the derivative order (order + 2)
    overlap: float = 0.5  # centre stride as a fraction of the support half-width
    max_rows: int = 4000


@dataclass(frozen=True)
class AxisTests:
    """Test functions along one axis, sampled on its actual nodes.

    ``matrices[k][c, j]`` is ``w_j · d^k φ_c(x_j)``: the quadrature weight of node j times the
    k-th derivative of the test function centred at ``centres[c]``; the integral of
    ``d^k φ_c · f`` over the axis is ``matrices[k] @ f``.
    """

    centres: np.ndarray
    half_width: float  # in coordinate units
    half_points: int  # the half-width in (mean) grid steps
    matrices: list[np.ndarray]


def axis_tests(
    coord: np.ndarray,
    fraction: float,
    min_half: int,
    p: int,
    max_order: int,
    overlap: float,
    periodic: bool,
    name: str,
    points: int = 2,
) -> AxisTests:
    """Test functions ``(1 - s²)^p``, ``s = (x - c) / L``, along one axis with support half-width
    ``L = m h̄`` (``m = max(round(fraction · n), min_half)`` mean steps h̄), centres ``overlap · m``
    steps apart and, on a non-periodic axis, supports inside the sampled span.

    A uniform axis samples φ on the nodes and sums with the trapezoid rule, which is accurate
    to high order here because φ vanishes with its derivatives at the edge of its support
    (Euler–Maclaurin). A non-uniform axis keeps its nodes and uses product integration
    (:func:`product_matrices`): φ is integrated exactly against the local interpolant of the
    data (of ``points - 1`` degree), so only the data's own resolution limits the integral.
    Centres whose support holds fewer nodes than a uniform grid's with ``m = min_half`` are
    dropped.
    """
    x = np.asarray(coord, dtype=float)
    n = x.size
    m = max(int(round(fraction * n)), min_half)
    if 2 * m + 1 > n:
        raise DataValidationError(
            f"axis {name!r} has {n} points; the weak form needs more than {2 * m + 1}"
        )
    uniform = is_uniform(x)
    periodic = periodic and uniform  # a non-uniform axis has no known period
    h = (x[-1] - x[0]) / (n - 1)
    L = m * h
    stride = max(1, int(round(overlap * m)))
    if periodic:
        centres = x[::stride]
    else:
        count = int(np.floor((n - 1 - 2 * m) / stride + 1e-9)) + 1
        centres = x[0] + L + stride * h * np.arange(count)
    s = x[None, :] - centres[:, None]
    if periodic:
        s = (s + n * h / 2) % (n * h) - n * h / 2
    s = s / L
    keep = (np.abs(s) < 1.0 - 1e-9).sum(axis=1) >= 2 * min_half - 1  # nodes strictly inside
    if not keep.any():
        raise DataValidationError(
            f"axis {name!r}: no test-function support of width {2 * L:.4g} holds "
            f"{2 * min_half - 1} samples; the grid is too sparse there for the weak form"
        )
    centres, s = centres[keep], s[keep]
    if not uniform:
        return AxisTests(centres, L, m, product_matrices(x, centres, L, p, max_order, points))
    weights = np.full(n, h)
    if not periodic:
        weights[[0, -1]] = h / 2
    matrices = [_bump(s, p, k) * weights / L**k for k in range(max_order + 1)]
    return AxisTests(centres, L, m, matrices)


def _bump(s: np.ndarray, p: int, k: int) -> np.ndarray:
    """d^k/ds^k (1 - s²)^p inside |s| < 1, zero outside."""
    coef = P.polypow([1.0, 0.0, -1.0], p)
    for _ in range(k):
        coef = P.polyder(coef)
    return np.where(np.abs(s) < 1.0, P.polyval(s, coef), 0.0)


def product_matrices(
    x: np.ndarray, centres: np.ndarray, L: float, p: int, max_order: int, points: int = 2
) -> list[np.ndarray]:
    """``M_k[c, j] = ∫ φ_c^(k)(ξ) ℓ_j(ξ) dξ`` on a non-uniform axis: ``ℓ_j`` are the basis
    functions of the piecewise interpolant of degree ``points - 1`` through the nodes ``x``
    (on each interval, the ``points`` nearest nodes), so ``M_k @ f`` integrates φ^(k) against
    the interpolated data exactly (Gauss–Legendre on every piece between nodes and support
    edges). Nothing is resampled; on smooth data the error is O(h^points)."""
    from scipy.sparse import csr_matrix

    n = x.size
    r = min(points, n)
    cuts = np.concatenate([x, np.clip(np.concatenate([centres - L, centres + L]), x[0], x[-1])])
    cuts = np.unique(cuts)
    a, b = cuts[:-1], cuts[1:]
    q = p + (r + 1) // 2  # exact for φ^(k) (degree <= 2p) times the interpolant (degree r - 1)
    gx, gw = np.polynomial.legendre.leggauss(q)
    xg = (a[:, None] + b[:, None]) / 2 + (b - a)[:, None] / 2 * gx  # (pieces, q)
    wg = (b - a)[:, None] / 2 * gw
    interval = np.clip(np.searchsorted(x, (a + b) / 2) - 1, 0, n - 2)
    lo = np.clip(interval - (r // 2 - 1), 0, n - r)
    stencil = lo[:, None] + np.arange(r)  # (pieces, r)
    # Lagrange basis of each piece's stencil at its Gauss points, in scaled local coordinates
    origin, scale = x[interval], x[interval + 1] - x[interval]
    z = (x[stencil] - origin[:, None]) / scale[:, None]  # (pieces, r)
    zg = (xg - origin[:, None]) / scale[:, None]  # (pieces, q)
    V = z[:, :, None] ** np.arange(r)  # V[piece, j, k] = z_j^k
    powers = zg[:, :, None] ** np.arange(r)  # (pieces, q, k)
    basis = np.einsum("pqk,pkj->pqj", powers, np.linalg.inv(V))  # ℓ_j at the Gauss points
    B = csr_matrix(
        (
            basis.reshape(-1),
            (np.repeat(np.arange(xg.size), r), np.repeat(stencil, q, axis=0).reshape(-1)),
        ),
        shape=(xg.size, n),
    )
    s = (xg.reshape(-1)[None, :] - centres[:, None]) / L
    return [
        np.asarray((B.T @ (_bump(s, p, k) * wg.reshape(-1)).T).T) / L**k
        for k in range(max_order + 1)
    ]


def separable_integrals(
    arr: np.ndarray,
    axes: list[AxisTests],
    orders: list[int],
    memo: dict | None = None,
    key: object = None,
) -> np.ndarray:
    """``∫ (∂^orders φ_c) · arr`` for every centre c of the tensor grid of centres.

    Contracts one axis at a time with the small (centres × nodes) matrices of
    :class:`AxisTests` — never an N-D kernel — so the cost is that of one matrix product with
    the data plus ever smaller ones. ``memo`` (a dict) with ``key`` (naming ``arr``) shares
    the partial contractions between calls that agree on the leading axes' orders.
    """
    out = arr
    for i, k in enumerate(orders):
        prefix = (key, *orders[: i + 1])
        if memo is not None and prefix in memo:
            out = memo[prefix]
            continue
        # contract the leading axis; the centre axis goes last, so after every axis has been
        # contracted the axes are back in their order
        out = np.tensordot(out, axes[i].matrices[k], axes=([0], [1]))
        if memo is not None:
            memo[prefix] = out
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
    expr = expr.xreplace(
        {
            **{sympy.conjugate(sympy.Symbol(n)): conjs[n] for n in names},
            **{sympy.Symbol(n): funcs[n] for n in names},
        }
    )
    for a in axes:
        expr = sympy.diff(expr, sympy.Symbol(a))
    expr = sympy.expand(expr)
    subs = {}
    for d in expr.atoms(sympy.Derivative):
        base = d.expr.func.__name__
        name = base.removesuffix("__conj") + "_" + "".join(str(v) for v in d.variables)
        subs[d] = (
            sympy.conjugate(sympy.Symbol(name)) if base.endswith("__conj") else (sympy.Symbol(name))
        )
    expr = expr.xreplace(subs).xreplace(
        {
            **{conjs[n]: sympy.conjugate(sympy.Symbol(n)) for n in names},
            **{funcs[n]: sympy.Symbol(n) for n in names},
        }
    )
    out: dict[str, float] = {}
    for term in sympy.Add.make_args(sympy.expand(expr)):
        c, rest = term.as_coeff_Mul()
        key = "1" if rest == 1 else term_string(rest)
        out[key] = out.get(key, 0.0) + float(c)
    return out


def weak_features(
    ds: xr.Dataset,
    degree: int,
    order: int,
    include_bias: bool = True,
    form: WeakForm | None = None,
    seed: int = 0,
    coordinate_degree: int = 0,
    periodic: tuple[str, ...] | None = None,
):
    """Weak-form regression problem of a gridded dataset; returns a FeatureSet whose columns
    are conservative terms, with ``expansions`` mapping each to strong-form terms.

    Monomials come from :func:`physforge.discovery.library.library_monomials` (fields, their
    conjugates for complex fields, given variables, coordinate factors). Complex data give a
    complex FeatureSet (``info["complex"]``): the test functions are real, so every integral is
    the same linear map on complex values.

    Grids may be non-uniform on any axis: test functions are evaluated on the actual nodes and
    integrated with quadrature weights on them (:func:`axis_tests`), so nothing is resampled.
    ``periodic`` names the periodic axes (default: the ``periodic`` attribute, else detected).
    NaN samples (e.g. outside scattered points' hull) drop every test function touching them.
    """
    form = form or WeakForm()
    t, space = time_dim(ds), space_dims(ds)
    dims = [t, *space]
    for d in dims:
        if ds[d].size < 2:
            raise DataValidationError(
                f"coordinate {d!r} has {ds[d].size} value(s); the weak "
                "form needs samples along every axis"
            )
    lv = library_variables(ds, dims, coordinate_degree)
    fields = lv.fields
    missing = np.zeros(lv.factors[fields[0]].shape, dtype=bool)
    for v in lv.factors.values():
        missing |= np.isnan(v)
    if missing.any():
        for k in list(lv.factors):
            lv.factors[k] = np.where(missing, 0.0, lv.factors[k])
    values = {f: lv.factors[f] for f in fields}
    shape = values[fields[0]].shape
    declared = (
        list(periodic)
        if periodic is not None
        else [p for p in str(ds.attrs.get("periodic", "")).split(",") if p]
    )
    # coordinate factors (x**2*u) are not periodic: test functions then stay inside the domain;
    # given variables (a potential) must wrap around as the fields do
    periodic_axes = [False] + [
        not lv.coordinates
        and (
            (d in declared)
            if declared or periodic is not None
            else all(looks_periodic(v, i + 1) for v in lv.factors.values())
        )
        for i, d in enumerate(space)
    ]
    p = form.degree or order + 2
    nonuniform = [d for d in dims if not is_uniform(ds[d].values)]
    points = interpolation_points(values, 1 if space else 0) if nonuniform else 0
    axes = [
        axis_tests(
            ds[d].values,
            form.support_time if i == 0 else form.support_space,
            (order + 2) if i else 3,
            p,
            order if i else 1,
            form.overlap,
            periodic_axes[i],
            d,
            points,
        )
        for i, d in enumerate(dims)
    ]
    periodic_axes = [per and is_uniform(ds[d].values) for d, per in zip(dims, periodic_axes)]
    n_rows = int(np.prod([a.centres.size for a in axes]))

    # columns: monomials (degree 0..p) under spatial derivatives up to `order`; a monomial
    # without fields (1, x, x**2) only undifferentiated (its derivatives are such monomials)
    monomials = library_monomials(lv, degree, coordinate_degree)
    columns: list[tuple[str, str, tuple[str, ...]]] = []
    for mono, _powers, field_degree in monomials:
        if mono != "1" or include_bias:
            columns.append((mono, mono, ()))
        if field_degree == 0:
            continue
        for ax in multi_indices(space, order):
            columns.append((f"d_{''.join(ax)}({mono})", mono, ax))
    powers_of = {mono: powers for mono, powers, _ in monomials}
    # noise variance per real field, for unbiased powers (Gaussian noise, independent fields)
    variance = {
        f: 0.0
        if lv.complex or len(shape) < 2
        else (estimate_noise(values[f], axis=None) * float(np.std(values[f]))) ** 2
        for f in fields
    }

    theta = np.empty((n_rows, len(columns)), dtype=complex if lv.complex else float)
    # grouped by monomial, so its columns share partial contractions (one axis at a time)
    for mono in dict.fromkeys(c[1] for c in columns):
        arr = monomial_values(powers_of[mono], lv, shape, variance)
        memo: dict = {}
        for j, (_name, m, ax) in enumerate(columns):
            if m == mono:
                orders = [0] + [ax.count(d) for d in space]
                theta[:, j] = (-1.0) ** len(ax) * separable_integrals(
                    arr, axes, orders, memo, mono
                ).reshape(-1)
    target = np.stack(
        [-separable_integrals(values[f], axes, [1] + [0] * len(space)).reshape(-1) for f in fields],
        axis=1,
    )
    if missing.any():  # keep test functions whose support holds no missing sample
        touched = separable_integrals(missing.astype(float), axes, [0] * len(dims)).reshape(-1)
        keep = touched <= 1e-12 * float(np.abs(touched).max())
        if not keep.any():
            raise DataValidationError("every weak-form test function overlaps missing samples")
        theta, target, n_rows = theta[keep], target[keep], int(keep.sum())
    row_index = None if missing.any() else np.arange(n_rows)
    if n_rows > form.max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n_rows, form.max_rows, replace=False))
        theta, target = theta[rows], target[rows]
        row_index = None if row_index is None else rows
    expansions = {
        name: expand_conservative(mono, ax, tuple(space)) if ax else {mono: 1.0}
        for name, mono, ax in columns
    }
    info = {
        "derivatives_space": "weak",
        "derivatives_time": "weak",
        "weak_support_points": ",".join(str(2 * a.half_points + 1) for a in axes),
        "weak_degree": p,
        "periodic": ",".join(d for d, per in zip(dims, periodic_axes) if per),
        "n_grid_rows": int(np.prod(shape)),
        "row_shape": [int(a.centres.size) for a in axes],  # rows index this grid of centres
        "noise_estimate": 0.0
        if len(shape) < 2
        else max(float(estimate_noise(np.abs(values[f]), axis=None)) for f in fields),
    }
    if nonuniform:
        info["nonuniform_axes"] = ",".join(nonuniform)
        info["weak_interpolation"] = {2: "linear", 4: "cubic"}[points]
    if lv.complex:
        info["complex"] = True
    return FeatureSet(
        theta,
        target,
        [c[0] for c in columns],
        [f"{f}_{t}" for f in fields],
        info,
        row_index,
        expansions,
    )


def interpolation_points(values: dict[str, np.ndarray], axis: int) -> int:
    """Nodes per piece of the data interpolant on non-uniform axes: cubic (4) on nearly clean
    data, where resolution limits the integrals, linear (2) once the noise estimate passes 2 %.
    On uneven nodes the cubic pieces weight noise unevenly (negative lobes beside gaps): on
    irregular Burgers grids they doubled the noise in every weak-form column and lost the
    equation at 10 % noise, where the linear pieces kept it (docs/benchmarks.md)."""
    noise = max(
        estimate_noise(part, axis=axis)
        for v in values.values()
        for part in ((v.real, v.imag) if np.iscomplexobj(v) else (v,))
    )
    return 4 if noise < 0.02 else 2
