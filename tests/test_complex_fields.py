"""Complex fields, coordinate-dependent terms and given variables, from ingest to the CLI.

Tolerances: on clean data the weak form recovers these equations to ~1e-6 relative; tests
assert 1e-3 (coefficients) so that they hold on any BLAS. Libraries are kept small (poly degree
and derivative order stated per test) so each test runs in seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import sympy
import xarray as xr

from physforge.config import DiscoveryConfig, FeatureConfig, IngestConfig
from physforge.datasets.canonical import canonicalize
from physforge.datasets.examples import make_example
from physforge.datasets.ingest import ingest_dataset, open_dataset
from physforge.discovery.engine import discover_equations
from physforge.discovery.features import build_features
from physforge.discovery.terms import canonical_name, to_sympy
from physforge.discovery.weak import expand_conservative
from physforge.errors import DataValidationError
from physforge.storage_blocks.store import ArtifactStore

BIN = Path(sys.executable).parent
PDEFIND = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[2] / "shared" / "data" / "pdefind",
            Path("/work/shared/data/pdefind"),
        )
        if p.is_dir()
    ),
    Path("/work/shared/data/pdefind"),
)
NLS = {"u_xx": 0.5j, "u*abs(u)**2": 1j}


def _field(nt=24, nx=32):
    t = np.linspace(0.0, 1.0, nt)
    x = np.linspace(-1.0, 1.0, nx, endpoint=False)
    u = np.exp(1j * (x[None, :] - 2 * t[:, None])) * (1 + 0.1 * x[None, :] ** 2)
    return t, x, u


def _ingest(path, store_url, **cfg):
    ref, _ = ingest_dataset(str(path), ArtifactStore(store_url), IngestConfig(**cfg))
    return ref, open_dataset(ref)


def _check(eq, truth: dict[str, complex], rel: float) -> None:
    assert set(eq["terms"]) == set(truth), eq["rhs"]
    for term, value in truth.items():
        got = complex(*eq["terms"][term])
        assert abs(got - value) <= rel * abs(value), (term, got, eq["rhs"])


# --- grammar ------------------------------------------------------------------------------------
def test_complex_term_names_are_canonical_and_parse_with_sympy():
    assert canonical_name("u**2*conj(u)") == "u*abs(u)**2"
    assert canonical_name("conj(u)*u*u") == canonical_name("abs(u)**2*u")
    u = sympy.Symbol("u")
    assert to_sympy("u*abs(u)**2") == u * sympy.Abs(u) ** 2
    assert to_sympy("conj(u_x)") == sympy.conjugate(sympy.Symbol("u_x"))
    assert expand_conservative("u*abs(u)**2", ("x",), ("x",)) == {
        "u**2*conj(u_x)": 1.0,
        "u_x*abs(u)**2": 2.0,
    }
    assert expand_conservative("u*x**2", ("x",), ("x",)) == {"u_x*x**2": 1.0, "u*x": 2.0}
    assert expand_conservative("V*u", ("x", "x"), ("x",)) == {
        "V*u_xx": 1.0,
        "V_xx*u": 1.0,
        "V_x*u_x": 2.0,
    }


# --- ingest -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["mat", "mat73", "npz", "nc-netcdf4", "nc-h5netcdf", "h5"])
def test_complex_arrays_ingest_as_one_complex_field(tmp_path, store_url, fmt):
    t, x, u = _field()
    path = tmp_path / f"c.{fmt.split('-')[0].replace('mat73', 'mat')}"
    if fmt == "mat":
        scipy.io.savemat(path, {"usol": u.T, "x": x, "t": t})  # PDE-FIND's (x, t) layout
    elif fmt == "mat73":  # MATLAB v7.3: HDF5 behind a 512-byte header, arrays transposed
        pair = np.dtype([("real", "<f8"), ("imag", "<f8")])  # MATLAB's complex compound
        stored = np.empty(u.T.shape, pair)
        stored["real"], stored["imag"] = u.T.real, u.T.imag
        with h5py.File(path, "w", userblock_size=512) as f:
            f["u"], f["x"], f["t"] = stored.T, x[None, :].T, t[None, :].T
        with open(path, "r+b") as f:
            f.write(b"MATLAB 7.3 MAT-file, written by PhysForge tests".ljust(116, b" "))
            f.write(b"\x00" * 8 + b"\x00\x02IM")
    elif fmt == "npz":
        np.savez(path, u=u, x=x, t=t)
    elif fmt == "h5":
        with h5py.File(path, "w") as f:
            f["u"], f["x"], f["t"] = u, x, t
    else:
        ds = xr.Dataset({"u": (("t", "x"), u)}, coords={"t": t, "x": x})
        if fmt == "nc-netcdf4":
            ds.to_netcdf(path, engine="netcdf4", auto_complex=True)
        else:
            ds.to_netcdf(path, engine="h5netcdf", invalid_netcdf=True)
    ref, ds = _ingest(path, store_url)
    assert ref.fields == ["u"] and ds["u"].dtype == np.complex128
    np.testing.assert_array_equal(ds["u"].values, u)


@pytest.mark.parametrize("suffixes", [("_re", "_im"), ("_real", "_imag")])
@pytest.mark.parametrize("fmt", ["nc", "npz", "csv"])
def test_paired_real_and_imaginary_variables_make_one_field(tmp_path, store_url, suffixes, fmt):
    t, x, u = _field()
    re_name, im_name = (f"u{s}" for s in suffixes)
    path = tmp_path / f"p.{fmt}"
    ds = xr.Dataset(
        {re_name: (("t", "x"), u.real), im_name: (("t", "x"), u.imag)}, coords={"t": t, "x": x}
    )
    if fmt == "nc":
        ds.to_netcdf(path)
    elif fmt == "npz":
        np.savez(path, t=t, x=x, **{re_name: u.real, im_name: u.imag})
    else:
        ds.to_dataframe().reset_index().to_csv(path, index=False)
    ref, out = _ingest(path, store_url)
    assert ref.fields == ["u"]
    np.testing.assert_allclose(out["u"].values, u, rtol=0, atol=1e-15)
    assert json.loads(out.attrs["physforge_paired"]) == {"u": [re_name, im_name]}


def test_zero_imaginary_part_stays_real_and_the_hash_is_unchanged(tmp_path, store_url):
    t, x, u = _field()
    scipy.io.savemat(tmp_path / "r.mat", {"usol": (u.real + 0j).T, "x": x, "t": t})
    scipy.io.savemat(tmp_path / "f.mat", {"usol": u.real.T, "x": x, "t": t})
    a, ds = _ingest(tmp_path / "r.mat", store_url)
    b, _ = _ingest(tmp_path / "f.mat", store_url)
    assert ds["u"].dtype == np.float64 and a.sha256 == b.sha256


def test_given_variable_missing_names_file_variable_and_what_exists(tmp_path, store_url):
    t, x, u = _field()
    np.savez(tmp_path / "g.npz", u=u, x=x, t=t, V=0.5 * x**2)
    with pytest.raises(DataValidationError) as info:
        _ingest(tmp_path / "g.npz", store_url, given=["W"])
    assert str(info.value) == (
        f"{tmp_path / 'g.npz'}: given variable 'W' not found; the "
        "file's variables are ['V', 't', 'u', 'x']"
    )


def test_given_potential_of_x_only_is_broadcast_over_the_grid(tmp_path, store_url):
    t, x, u = _field()
    np.savez(tmp_path / "g.npz", u=u, x=x, t=t, V=0.5 * x**2)
    ref, ds = _ingest(tmp_path / "g.npz", store_url, given=["V"])
    assert (ref.fields, ref.given) == (["u"], ["V"])
    assert ds["V"].dims == ("t", "x")
    np.testing.assert_array_equal(ds["V"].values[-1], 0.5 * x**2)


# --- discovery ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nls_small():
    """PDE-FIND's nls.mat, every 2nd time step and grid point (251 x 256)."""
    raw = scipy.io.loadmat(PDEFIND / "nls.mat")
    return raw["usol"][::2, ::2], raw["x"].ravel()[::2], raw["t"].ravel()[::2]


def test_nls_complex_field_discovered_with_complex_coefficients(nls_small):
    u, x, t = nls_small
    ds = canonicalize(xr.Dataset({"u": (("t", "x"), u)}, coords={"t": t, "x": x}), "nls")
    fs = build_features(ds, FeatureConfig(poly_degree=3, derivative_order=2))
    best = discover_equations(fs, DiscoveryConfig(n_bootstrap=5))[0]
    _check(best, NLS, rel=1e-3)
    assert "*I*u*abs(u)**2" in best["rhs"] and "*I*u_xx" in best["rhs"]  # parses with sympy
    assert to_sympy(best["rhs"]).has(sympy.I)
    (re_lo, re_hi), (im_lo, im_hi) = best["ci95"]["u_xx"]  # [[re_lo, re_hi], [im_lo, im_hi]]
    assert im_lo <= best["terms"]["u_xx"][1] <= im_hi and abs(im_lo - 0.5) < 1e-3
    assert best["ci95"]["u_xx"][0] == [0.0, 0.0]  # the real part was never selected
    json.dumps(best)  # JSON-ready


def test_coordinate_term_harmonic_potential():
    """u_t = 0.5i u_xx - 0.5i x**2 u with x**2 from the library (coordinate degree 2)."""
    ds = canonicalize(make_example("schrodinger", nx=128, nt=101), "schrodinger")
    fs = build_features(ds, FeatureConfig(poly_degree=1, derivative_order=2, coordinate_degree=2))
    assert "u*x**2" in {k for e in (fs.expansions or {}).values() for k in e}
    best = discover_equations(fs, DiscoveryConfig(n_bootstrap=0))[0]
    _check(best, {"u_xx": 0.5j, "u*x**2": -0.5j}, rel=1e-3)


def test_given_variable_enters_the_library():
    """The same equation with V = x**2/2 a variable of the data: u_t = 0.5i u_xx - i V u."""
    raw = make_example("schrodinger", nx=128, nt=101, given=True)
    ds = canonicalize(raw, "schrodinger", given=["V"])
    fs = build_features(ds, FeatureConfig(poly_degree=2, derivative_order=2))
    assert fs.lhs == ["u_t"]  # V is not modelled
    best = discover_equations(fs, DiscoveryConfig(n_bootstrap=0))[0]
    _check(best, {"u_xx": 0.5j, "V*u": -1j}, rel=1e-3)


# --- the CLI ------------------------------------------------------------------------------------
def _cli(*args, tmp_path):
    env = {
        **os.environ,
        "PHYSFORGE_STORE": str(tmp_path / "store"),
        "COLUMNS": "200",
    }  # the table on one line per equation
    return subprocess.run(
        [str(BIN / "physforge"), *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_cli_prints_the_complex_equation(tmp_path, nls_small):
    u, x, t = nls_small
    scipy.io.savemat(tmp_path / "nls.mat", {"usol": u, "x": x, "t": t})
    run = _cli("discover", str(tmp_path / "nls.mat"), tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    line = next(ln for ln in run.stdout.splitlines() if "u_t =" in ln)  # rank 1 comes first
    assert "(0+1j) u*abs(u)**2" in line and "(0+0.5j) u_xx" in line, run.stdout
    assert "Im[u_xx]: +0.5" in run.stdout  # the interval lines show the imaginary part


def test_cli_given_and_coordinate_degree_options(tmp_path):
    raw = make_example("schrodinger", nx=128, nt=101, given=True)
    raw.to_netcdf(tmp_path / "s.nc", engine="netcdf4", auto_complex=True)
    bad = _cli("discover", str(tmp_path / "s.nc"), "--given", "W", tmp_path=tmp_path)
    assert bad.returncode == 2
    assert f"{tmp_path / 's.nc'}: given variable 'W' not found" in bad.stderr
    assert "['V', 't', 'u', 'x']" in bad.stderr
    run = _cli(
        "discover",
        str(tmp_path / "s.nc"),
        "--given",
        "V",
        "--coordinate-degree",
        "0",
        "--json",
        tmp_path=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["dataset"]["given"] == ["V"] and result["dataset"]["fields"] == ["u"]
    best = result["equations"][0]
    _check(best, {"u_xx": 0.5j, "V*u": -1j}, rel=1e-3)
    for term in best["terms"]:
        assert isinstance(to_sympy(term), sympy.Expr)
