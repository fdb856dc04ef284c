"""The generalization suite's generators: the data satisfy their own PDE, and what is written
is what an experiment would record."""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy

from physforge.datasets.families import (
    FAMILIES,
    add_field_noise,
    observe,
    simulate_family,
    write_dataset,
)
from physforge.datasets.ingest import load_canonical


def _residual(sim) -> dict[str, float]:
    """|u_t - rhs| / |u_t| on the fine periodic grid: u_t by 4th-order central differences in
    time, space derivatives spectral, every term of the true equation evaluated with sympy."""
    space = list(sim.coords)
    axes = tuple(range(1, len(space) + 1))
    ks = np.meshgrid(
        *[2 * np.pi * np.fft.fftfreq(c.size, d=c[1] - c[0]) for c in sim.coords.values()],
        indexing="ij",
    )
    dt = sim.t[1] - sim.t[0]
    out = {}
    for lhs, terms in sim.truth.items():
        u = sim.fields[lhs.split("_")[0]]
        ut = (-u[4:] + 8 * u[3:-1] - 8 * u[1:-3] + u[:-4]) / (12 * dt)
        rhs = 0
        for term, c in terms.items():
            text = term.replace("abs(", "Abs(")
            names = sorted(set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)) - {"Abs"})
            syms = [sympy.Symbol(n) for n in names]
            expr = sympy.sympify(text, locals=dict(zip(names, syms)) | {"Abs": sympy.Abs})
            values = []
            for n in names:
                if n in sim.coords:
                    shape = [1] * (len(space) + 1)
                    shape[space.index(n) + 1] = -1
                    values.append(sim.coords[n].reshape(shape))
                elif n in sim.given:
                    values.append(sim.given[n][2:-2])
                else:
                    f, _, ax = n.partition("_")
                    v = sim.fields[f][2:-2]
                    if ax:
                        mult = np.prod([1j * ks[space.index(a)] for a in ax], axis=0)
                        d = np.fft.ifftn(np.fft.fftn(v, axes=axes) * mult, axes=axes)
                        v = d if np.iscomplexobj(v) else d.real
                    values.append(v)
            rhs = rhs + c * sympy.lambdify(syms, expr, "numpy")(*values)
        out[lhs] = float(np.linalg.norm(ut - rhs) / np.linalg.norm(ut))
    return out


TINY = {
    # a viscous front: real, 1-D
    "burgers": (
        {"length": 12.0, "modes": 1, "amplitude": 1.0, "nu": 0.2, "offset": 0.2, "t_end": 1.0},
        [64],
        201,
    ),
    # complex field in a harmonic potential (coordinate term) with a cubic nonlinearity
    "nls_harmonic": (
        {
            "a": 0.5,
            "q": 0.5,
            "b": 0.5,
            "width": 1.0,
            "shift": 0.8,
            "momentum": 0.3,
            "length": 20.0,
            "mode": "coordinate",
            "t_end": 0.5,
        },
        [64],
        201,
    ),
    # two fields in 2-D with a constant feed (a moderate Dv: u_t by differences in time must
    # resolve the fastest decaying mode of the check)
    "fitzhugh_nagumo": (
        {
            "Du": 1.0,
            "Dv": 2.0,
            "eps": 0.5,
            "b": 1.0,
            "feed": 0.1,
            "length": 15.0,
            "modes": 3,
            "t_end": 0.5,
        },
        [24, 20],
        101,
    ),
}


@pytest.mark.parametrize("family", sorted(TINY))
def test_generated_data_satisfy_their_equation(family):
    physics, n, saves = TINY[family]
    sim = simulate_family(family, physics, n, saves, seed=3)
    res = _residual(sim)
    assert set(res) == set(sim.truth)
    for lhs, r in res.items():
        assert r < 1e-5, f"{family} {lhs}: residual {r:.2e} of |u_t|"
    # a wrong coefficient is seen: the check is not blind
    wrong = {lhs: {t: 1.1 * c for t, c in terms.items()} for lhs, terms in sim.truth.items()}
    sim.truth = wrong
    assert min(_residual(sim).values()) > 1e-3


def test_observation_and_files(tmp_path):
    physics, n, saves = TINY["burgers"]
    sim = simulate_family("burgers", physics, n, (21 - 1) * 3 + 1, seed=3)
    rng = np.random.default_rng(0)
    grid = observe(
        sim, time_stride=3, irregular=True, crop=[0.75], offset=[0.5], scattered=None, rng=rng
    )
    assert grid.sizes == {"t": 21, "x": 48}
    dx, dt = np.diff(grid.x.values), np.diff(grid.t.values)
    assert dx.min() > 0 and dt.min() > 0 and dx.max() > 1.5 * dx.min()  # non-uniform
    # the values are exact samples of the fine solution
    ix = np.searchsorted(sim.coords["x"], grid.x.values)
    it = np.searchsorted(sim.t, grid.t.values)
    np.testing.assert_array_equal(grid.u.values, sim.fields["u"][np.ix_(it, ix)])
    noisy = add_field_noise(grid, ["u"], 0.1, np.random.default_rng(1))
    rel = float((noisy.u - grid.u).std() / grid.u.std())
    assert 0.08 < rel < 0.12
    path = str(tmp_path / "burgers.npz")
    write_dataset(noisy, path)
    with load_canonical(path) as ds:
        np.testing.assert_allclose(ds.x.values, grid.x.values)
        np.testing.assert_allclose(ds.u.values, noisy.u.values)
    points = observe(
        sim, time_stride=3, irregular=False, crop=[1.0], offset=[0.0], scattered=0.1, rng=rng
    )
    path = str(tmp_path / "burgers.csv")
    write_dataset(points, path)
    with load_canonical(path) as ds:
        assert ds.sizes == {"point": round(0.1 * 21 * 64)}


def test_every_family_has_a_draw():
    rng = np.random.default_rng(0)
    assert len(FAMILIES) >= 10
    for fam in FAMILIES.values():
        for dims in fam.dims:
            assert isinstance(fam.draw(rng, dims), dict)
