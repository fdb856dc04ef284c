"""The production path end to end: a real Prefect server on loopback (SQLite), the store blocks,
``prefect deploy --all`` from prefect.yaml, a process worker, ``prefect deployment run --watch``
and the artifacts in an S3 bucket (moto). Run once against an open server and once against a
server with basic auth (``PREFECT_SERVER_API_AUTH_STRING``).

The worker gets no S3 credentials of its own: the flow run reads them from the Secret blocks.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BIN = Path(sys.executable).parent
AUTH = "physforge-ops:correct-horse"
S3_KEY, S3_SECRET = "physforge-deploy-key", "physforge-deploy-secret"
STORE = "s3://physforge/deployed"
# Settings of this test process (or a developer's shell) that must not leak into the stack.
_DROP = (
    "AWS_",
    "PHYSFORGE_S3_",
    "PHYSFORGE_STORE",
    "PHYSFORGE_DASK_ADDRESS",
    "PREFECT_API_",
    "PREFECT_SERVER_API_AUTH",
    "PREFECT_HOME",
    "PREFECT_PROFILES",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
    env.update(
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        OMP_NUM_THREADS="1",
        PREFECT_CLI_PROMPT="false",
        PREFECT_WORKER_QUERY_SECONDS="2",
        PREFECT_WORKER_PREFETCH_SECONDS="2",
        PREFECT_LOGGING_LEVEL="INFO",
    )
    env.update(extra)
    return env


class Processes:
    """Processes started by a fixture, each in its own session; all stopped at teardown."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(
        self, name: str, args: list[str], env: dict[str, str], cwd: Path = REPO
    ) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        return (self.logdir / f"{name}.log").read_text(errors="replace")[-6000:]

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _run(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _ok(run: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert run.returncode == 0, (
        f"{run.args}\n--- stdout\n{run.stdout[-4000:]}\n--- stderr\n{run.stderr[-4000:]}"
    )
    return run


def _headers(auth: str | None) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}


@pytest.fixture(scope="module")
def moto_endpoint():
    """moto's S3 on loopback with the `physforge` bucket; no credentials in this process."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name="us-east-1",
    ).create_bucket(Bucket="physforge")
    yield endpoint
    server.stop()


@pytest.fixture(scope="module", params=["open", "auth"])
def stack(request, tmp_path_factory, moto_endpoint):
    """Prefect server + blocks + work pools + deployments + a process worker."""
    auth = AUTH if request.param == "auth" else None
    home = tmp_path_factory.mktemp(f"prefect-{request.param}")
    procs = Processes(home)
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    server_env = _clean_env(PREFECT_HOME=str(home))
    if auth:
        server_env["PREFECT_SERVER_API_AUTH_STRING"] = auth
    client_env = _clean_env(PREFECT_HOME=str(home), PREFECT_API_URL=api)
    if auth:
        client_env["PREFECT_API_AUTH_STRING"] = auth
    try:
        server = procs.start(
            "server",
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            server_env,
        )
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, procs.log("server")
            try:
                if httpx.get(f"{api}/health", headers=_headers(auth), timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "no server in 120 s\n" + procs.log("server")
            time.sleep(0.5)

        creds = {"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET}
        register = _ok(
            _run(
                [
                    str(BIN / "physforge"),
                    "blocks",
                    "register",
                    "--store",
                    STORE,
                    "--endpoint",
                    moto_endpoint,
                    "--region",
                    "us-east-1",
                ],
                {**client_env, **creds},
            )
        )
        assert S3_SECRET not in register.stdout + register.stderr
        _ok(
            _run(
                [
                    str(BIN / "prefect"),
                    "work-pool",
                    "create",
                    "physforge-process",
                    "--type",
                    "process",
                ],
                client_env,
            )
        )
        _ok(
            _run(
                [
                    str(BIN / "prefect"),
                    "work-pool",
                    "create",
                    "physforge-gpu",
                    "--type",
                    "process",
                    "--base-job-template",
                    "deployments/gpu-pool.json",
                ],
                client_env,
            )
        )
        deploy = _ok(_run([str(BIN / "prefect"), "--no-prompt", "deploy", "--all"], client_env))
        # exactly as the README says (`prefect worker start --pool physforge-process` on a
        # worker host): the API address and nothing else, started outside the checkout
        assert "prefect worker start --pool physforge-process " in README.read_text()
        assert "PHYSFORGE_HOME" not in client_env
        worker = procs.start(
            "worker",
            [str(BIN / "prefect"), "worker", "start", "--pool", "physforge-process"],
            client_env,
            cwd=tmp_path_factory.mktemp("worker-host"),
        )
        yield {
            "api": api,
            "auth": auth,
            "env": client_env,
            "procs": procs,
            "worker": worker,
            "deploy": deploy,
            "register": register,
            "endpoint": moto_endpoint,
        }
    finally:
        procs.stop_all()


def _api(stack, method: str, path: str, **kw) -> httpx.Response:
    r = httpx.request(
        method, stack["api"] + path, headers=_headers(stack["auth"]), timeout=30, **kw
    )
    r.raise_for_status()
    return r


def test_deployment_run_completes_and_writes_to_the_bucket(stack, burgers_clean):
    import s3fs

    params = [f"dataset={burgers_clean}", 'config={"discovery": {"n_bootstrap": 10}}']
    if stack["auth"]:  # as CI does it: deployments/ci-run.sh with the auth string in the env
        run = _run(
            ["bash", "deployments/ci-run.sh", "discover/discover", *params],
            {**stack["env"], "PREFECT_BIN": str(BIN / "prefect"), "PHYSFORGE_RUN_TIMEOUT": "400"},
            timeout=450,
        )
    else:
        run = _run(
            [
                str(BIN / "prefect"),
                "deployment",
                "run",
                "discover/discover",
                *[a for p in params for a in ("--param", p)],
                "--watch",
                "--watch-interval",
                "2",
                "--watch-timeout",
                "400",
            ],
            stack["env"],
            timeout=450,
        )
    detail = (
        f"\n--- run\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        f"\n--- worker\n{stack['procs'].log('worker')}"
    )
    assert run.returncode == 0, detail
    runs = _api(
        stack, "POST", "/flow_runs/filter", json={"deployments": {"name": {"any_": ["discover"]}}}
    ).json()
    assert len(runs) == 1 and runs[0]["state"]["type"] == "COMPLETED", detail
    assert runs[0]["parameters"]["dataset"] == str(burgers_clean)

    fs = s3fs.S3FileSystem(
        key=S3_KEY, secret=S3_SECRET, client_kwargs={"endpoint_url": stack["endpoint"]}
    )
    fs.invalidate_cache()
    keys = fs.find("physforge/deployed")
    assert any(k.endswith("data.zarr/zarr.json") and "/datasets/" in k for k in keys), keys
    results = [k for k in keys if k.endswith("result.json") and "/discoveries/" in k]
    assert results, keys
    assert any("/prefect-results/" in k for k in keys), keys  # task results, via the block
    doc = json.loads(fs.cat_file(results[0]))
    best = doc["equations"][0]
    assert best["lhs"] == "u_t" and set(best["terms"]) == {"u*u_x", "u_xx"}


def test_parameter_schema_has_types_and_descriptions(stack):
    if stack["auth"]:
        pytest.skip("the schema does not depend on auth; read once")
    dep = _api(stack, "GET", "/deployments/name/discover/discover").json()
    schema = dep["parameter_openapi_schema"]
    props = schema["properties"]
    assert schema["required"] == ["dataset"]
    assert props["dataset"]["type"] == "string"
    assert props["store"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["config"]["$ref"] == "#/definitions/PipelineConfig"
    for name in ("dataset", "config", "store"):
        assert len(props[name].get("description", "")) > 20, (name, props[name])
    discovery = schema["definitions"]["DiscoveryConfig"]["properties"]
    assert discovery["criterion"]["enum"] == ["pareto", "mstls", "aic", "aicc", "bic"]
    assert "description" in discovery["backend"]
    assert dep["work_pool_name"] == "physforge-process"
    assert dep["job_variables"]["env"]["PHYSFORGE_STORE_BLOCK"] == "physforge-store"
    steps = [next(iter(step)) for step in dep["pull_steps"]]
    assert steps == [
        "physforge.flows.steps.physforge_home",
        "prefect.deployments.steps.set_working_directory",
    ]
    assert "AIC/BIC" not in dep["description"] and "Pareto" in dep["description"]

    nightly = _api(stack, "GET", "/deployments/name/benchmark-nightly/benchmark-nightly").json()
    (sched,) = nightly["schedules"]
    assert sched["schedule"]["cron"] == "0 2 * * *" and sched["active"]
    nightly_props = nightly["parameter_openapi_schema"]["properties"]
    assert nightly_props["noise_levels"]["type"] == "array"
    assert nightly_props["noise_levels"]["description"]

    names = {d["name"] for d in _api(stack, "POST", "/deployments/filter", json={}).json()}
    import yaml

    assert names == {
        d["name"] for d in yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    }  # `prefect deploy --all` deployed every one


def test_store_credentials_are_secret_blocks(stack):
    if stack["auth"]:
        pytest.skip("checked once")
    docs = _api(stack, "POST", "/block_documents/filter", json={}).json()
    by_name = {d["name"]: d for d in docs}
    assert by_name["physforge-store-secret-access-key"]["block_type"]["slug"] == "secret"
    assert S3_SECRET not in json.dumps(docs)  # obfuscated when read without include_secrets
    store = by_name["physforge-store"]
    assert store["data"]["url"] == STORE
    assert store["data"]["endpoint_url"] == stack["endpoint"]
    assert set(store["block_document_references"]) == {"access_key_id", "secret_access_key"}
    for out in (stack["register"].stdout, stack["register"].stderr, stack["procs"].log("worker")):
        assert S3_SECRET not in out


def test_unauthenticated_client_is_refused(stack):
    if not stack["auth"]:
        pytest.skip("the open server accepts everyone")
    url = stack["api"] + "/flows/filter"
    assert httpx.post(url, json={}, timeout=10).status_code == 401
    wrong = _headers("physforge-ops:wrong")
    assert httpx.post(url, json={}, headers=wrong, timeout=10).status_code == 401
    assert httpx.post(url, json={}, headers=_headers(AUTH), timeout=10).status_code == 200
    env = {k: v for k, v in stack["env"].items() if k != "PREFECT_API_AUTH_STRING"}
    refused = _run([str(BIN / "prefect"), "deployment", "ls"], env, timeout=120)
    assert refused.returncode != 0
    assert (
        "401" in refused.stdout + refused.stderr
        or "Unauthorized" in refused.stdout + refused.stderr
    )
    listed = _ok(_run([str(BIN / "prefect"), "deployment", "ls"], stack["env"], timeout=120))
    assert "discover/discover" in listed.stdout


def test_a_real_server_serves_the_ui_that_links_point_at(stack):
    """`prefect server start` serves the UI (the ephemeral API does not: tests/test_links.py),
    so there the CLI prints the run's UI link."""
    from physforge.reporting.links import ui_reachable

    if stack["auth"]:
        pytest.skip("the UI page itself is the same with or without the API's auth string")
    assert ui_reachable(stack["api"].removesuffix("/api"))
