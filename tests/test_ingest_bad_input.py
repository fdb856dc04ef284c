"""The bad-input corpus: every broken file is refused with a message that names the file, the
variable, what was expected and what was found, and nothing is written to the store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.io
import xarray as xr

from physforge.config import IngestConfig
from physforge.datasets.ingest import ingest_dataset
from physforge.errors import DataValidationError
from physforge.storage_blocks.store import ArtifactStore


def _grid(nt=12, nx=16, **coords) -> xr.Dataset:
    t = coords.get("t", np.linspace(0.0, 1.0, nt))
    x = coords.get("x", np.linspace(0.0, 2.0, nx))
    u = np.sin(x[None, :] - t[:, None])
    return xr.Dataset({"u": (("t", "x"), u)}, coords={"t": t, "x": x})


def _refused(path, store_url, pattern: str, **cfg) -> str:
    """Ingest must fail with ``pattern`` (a regex) and leave the store without datasets."""
    store = ArtifactStore(store_url)
    with pytest.raises(DataValidationError, match=pattern) as info:
        ingest_dataset(str(path), store, IngestConfig(**cfg))
    assert store.list("datasets") == []
    assert store.fs.find(store.path("datasets")) == []  # no partial files either
    assert str(path) in str(info.value)
    return str(info.value)


# --- files that cannot be read ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["empty.nc", "empty.csv", "empty.mat", "empty.npz"])
def test_empty_file(tmp_path, store_url, name):
    (tmp_path / name).write_bytes(b"")
    _refused(tmp_path / name, store_url, r": the file is empty$")


def test_header_only_csv_has_no_rows(tmp_path, store_url):
    (tmp_path / "h.csv").write_text("t,x,u\n")
    _refused(tmp_path / "h.csv", store_url, r"the table has no rows \(columns \['t', 'x', 'u'\]\)")


@pytest.mark.parametrize("fmt", ["NETCDF4", "NETCDF3_64BIT"])
@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_truncated_netcdf(tmp_path, store_url, fmt, keep):
    full = tmp_path / "full.nc"
    _grid().to_netcdf(full, format=fmt)
    data = full.read_bytes()
    cut = tmp_path / "cut.nc"
    cut.write_bytes(data[: int(len(data) * keep)])
    _refused(cut, store_url, r"cut\.nc: not a readable NetCDF file \(truncated or corrupt\?\)")


def test_corrupt_hdf5(tmp_path, store_url):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)
    _refused(bad, store_url, r"bad\.h5: not a readable HDF5 file \(truncated or corrupt\?\)")


def test_unknown_extension(tmp_path, store_url):
    (tmp_path / "data.xyz").write_text("1,2,3")
    msg = _refused(tmp_path / "data.xyz", store_url, r"data\.xyz: unknown file type '\.xyz'")
    assert "supported: " in msg and ".nc" in msg and ".parquet" in msg and ".mat" in msg


def test_file_not_found(tmp_path, store_url):
    _refused(tmp_path / "nothing.nc", store_url, r"nothing\.nc: file not found")


def test_unnamed_npy(tmp_path, store_url):
    np.save(tmp_path / "a.npy", np.zeros((4, 5)))
    _refused(
        tmp_path / "a.npy", store_url, r"one unnamed array of shape \(4, 5\); expected named data"
    )


# --- values -------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, word", [(np.nan, "empty or NaN values"), (np.inf, "inf values")])
def test_nan_or_inf_in_a_field(tmp_path, store_url, bad, word):
    ds = _grid()
    ds["u"][3, 5] = bad
    ds.to_netcdf(tmp_path / "f.nc")
    msg = _refused(tmp_path / "f.nc", store_url, rf"field 'u' has {word}")
    # where it is, in the file's terms: coordinates and the index along each
    t, x = float(ds["t"][3]), float(ds["x"][5])
    assert f"1 failing at t={t:.6g} (index 3), x={x:.6g} (index 5)" in msg


def test_nan_beyond_the_sample_is_counted_exactly(tmp_path, store_url, monkeypatch):
    from physforge.validation import quality

    monkeypatch.setattr(quality, "MAX_SAMPLE_VALUES", 32)  # the row sample sees 2 time steps
    ds = _grid(nt=40)
    ds["u"][7, 2:5] = np.nan
    ds.to_netcdf(tmp_path / "f.nc")
    _refused(
        tmp_path / "f.nc",
        store_url,
        r"field 'u' has 3 NaN or inf values out of 640; expected finite values",
    )


def test_complex_field_with_nan_in_its_imaginary_part(tmp_path, store_url):
    ds = _grid(nt=40)
    u = ds["u"].values.T * (1 + 0.5j)
    u[3, 7] = complex(u[3, 7].real, np.nan)
    scipy.io.savemat(tmp_path / "c.mat", {"usol": u, "x": ds["x"].values, "t": ds["t"].values})
    _refused(
        tmp_path / "c.mat",
        store_url,  # the sampled rows name the part
        r"field 'Im\(u\)' has empty or NaN values: expected finite numbers \(1 failing",
    )


# --- coordinates --------------------------------------------------------------------------------
def test_non_monotonic_coordinate(tmp_path, store_url):
    x = np.linspace(0.0, 2.0, 16)
    x[[4, 5]] = x[[5, 4]]
    _grid(x=x).to_netcdf(tmp_path / "m.nc")
    _refused(
        tmp_path / "m.nc",
        store_url,
        r"coordinate 'x' is non-monotonic: expected strictly increasing values \(1 failing "
        r"at rows \[5\]",
    )


def test_duplicated_coordinate(tmp_path, store_url):
    t = np.linspace(0.0, 1.0, 12)
    t[6] = t[5]
    np.savez(tmp_path / "d.npz", u=_grid(t=t)["u"].values, t=t, x=np.linspace(0, 2, 16))
    _refused(
        tmp_path / "d.npz",
        store_url,
        r"coordinate 't' is duplicated: expected strictly increasing values, found repeats",
    )


def test_every_coordinate_failure_at_once(tmp_path, store_url):
    t = np.linspace(0.0, 1.0, 12)
    t[3] = np.inf
    x = np.linspace(0.0, 2.0, 16)[::-1].copy()
    _grid(t=t, x=x).to_netcdf(tmp_path / "many.nc")
    msg = _refused(tmp_path / "many.nc", store_url, r"coordinate 't' has inf values")
    assert "coordinate 'x' is non-monotonic" in msg


def test_duplicated_points_in_a_table(tmp_path, store_url):
    frame = _grid()["u"].to_dataframe().reset_index()
    frame = pd.concat([frame, frame.iloc[[10]]])
    frame.to_csv(tmp_path / "dup.csv", index=False)
    _refused(
        tmp_path / "dup.csv",
        store_url,
        r"duplicated coordinates: 1 rows repeat a point, e.g. \{'t': 0\.0, 'x': "
        r"1\.3333333333333333\}; expected each \(t, x\) once",
    )


def test_coordinate_field_shape_mismatch(tmp_path, store_url):
    np.savez(
        tmp_path / "s.npz", u=np.zeros((12, 15)), t=np.linspace(0, 1, 12), x=np.linspace(0, 2, 16)
    )
    _refused(
        tmp_path / "s.npz",
        store_url,
        r"field 'u' has shape \(12, 15\), which matches no order of the coordinate sizes "
        r"t=12, x=16",
    )


def test_labelled_field_on_the_wrong_dimensions(tmp_path, store_url):
    ds = _grid()
    ds["v"] = ("t", np.zeros(12))
    ds.to_netcdf(tmp_path / "w.nc")
    _refused(
        tmp_path / "w.nc",
        store_url,
        r"field 'v' has dimensions \('t',\), expected \('t', 'x'\)",
        fields=["u", "v"],
    )


def test_single_time_step(tmp_path, store_url):
    _grid(nt=1).to_netcdf(tmp_path / "one.nc")
    _refused(
        tmp_path / "one.nc",
        store_url,
        r"axis 't' has 1 value\(s\); need at least 2 time steps \(a single time step gives "
        r"no time derivative\)",
    )


def test_axis_too_short_for_the_derivative_order(tmp_path, store_url):
    _grid(nx=6).to_netcdf(tmp_path / "short.nc")
    _refused(
        tmp_path / "short.nc",
        store_url,
        r"axis 'x' has 6 value\(s\); derivatives of order 3 need at least 7 points",
    )
    ref, _ = ingest_dataset(
        str(tmp_path / "short.nc"), ArtifactStore(store_url), IngestConfig(derivative_order=2)
    )
    assert ref.shape == [12, 6]


@pytest.mark.parametrize(
    "extra, pattern",
    [
        ("time", r"ambiguous time coordinate: found \['t', 'time'\]; name one with --time"),
        ("X", r"ambiguous space coordinates: found \['x', 'X'\]; name them with --space"),
    ],
)
def test_ambiguous_variable_names(tmp_path, store_url, extra, pattern):
    ds = _grid()
    np.savez(
        tmp_path / "amb.npz",
        u=ds["u"].values,
        t=ds["t"].values,
        x=ds["x"].values,
        **{extra: np.arange(5.0)},
    )
    _refused(tmp_path / "amb.npz", store_url, pattern)


def test_no_time_coordinate(tmp_path, store_url):
    np.savez(tmp_path / "nt.npz", u=np.zeros((12, 16)), s=np.arange(12.0), x=np.arange(16.0))
    _refused(
        tmp_path / "nt.npz",
        store_url,
        r"no time coordinate found \(looked for t, time, tt, T, Time; coordinates are "
        r"\['s', 'x'\]\); name it with --time",
    )


# --- tables -------------------------------------------------------------------------------------
def test_csv_with_missing_columns(tmp_path, store_url):
    frame = _grid()["u"].to_dataframe().reset_index()
    frame.to_csv(tmp_path / "miss.csv", index=False)
    _refused(
        tmp_path / "miss.csv",
        store_url,
        r"required column 'y' is missing; columns are \['t', 'x', 'u'\]; required column "
        r"'v' is missing",
        space=["x", "y"],
        fields=["u", "v"],
    )


def test_csv_with_text_in_numeric_columns_reports_every_failure(tmp_path, store_url):
    frame = _grid()["u"].to_dataframe().reset_index().astype(object)
    frame.loc[4, "u"] = "n/a?"
    frame.loc[9, "u"] = "oops"
    frame.loc[2, "x"] = "inf"
    frame.to_csv(tmp_path / "text.csv", index=False)
    msg = _refused(
        tmp_path / "text.csv",
        store_url,
        r"column 'u' is not numeric: expected numbers, found text \(2 failing at "
        r"rows \[4, 9\]: 'n/a\?', 'oops'\)",
    )
    assert "column 'x' has inf values: expected finite numbers (1 failing at rows [2]" in msg


# --- where data may come from -------------------------------------------------------------------
def test_path_outside_the_data_roots(tmp_path, store_url, monkeypatch):
    (tmp_path / "allowed").mkdir()
    _grid().to_netcdf(tmp_path / "elsewhere.nc")
    monkeypatch.setenv("PHYSFORGE_DATA_ROOTS", str(tmp_path / "allowed"))
    _refused(
        tmp_path / "elsewhere.nc",
        store_url,
        rf"elsewhere\.nc: outside the configured data roots \({tmp_path}/allowed\)",
    )
    link = tmp_path / "allowed" / "sneaky.nc"
    link.symlink_to(tmp_path / "elsewhere.nc")  # a link out of the root is outside too
    _refused(link, store_url, r"sneaky\.nc: outside the configured data roots")


def test_config_roots_override_the_environment(tmp_path, store_url, monkeypatch):
    _grid().to_netcdf(tmp_path / "g.nc")
    monkeypatch.setenv("PHYSFORGE_DATA_ROOTS", str(tmp_path))
    _refused(
        tmp_path / "g.nc",
        store_url,
        r"outside the configured data roots \(s3://lab\)",
        data_roots=["s3://lab"],
    )


@pytest.fixture
def s3_auth(s3_server):
    """moto checks credentials from now on (its server counts unauthenticated actions)."""
    import requests

    requests.post(f"{s3_server}/moto-api/reset-auth", data=b"0", timeout=10)
    yield s3_server
    requests.post(f"{s3_server}/moto-api/reset-auth", data=b"inf", timeout=10)


def test_s3_bad_credentials(s3_server, store_url, monkeypatch, request):
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server})
    _grid().to_zarr(fs.get_mapper("physforge/in/g.zarr"), mode="w")
    request.getfixturevalue("s3_auth")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nobody")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    s3fs.S3FileSystem.clear_instance_cache()
    _refused(
        "s3://physforge/in/g.zarr",
        store_url,
        r"s3://physforge/in/g\.zarr: access denied; check the credentials",
    )


def test_s3_missing_bucket(s3_server, store_url):
    _refused(
        "s3://no-such-bucket/g.zarr",
        store_url,
        r"s3://no-such-bucket/g\.zarr: no Zarr store there \(missing bucket or prefix\?\)",
    )


def test_cached_ingest_is_refused_once_outside_the_roots(
    prefect_api, tmp_path, store_url, monkeypatch
):
    from prefect import flow

    from physforge.tasks.common import task_options
    from physforge.tasks.ingest import ingest as ingest_task

    _grid().to_netcdf(tmp_path / "g.nc")

    @flow
    def just_ingest(source: str):
        opts = task_options(ArtifactStore(store_url))
        return ingest_task.with_options(**opts)(source, IngestConfig(), store_url)

    assert just_ingest(str(tmp_path / "g.nc")).shape == [12, 16]
    monkeypatch.setenv("PHYSFORGE_DATA_ROOTS", str(tmp_path / "elsewhere"))
    with pytest.raises(DataValidationError, match=r"g\.nc: outside the configured data roots"):
        just_ingest(str(tmp_path / "g.nc"))
