"""What a user sees when something is wrong: the `physforge` command, run as a subprocess on bad
input and bad options, exits non-zero with one line ``error: <message>`` on stderr that names
the file, variable or option and what was expected — no traceback on stdout or stderr, and
nothing added to the store. With ``--debug`` (or ``PHYSFORGE_DEBUG=1``) the traceback is there.

Options are checked before any work starts, so most cases take a fraction of a second; the
data cases (NaN, text in a CSV, an unknown variable) run ingest inside the flow.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

BIN = Path(sys.executable).parent / "physforge"


def _grid(nt=12, nx=16) -> xr.Dataset:
    t = np.linspace(0.0, 1.0, nt)
    x = np.linspace(0.0, 2.0, nx)
    return xr.Dataset({"u": (("t", "x"), np.sin(x[None, :] - t[:, None]))}, coords={"t": t, "x": x})


def _run(args, tmp_path, env=None, cwd=None):
    full = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PHYSFORGE_STORE": str(tmp_path / "store"),
        **(env or {}),
    }
    full.pop("PHYSFORGE_DEBUG", None) if "PHYSFORGE_DEBUG" not in (env or {}) else None
    return subprocess.run(
        [str(BIN), *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=cwd or tmp_path,
        timeout=300,
    )


def _store_files(root: Path) -> list[str]:
    """Every file in the store, Prefect's result records included (a failed task's record of
    its exception is deleted by the task's failure hook)."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _refused(run, tmp_path, *needles: str, code: int = 2) -> str:
    assert run.returncode == code, (run.returncode, run.stdout, run.stderr)
    for stream in (run.stdout, run.stderr):
        assert "Traceback" not in stream, stream
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1 and errors == lines, run.stderr  # one line, nothing else
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    assert _store_files(tmp_path / "store") == []
    return errors[0]


@pytest.fixture(scope="module")
def good_nc(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "good.nc"
    _grid().to_netcdf(path)
    return path


# --- options and arguments: refused before any work starts -----------------------------------
def test_missing_file(tmp_path):
    _refused(
        _run(["discover", "nowhere.nc"], tmp_path),
        tmp_path,
        "nowhere.nc: file not found",
        "expected a data file",
    )


def test_missing_file_for_train(tmp_path):
    _refused(
        _run(["train", "nowhere.nc", "--members", "1"], tmp_path),
        tmp_path,
        "nowhere.nc: file not found",
    )


def test_bad_backend_lists_every_backend(tmp_path, good_nc):
    from physforge.discovery.regression import backend_choices

    line = _refused(
        _run(["discover", str(good_nc), "--backend", "lasso"], tmp_path),
        tmp_path,
        "'--backend'",
        "'lasso'",
    )
    assert all(f"'{name}'" in line for name in backend_choices())
    assert {"stlsq", "sr3", "ensemble", "operon", "pysr"} <= set(backend_choices())


def test_bad_derivatives_lists_every_method(tmp_path, good_nc):
    from physforge.discovery.derivatives import derivative_choices

    line = _refused(
        _run(["discover", str(good_nc), "--derivatives", "magic"], tmp_path),
        tmp_path,
        "'--derivatives'",
        "'magic'",
    )
    assert len(derivative_choices()) == 9  # routes (meshfree-poly, weak-resampled), methods
    assert all(f"'{name}'" in line for name in derivative_choices())


def test_bad_criterion(tmp_path, good_nc):
    _refused(
        _run(["discover", str(good_nc), "--criterion", "r2"], tmp_path),
        tmp_path,
        "'--criterion'",
        "'pareto'",
        "'mstls'",
        "'aic'",
        "'aicc'",
        "'bic'",
    )


def test_unknown_option(tmp_path, good_nc):
    _refused(
        _run(["discover", str(good_nc), "--lambda", "3"], tmp_path),
        tmp_path,
        "No such option: --lambda",
        "physforge discover --help",
    )


def test_missing_argument(tmp_path):
    _refused(_run(["discover"], tmp_path), tmp_path, "Missing argument 'path'")


def test_unknown_command(tmp_path):
    _refused(_run(["discoverr"], tmp_path), tmp_path, "No such command 'discoverr'")


def test_unknown_example_lists_every_dataset(tmp_path):
    from physforge.datasets.examples import EXAMPLES

    line = _refused(_run(["example", "navier"], tmp_path), tmp_path, "'navier'")
    assert all(f"'{name}'" in line for name in EXAMPLES)


def test_negative_noise(tmp_path):
    _refused(_run(["example", "burgers", "--noise", "-1"], tmp_path), tmp_path, "'--noise'")
    assert not (tmp_path / "burgers.nc").exists()


def test_zero_members(tmp_path, good_nc):
    _refused(
        _run(["train", str(good_nc), "--members", "0"], tmp_path),
        tmp_path,
        "'--members'",
        "greater than or equal to 1",
    )


def test_bad_network(tmp_path, good_nc):
    _refused(
        _run(["train", str(good_nc), "--network", "cnn"], tmp_path),
        tmp_path,
        "'--network'",
        "'fnn'",
        "'resnet'",
        "'fourier'",
    )


def test_bad_acquisition(tmp_path):
    _refused(
        _run(["loop", "--acquisition", "greedy"], tmp_path),
        tmp_path,
        "'--acquisition'",
        "'discrimination'",
        "'random'",
    )


def test_missing_spec(tmp_path):
    _refused(
        _run(["solve", "nowhere.yaml"], tmp_path),
        tmp_path,
        "'spec'",
        "nowhere.yaml",
        "does not exist",
    )


def test_missing_points_csv(tmp_path):
    _refused(
        _run(["predict", "solutions/abc", "nowhere.csv"], tmp_path),
        tmp_path,
        "'points'",
        "nowhere.csv",
        "does not exist",
    )


def test_bad_store_url(tmp_path, good_nc):
    _refused(
        _run(["discover", str(good_nc), "--store", "bogus://somewhere/runs"], tmp_path),
        tmp_path,
        "store 'bogus://somewhere/runs'",
        "bogus",
        "s3://bucket/prefix",
    )


def test_missing_bucket(tmp_path, good_nc, s3_server):
    _refused(
        _run(["discover", str(good_nc), "--store", "s3://no-such-bucket/runs"], tmp_path),
        tmp_path,
        "s3://no-such-bucket/runs",
        "bucket 'no-such-bucket' does not exist",
    )


def test_spec_with_a_missing_field(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("problem: heat\nname: h\ndimension: 1\n")
    _refused(_run(["solve", str(spec)], tmp_path), tmp_path, "domain")


# --- data: refused by ingest inside the flow, located in the file's terms ---------------------
def test_nan_is_located_by_coordinates_and_indices(tmp_path):
    ds = _grid()
    ds["u"][10, 5] = np.nan
    ds.to_netcdf(tmp_path / "nan.nc")
    t, x = float(ds["t"][10]), float(ds["x"][5])
    _refused(
        _run(["discover", "nan.nc"], tmp_path),
        tmp_path,
        "nan.nc",
        "field 'u'",
        "NaN",
        f"t={t:.6g} (index 10), x={x:.6g} (index 5)",
    )


def test_text_in_a_csv(tmp_path):
    frame = _grid().to_dataframe().reset_index().astype(object)
    frame.loc[4, "u"] = "n/a?"
    frame.to_csv(tmp_path / "text.csv", index=False)
    _refused(
        _run(["discover", "text.csv"], tmp_path),
        tmp_path,
        "text.csv",
        "column 'u'",
        "expected numbers, found text",
        "'n/a?'",
    )


def test_unknown_variable(tmp_path, good_nc):
    _refused(
        _run(["discover", str(good_nc), "--field", "v"], tmp_path),
        tmp_path,
        str(good_nc),
        "'v'",
        "'u'",
    )


# --- --debug: the traceback is there ------------------------------------------------------------
def test_debug_shows_the_traceback(tmp_path):
    run = _run(["discover", "nowhere.nc", "--debug"], tmp_path)
    assert run.returncode == 2
    assert "Traceback" in run.stderr and "DataValidationError" in run.stderr
    assert run.stderr.rstrip().splitlines()[-1].startswith("error: nowhere.nc: file not found")


def test_debug_variable_shows_the_traceback_of_a_failed_run(tmp_path):
    ds = _grid()
    ds["u"][2, 3] = np.nan
    ds.to_netcdf(tmp_path / "nan.nc")
    run = _run(["discover", "nan.nc"], tmp_path, env={"PHYSFORGE_DEBUG": "1"})
    assert run.returncode == 2
    assert "Traceback" in run.stderr and "physforge/datasets/ingest.py" in run.stderr
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: nan.nc: field 'u'")
