"""What a candidate-term library is built from, for the strong and the weak form alike.

* the modelled fields (each gives a target ``u_t``) and, for a complex field, its conjugate
  ``conj(u)``: monomials in ``u`` and ``conj(u)`` hold every term of a complex polynomial PDE
  (``u**2*conj(u)`` is ``abs(u)**2*u``);
* given variables: dataset variables that enter the equation but are not modelled (a potential
  ``V``, a forcing), named at ingest (``--given V``) and marked in the dataset's attributes;
* coordinate monomials ``x**a*y**b`` up to ``coordinate_degree`` (``x**2*u``).

A library monomial is a product of a field monomial (fields, conjugates and given variables,
total degree up to ``degree``) and a coordinate monomial. Complex regression problems are
solved as real ones by :func:`realify` (least squares on complex numbers is least squares on
their real and imaginary parts).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import xarray as xr

from physforge.datasets.canonical import field_names, given_names, is_complex
from physforge.discovery.terms import canonical_name, conj_name

__all__ = [
    "LibraryVariables",
    "library_variables",
    "library_monomials",
    "monomial_values",
    "modelled_fields",
    "realify",
]


def modelled_fields(ds: xr.Dataset) -> list[str]:
    """The fields whose time derivatives are the regression targets."""
    given = set(given_names(ds))
    return [f for f in field_names(ds) if f not in given]


@dataclass
class LibraryVariables:
    """Values on the grid (dims ``(t, space…)``) of every library factor."""

    fields: list[str]  # modelled: targets and derivative factors
    factors: dict[str, np.ndarray]  # fields, conj(fields), given (and their conjugates)
    coordinates: dict[str, np.ndarray]  # coordinate name -> its values broadcast on the grid
    complex: bool

    def conjugated(self, name: str) -> str | None:
        """``conj(u)`` for a complex ``u`` among the factors, else None."""
        c = conj_name(name)
        return c if c in self.factors else None


def library_variables(
    ds: xr.Dataset, dims: list[str], coordinate_degree: int = 0
) -> LibraryVariables:
    fields = modelled_fields(ds)
    factors: dict[str, np.ndarray] = {}
    for name in [*fields, *given_names(ds)]:
        values = np.asarray(ds[name].transpose(*dims).values)
        factors[name] = values
        if np.iscomplexobj(values):
            factors[conj_name(name)] = np.conj(values)
    coordinates: dict[str, np.ndarray] = {}
    if coordinate_degree > 0:
        shape = factors[fields[0]].shape
        for i, d in enumerate(dims[1:], start=1):
            view = [1] * len(dims)
            view[i] = shape[i]
            coordinates[d] = np.broadcast_to(ds[d].values.reshape(view), shape)
    cplx = any(is_complex(ds[f]) for f in [*fields, *given_names(ds)])
    return LibraryVariables(fields, factors, coordinates, cplx)


def library_monomials(
    lv: LibraryVariables, degree: int, coordinate_degree: int = 0
) -> list[tuple[str, dict[str, int], int]]:
    """(name, powers over factor and coordinate names, degree in the factors), the constant
    ``1`` first; names are canonical (``abs(u)**2*u`` whichever order the factors came in)."""
    factor_monos: list[dict[str, int]] = []
    for deg in range(degree + 1):
        for combo in itertools.combinations_with_replacement(list(lv.factors), deg):
            factor_monos.append({f: combo.count(f) for f in dict.fromkeys(combo)})
    coord_monos: list[dict[str, int]] = []
    for deg in range(coordinate_degree + 1):
        for combo in itertools.combinations_with_replacement(list(lv.coordinates), deg):
            coord_monos.append({c: combo.count(c) for c in dict.fromkeys(combo)})
    out: list[tuple[str, dict[str, int], int]] = []
    seen: set[str] = set()
    for fm in factor_monos:
        for cm in coord_monos:
            powers = {**fm, **cm}
            text = "*".join(n if p == 1 else f"{n}**{p}" for n, p in powers.items()) or "1"
            name = canonical_name(text)
            if name not in seen:
                seen.add(name)
                out.append((name, powers, sum(fm.values())))
    return out


def monomial_values(
    powers: dict[str, int],
    lv: LibraryVariables,
    shape: tuple[int, ...],
    variance: dict[str, float] | None = None,
) -> np.ndarray:
    """The monomial on the grid; with ``variance`` (noise variance per real field) each power
    is the unbiased estimate of the noise-free one (``noise.unbiased_power``)."""
    from physforge.discovery.noise import unbiased_power

    arr: np.ndarray = np.ones(shape, dtype=complex if lv.complex else float)
    for name, p in powers.items():
        values = lv.factors[name] if name in lv.factors else lv.coordinates[name]
        var = (variance or {}).get(name, 0.0)
        arr = arr * (unbiased_power(values, p, var) if var and not lv.complex else values**p)
    return arr if lv.complex else arr.real


def realify(fs):
    """A complex regression problem ``y ≈ Θ c`` as a real one: rows ``[Re; Im]``, and per
    complex coefficient two real ones, on ``Θ_j`` and on ``i Θ_j`` (column ``I*<name>``, whose
    expansion carries the factor ``1j``). Least squares is unchanged by this; sparsity then
    applies to the real and imaginary part of each coefficient separately."""
    from physforge.discovery.featureset import FeatureSet

    theta, target = fs.theta, fs.target
    top = np.hstack([theta.real, -theta.imag])
    bottom = np.hstack([theta.imag, theta.real])
    exp = fs.expansions or {t: {t: 1.0} for t in fs.terms}
    terms = [*fs.terms, *(f"I*{t}" for t in fs.terms)]
    expansions = {
        **{t: {k: complex(v) for k, v in exp[t].items()} for t in fs.terms},
        **{f"I*{t}": {k: 1j * complex(v) for k, v in exp[t].items()} for t in fs.terms},
    }
    row_index = None
    if fs.row_index is not None:  # the imaginary block is not a grid neighbour of the real one
        gap = int(fs.row_index.max()) + 2
        row_index = np.concatenate([fs.row_index, fs.row_index + gap])
    return FeatureSet(
        np.vstack([top, bottom]),
        np.vstack([target.real, target.imag]),
        terms,
        list(fs.lhs),
        {**fs.info, "complex": True},
        row_index,
        expansions,
    )
