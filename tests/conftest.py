"""Shared fixtures: one Prefect test server per session, small example data, a local S3."""

from __future__ import annotations

import os
import tempfile

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The suite never talks to a developer's `physforge server start` (tests that want a local
# server start one in their own data dir).
os.environ["PHYSFORGE_DATA_DIR"] = tempfile.mkdtemp(prefix="physforge-test-data-")


@pytest.fixture(scope="session")
def prefect_api():
    """A real Prefect API (temporary server on loopback, SQLite) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def burgers_clean(tmp_path_factory):
    from physforge.datasets.examples import make_example

    path = tmp_path_factory.mktemp("data") / "burgers.nc"
    make_example("burgers").to_netcdf(path)
    return path


@pytest.fixture
def store_url(tmp_path):
    return f"file://{tmp_path}/store"


@pytest.fixture
def s3_server(monkeypatch):
    """moto's S3 server on a free loopback port, with a bucket, as the environment sees it."""
    import boto3
    from moto.server import ThreadedMotoServer
    from s3fs import S3FileSystem

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for k, v in {
        "AWS_ACCESS_KEY_ID": "physforge-test",
        "AWS_SECRET_ACCESS_KEY": "physforge-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PHYSFORGE_S3_ENDPOINT": endpoint,
    }.items():
        monkeypatch.setenv(k, v)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="physforge")
    S3FileSystem.clear_instance_cache()
    yield endpoint
    S3FileSystem.clear_instance_cache()
    server.stop()
