"""Ingestion of real formats: PDE-FIND's .mat files, one Burgers dataset in every format giving
one sha256, scattered points, several fields in 2-D, S3 Zarr, chunked hashing, the flow cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
import xarray as xr

from physforge.config import IngestConfig
from physforge.datasets import canonical, ingest
from physforge.datasets.examples import add_noise, make_example
from physforge.datasets.ingest import ingest_dataset, open_dataset, open_points
from physforge.errors import DataValidationError
from physforge.storage_blocks.store import ArtifactStore

# shared/ sits beside the checkout (CI clones main next to it)
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
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def burgers():
    return make_example("burgers")


def _run(path, store_url, **cfg):
    return ingest_dataset(str(path), ArtifactStore(store_url), IngestConfig(**cfg))


# --- the PDE-FIND files -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, field, nt, nx, x0, dx, t_end",
    [
        ("burgers.mat", "usol", 101, 256, -8.0, 0.0625, 10.0),
        ("kdv.mat", "usol", 201, 512, -30.0, 60 / 512, 20.0),
        ("kuramoto_sivishinky.mat", "uu", 251, 1024, 32 * np.pi / 1024, 32 * np.pi / 1024, 100.0),
    ],
)
def test_pdefind_files_ingest_unchanged(store_url, name, field, nt, nx, x0, dx, t_end):
    ref, report = _run(PDEFIND / name, store_url)
    assert (ref.dims, ref.shape, ref.fields, ref.layout) == (["t", "x"], [nt, nx], ["u"], "grid")
    assert report.errors == [] and report.warnings == [] and report.noise_estimate < 0.01
    ds = open_dataset(ref)
    np.testing.assert_allclose(ds["x"].values[[0, 1]], [x0, x0 + dx], rtol=1e-9)
    assert ds["t"].values[0] == 0.0 and ds["t"].values[-1] == pytest.approx(t_end)
    raw = scipy.io.loadmat(PDEFIND / name)[field]
    np.testing.assert_array_equal(ds["u"].values, raw.real.T)  # (x, t) in the file
    assert json.loads(ds.attrs["physforge_renamed"]) == (
        {"tt": "t", "uu": "u"} if field == "uu" else {"usol": "u"}
    )
    store = ArtifactStore(store_url)
    art = store.artifact(ref.key)
    validation = art.read_json("validation.json")
    assert validation["success"] and validation["stats"]["fields"]["u"]["nonfinite"] == 0
    assert {r["expectation"] for r in validation["results"]} >= {
        "expect_column_values_to_not_be_null",
        "expect_column_pair_values_a_to_be_greater_than_b",
    }
    marker = store.path(f"{ref.key}/_COMMIT.json")
    before = os.stat(marker).st_mtime_ns
    again, _ = _run(PDEFIND / name, store_url)
    assert again == ref and os.stat(marker).st_mtime_ns == before  # found, not rewritten


# --- one dataset, one hash ----------------------------------------------------------------------
def _write_all_formats(ds: xr.Dataset, tmp: Path) -> dict[str, Path]:
    u, t, x = ds["u"].values, ds["t"].values, ds["x"].values
    frame = ds[["u"]].to_dataframe().reset_index().sample(frac=1.0, random_state=1)
    paths = {
        k: tmp / f"burgers.{k}" for k in ("nc", "npz", "mat", "csv", "parquet", "zarr", "h5", "npy")
    }
    ds.to_netcdf(paths["nc"])
    np.savez(paths["npz"], u=u, t=t, x=x)
    scipy.io.savemat(paths["mat"], {"usol": (u.T + 0j), "x": x[None, :], "t": t[:, None]})
    frame.to_csv(paths["csv"], float_format="%.17g")  # with pandas' unnamed index column
    frame.to_parquet(paths["parquet"])
    ds.to_zarr(paths["zarr"], mode="w")
    import h5py

    with h5py.File(paths["h5"], "w") as f:  # plain HDF5: named arrays, no dimension scales
        f["u"], f["t"], f["x"] = u, t, x
    np.save(paths["npy"], frame.to_records(index=False))
    return paths


def test_same_burgers_in_every_format_has_one_sha(burgers, tmp_path, store_url):
    paths = _write_all_formats(burgers, tmp_path)
    refs = {k: _run(p, store_url)[0] for k, p in paths.items()}
    shas = {k: r.sha256 for k, r in refs.items()}
    assert len(set(shas.values())) == 1, shas
    assert ArtifactStore(store_url).list("datasets") == [refs["nc"].key]
    np.testing.assert_array_equal(open_dataset(refs["csv"])["u"].values, burgers["u"].values)


# --- several fields, 2-D, names given on the command line ---------------------------------------
@pytest.fixture
def two_fields(tmp_path):
    t, y, x = np.linspace(0, 1, 6), np.linspace(0, 1, 9), np.linspace(0, 2, 11)
    T, Y, X = np.meshgrid(t, y, x, indexing="ij")
    ds = xr.Dataset(
        {
            "h": (("time", "Y", "X"), np.sin(X + Y - T)),
            "q": (("time", "Y", "X"), np.cos(X - 2 * Y) * np.exp(-T)),
            "mask": (("Y", "X"), np.ones((9, 11))),
        },
        coords={"time": t, "Y": y, "X": x},
    )
    path = tmp_path / "waves.nc"
    ds.transpose("X", "time", "Y").to_netcdf(path)  # stored in another axis order
    return path, ds


def test_two_fields_in_2d_are_found_and_renamed(two_fields, store_url):
    path, src = two_fields
    ref, _ = _run(path, store_url)
    assert (ref.dims, ref.fields, ref.shape) == (["t", "x", "y"], ["h", "q"], [6, 11, 9])
    ds = open_dataset(ref)
    np.testing.assert_array_equal(ds["h"].values, src["h"].transpose("time", "X", "Y").values)
    assert json.loads(ds.attrs["physforge_renamed"]) == {"X": "x", "Y": "y", "time": "t"}


def test_space_order_and_field_from_config(two_fields, store_url):
    path, src = two_fields
    ref, _ = _run(path, store_url, time="time", space=["Y", "X"], fields=["q"])
    assert (ref.dims, ref.fields, ref.shape) == (["t", "y", "x"], ["q"], [6, 9, 11])
    np.testing.assert_array_equal(open_dataset(ref)["q"].values, src["q"].values)


def test_cli_names_variables_of_a_csv(tmp_path, burgers):
    frame = burgers[["u"]].to_dataframe().reset_index()
    frame = frame.rename(columns={"t": "when", "x": "pos", "u": "height"})
    frame["noise_col"] = 0.0
    path = tmp_path / "lab.csv"
    frame.to_csv(path, index=False, float_format="%.17g")
    env = {**os.environ, "PHYSFORGE_STORE": str(tmp_path / "store")}
    run = subprocess.run(
        [
            str(BIN / "physforge"),
            "discover",
            str(path),
            "--json",
            "--time",
            "when",
            "--space",
            "pos",
            "--field",
            "height",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["dataset"]["dims"] == ["t", "x"] and result["dataset"]["fields"] == ["height"]
    best = result["equations"][0]
    assert set(best["terms"]) == {"height*height_x", "height_xx"}, best["rhs"]


# --- scattered points ---------------------------------------------------------------------------
def test_scattered_points_are_a_sorted_table(burgers, tmp_path, store_url):
    rng = np.random.default_rng(0)
    n = 500
    pts = pd.DataFrame({"t": rng.uniform(0, 10, n), "x": rng.uniform(-8, 8, n)})
    pts["u"] = np.interp(pts["x"], burgers["x"].values, burgers["u"].values[0])
    pts.to_csv(tmp_path / "a.csv", index=False, float_format="%.17g")
    pts.iloc[::-1].to_parquet(tmp_path / "b.parquet")
    ref, report = _run(tmp_path / "a.csv", store_url)
    ref_b, _ = _run(tmp_path / "b.parquet", store_url)
    assert ref.layout == "scattered" and ref.shape == [n] and ref.dims == ["t", "x"]
    assert ref_b.sha256 == ref.sha256  # row order does not matter
    with pytest.raises(DataValidationError, match=r"scattered data \(500 points.*PINN surrogate"):
        open_dataset(ref)
    ds = open_dataset(ref, allow_scattered=True)
    order = np.lexsort((pts["x"].values, pts["t"].values))
    np.testing.assert_array_equal(ds["t"].values, pts["t"].values[order])
    np.testing.assert_array_equal(ds["u"].values, pts["u"].values[order])
    assert report.errors == []


def test_grid_opens_as_points_for_the_pinn(burgers, tmp_path, store_url):
    burgers.to_netcdf(tmp_path / "b.nc")
    ref, _ = _run(tmp_path / "b.nc", store_url)
    pts = open_points(ref)
    assert pts.sizes["point"] == 101 * 256 and set(pts.coords) >= {"t", "x"}
    assert pts["u"].values[257] == burgers["u"].values[1, 1]
    assert (pts["t"].values[257], pts["x"].values[257]) == (
        burgers["t"].values[1],
        burgers["x"].values[1],
    )


# --- warnings that steer later stages -----------------------------------------------------------
def test_noise_and_nonuniform_grid_are_warnings(burgers, tmp_path, store_url):
    noisy = add_noise(burgers, 0.12, seed=0)
    noisy.to_netcdf(tmp_path / "noisy.nc")
    ref, report = _run(tmp_path / "noisy.nc", store_url)
    assert 0.10 < ref.noise_estimate < 0.14
    assert any("estimated noise ≈ 12%" in w for w in ref.warnings), ref.warnings
    stretched = burgers.assign_coords(x=burgers["x"].values ** 3 / 64)
    stretched.to_netcdf(tmp_path / "stretched.nc")
    ref, _ = _run(tmp_path / "stretched.nc", store_url)
    assert any(w.startswith("non-uniform grid: axis 'x' has steps from") for w in ref.warnings)


# --- big data: chunk by chunk -------------------------------------------------------------------
def test_chunked_hash_and_storage_match_whole_array(burgers, tmp_path, store_url, monkeypatch):
    burgers.astype(np.float32).to_netcdf(tmp_path / "b32.nc")
    whole = _run(tmp_path / "b32.nc", store_url)[0]
    monkeypatch.setattr(canonical, "SLAB_BYTES", 3 * 256 * 8)  # 3 time steps per slab
    monkeypatch.setattr(ingest, "READ_CHUNK_BYTES", 5 * 256 * 4)
    monkeypatch.setattr(ingest, "STORAGE_CHUNK_BYTES", 10 * 256 * 4)
    ds = ingest.load_canonical(str(tmp_path / "b32.nc"))
    assert ds["u"].chunks[0][:2] == (5, 5)  # read lazily in slabs
    assert canonical.content_sha256(ds) == whole.sha256
    ref, _ = _run(tmp_path / "b32.nc", f"{store_url}-2")
    assert ref.sha256 == whole.sha256
    stored = ArtifactStore(f"{store_url}-2").artifact(ref.key).open_zarr("data.zarr")
    assert stored["u"].dtype == np.float32 and stored["u"].encoding["chunks"] == (10, 256)
    np.testing.assert_array_equal(
        open_dataset(ref)["u"].values, burgers["u"].values.astype(np.float32)
    )


# --- object storage -----------------------------------------------------------------------------
def test_zarr_on_s3_matches_local(burgers, tmp_path, s3_server, store_url):
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server})
    burgers.to_zarr(fs.get_mapper("physforge/data/burgers.zarr"), mode="w")
    burgers.to_netcdf(tmp_path / "b.nc")
    remote, _ = _run("s3://physforge/data/burgers.zarr", store_url)
    local, _ = _run(tmp_path / "b.nc", store_url)
    assert remote.sha256 == local.sha256 and remote.source == "s3://physforge/data/burgers.zarr"
    assert ingest.source_fingerprint(
        "s3://physforge/data/burgers.zarr"
    ) == ingest.source_fingerprint("s3://physforge/data/burgers.zarr")


def test_data_roots_admit_paths_below_them(burgers, tmp_path, store_url, monkeypatch):
    (tmp_path / "lab" / "run1").mkdir(parents=True)
    burgers.to_netcdf(tmp_path / "lab" / "run1" / "b.nc")
    monkeypatch.setenv("PHYSFORGE_DATA_ROOTS", f"s3://bucket/x:{tmp_path / 'lab'}")
    assert ingest.data_roots() == ["s3://bucket/x", str(tmp_path / "lab")]
    ref, _ = _run(tmp_path / "lab" / "run1" / "b.nc", store_url)
    assert ref.shape == [101, 256]


# --- the flow: cache hit and the validation artifact --------------------------------------------
def test_ingest_task_twice_is_a_cache_hit(prefect_api, burgers, tmp_path, store_url):
    from prefect import flow
    from prefect.client.orchestration import get_client

    from physforge.tasks.common import task_options
    from physforge.tasks.ingest import ingest as ingest_task

    path = tmp_path / "burgers.mat"
    scipy.io.savemat(
        path, {"u": burgers["u"].values.T, "x": burgers["x"].values, "t": burgers["t"].values}
    )

    @flow
    def just_ingest(source: str):
        opts = task_options(ArtifactStore(store_url))
        return ingest_task.with_options(**opts)(
            source, IngestConfig(), store_url, return_state=True
        )

    first, second = just_ingest(str(path)), just_ingest(str(path))
    assert first.name == "Completed" and second.name == "Cached"
    assert first.result() == second.result()
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        TaskRunFilter,
    )
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["physforge-validation"])),
            flow_run_filter=FlowRunFilter(),
            task_run_filter=TaskRunFilter(),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
            offset=0,
        )
    md = arts[0]
    assert "expect_column_pair_values_a_to_be_greater_than_b" in md.data
    assert str(path) in md.data


# --- more layouts of the same content -----------------------------------------------------------
def test_matlab_v73_and_netcdf_style_hdf5(burgers, tmp_path, store_url):
    import h5py

    u, t, x = burgers["u"].values, burgers["t"].values, burgers["x"].values
    mat = tmp_path / "b73.mat"
    with h5py.File(mat, "w", userblock_size=512) as f:  # MATLAB stores column-major
        f["usol"], f["x"], f["t"] = u, x[None, :].T, t[:, None].T
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 ."
    with open(mat, "r+b") as fh:
        fh.write(header.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM")
    burgers.to_netcdf(tmp_path / "b.hdf5", engine="h5netcdf")
    burgers.to_netcdf(tmp_path / "b.nc")
    shas = {p: _run(tmp_path / p, store_url)[0].sha256 for p in ("b73.mat", "b.hdf5", "b.nc")}
    assert len(set(shas.values())) == 1, shas


def test_scattered_netcdf_with_a_point_dimension(tmp_path, store_url):
    rng = np.random.default_rng(3)
    n = 200
    t, x, y = rng.uniform(0, 1, n), rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    ds = xr.Dataset(
        {"u": ("obs", np.sin(x + y - t)), "t": ("obs", t), "x": ("obs", x), "y": ("obs", y)}
    )
    ds.to_netcdf(tmp_path / "pts.nc")
    ref, _ = _run(tmp_path / "pts.nc", store_url)
    assert (ref.layout, ref.dims, ref.shape, ref.fields) == (
        "scattered",
        ["t", "x", "y"],
        [n],
        ["u"],
    )
    pts = open_dataset(ref, allow_scattered=True)
    assert np.all(np.diff(pts["t"].values) > 0)
    np.testing.assert_allclose(
        pts["u"].values, np.sin(pts["x"].values + pts["y"].values - pts["t"].values)
    )
