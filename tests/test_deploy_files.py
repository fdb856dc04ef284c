"""The deployment files, checked by structure: prefect.yaml, the GPU work-pool template, the
production docker-compose stack, its Dockerfile and the CI script. (Where a Docker engine and
the compose plugin exist, ``docker compose config`` validates the stack as well.)"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deployments"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def prefect_yaml() -> dict:
    return yaml.safe_load((REPO / "prefect.yaml").read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


# prefect.yaml --------------------------------------------------------------------------------
def test_prefect_yaml_deployments_point_at_flows(prefect_yaml):
    deployments = {d["name"]: d for d in prefect_yaml["deployments"]}
    assert {"discover", "benchmark-nightly"} <= set(deployments)
    flow_names = {}
    for dep in deployments.values():
        path, func = dep["entrypoint"].split(":")
        tree = ast.parse((REPO / path).read_text())
        (fn,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == func]
        (deco,) = [
            d
            for d in fn.decorator_list
            if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "flow"
        ]
        flow_names[dep["name"]] = next(k.value.value for k in deco.keywords if k.arg == "name")
        assert dep["description"] and dep["work_pool"]["name"].startswith("physforge-")
        assert dep["work_pool"]["job_variables"]["env"]["PHYSFORGE_STORE_BLOCK"]
    assert flow_names["discover"] == "discover"
    assert flow_names["benchmark-nightly"] == "benchmark-nightly"
    for name in ("solve", "loop"):  # their flows came after this file was first written
        if name in deployments:
            assert flow_names[name] == name
    if "solve" in deployments:
        assert deployments["solve"]["work_pool"]["name"] == "physforge-gpu"


def test_prefect_yaml_schedule_and_pull_steps(prefect_yaml):
    from prefect.client.schemas.schedules import CronSchedule

    nightly = next(d for d in prefect_yaml["deployments"] if d["name"] == "benchmark-nightly")
    (sched,) = nightly["schedules"]
    CronSchedule(cron=sched["cron"], timezone=sched["timezone"])  # validates
    assert sched["cron"] == "0 2 * * *"
    home, workdir = prefect_yaml["pull"]
    ((fqn, step),) = home.items()
    assert fqn == "physforge.flows.steps.physforge_home"
    target = workdir["prefect.deployments.steps.set_working_directory"]["directory"]
    assert target == "{{ " + step["id"] + ".directory }}"
    # no hidden variable: unset, the folder holding the installed package, where the
    # entrypoints resolve; set (the Docker image), that folder
    code = "import json, physforge.flows.steps as s; print(json.dumps(s.physforge_home()))"
    unset = {k: v for k, v in os.environ.items() if k != "PHYSFORGE_HOME"}
    out = json.loads(
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=unset,
            cwd="/",
            check=True,
        ).stdout
    )
    for d in prefect_yaml["deployments"]:
        assert (Path(out["directory"]) / d["entrypoint"].split(":")[0]).is_file()
    out = json.loads(
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**unset, "PHYSFORGE_HOME": "/srv/pf"},
            check=True,
        ).stdout
    )
    assert out == {"directory": "/srv/pf"}
    assert (
        "ENV" in (DEPLOY / "Dockerfile").read_text()
        and "PHYSFORGE_HOME=/opt/physforge" in (DEPLOY / "Dockerfile").read_text()
    )
    discover = next(d for d in prefect_yaml["deployments"] if d["name"] == "discover")
    assert "ranked by AIC/BIC" not in discover["description"]
    assert "Pareto" in discover["description"]


def test_gpu_pool_template_is_a_process_template():
    from prefect.workers.process import ProcessWorker

    default = ProcessWorker.get_default_base_job_template()
    template = json.loads((DEPLOY / "gpu-pool.json").read_text())
    assert template["job_configuration"] == default["job_configuration"]
    assert set(template["variables"]["properties"]) == set(default["variables"]["properties"])
    env = template["variables"]["properties"]["env"]["default"]
    assert env["PHYSFORGE_STORE_BLOCK"] == "physforge-store"


# docker-compose -------------------------------------------------------------------------------
SERVICES = {
    "postgres",
    "prefect-server",
    "minio",
    "minio-init",
    "setup",
    "prefect-worker",
    "dask-scheduler",
    "dask-worker",
    "dask-gpu-scheduler",
    "dask-cuda-worker",
    "prefect-gpu-worker",
}


def test_compose_services_and_dependencies(compose):
    services = compose["services"]
    assert SERVICES <= set(services)
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, (name, dep)
            assert cond["condition"] in ("service_healthy", "service_completed_successfully")
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], (name, dep)
    for name in ("postgres", "prefect-server", "minio", "dask-scheduler"):
        assert services[name]["healthcheck"]["test"], name


def test_compose_server_uses_postgres_and_auth(compose):
    services = compose["services"]
    server = _env(services["prefect-server"])
    db = server["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert db.startswith("postgresql+asyncpg://") and "@postgres:5432/" in db
    assert services["postgres"]["image"].startswith("postgres:")
    auth_source = re.match(r"\$\{(\w+)", server["PREFECT_SERVER_API_AUTH_STRING"]).group(1)
    assert "Authorization" in " ".join(services["prefect-server"]["healthcheck"]["test"])
    port = services["prefect-server"]["command"][-1]
    for name in (
        "setup",
        "prefect-worker",
        "prefect-gpu-worker",
        "dask-worker",
        "dask-cuda-worker",
    ):
        env = _env(services[name])
        assert env["PREFECT_API_URL"] == f"http://prefect-server:{port}/api", name
        assert env["PREFECT_API_AUTH_STRING"].startswith("${" + auth_source), name
        assert env["PHYSFORGE_STORE_BLOCK"] == "physforge-store", name


def test_compose_workers_dask_and_gpu(compose, prefect_yaml):
    services = compose["services"]
    pools = {d["work_pool"]["name"] for d in prefect_yaml["deployments"]}
    for name in ("prefect-worker", "prefect-gpu-worker"):
        cmd = services[name]["command"]
        assert cmd[:3] == ["prefect", "worker", "start"]
        assert cmd[cmd.index("--pool") + 1] in pools | {"physforge-gpu"}
        assert cmd[cmd.index("--type") + 1] == "process"
    for name, sched in (
        ("prefect-worker", "dask-scheduler"),
        ("prefect-gpu-worker", "dask-gpu-scheduler"),
    ):
        assert _env(services[name])["PHYSFORGE_DASK_ADDRESS"] == f"tcp://{sched}:8786"
    assert services["dask-worker"]["command"][:3] == ["dask", "worker", "tcp://dask-scheduler:8786"]
    assert services["dask-worker"]["deploy"]["replicas"] >= 2
    cuda = services["dask-cuda-worker"]
    assert cuda["command"][:4] == ["dask", "cuda", "worker", "tcp://dask-gpu-scheduler:8786"]
    for name in ("dask-cuda-worker", "prefect-gpu-worker"):
        (device,) = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
        assert services[name]["profiles"] == ["gpu"]
    setup = " ".join(services["setup"]["command"])
    assert "physforge blocks register" in setup and "--endpoint http://minio:9000" in setup
    assert "prefect --no-prompt deploy --all" in setup and "deployments/gpu-pool.json" in setup
    assert "mc mb" in " ".join(services["minio-init"]["entrypoint"])


def test_compose_variables_are_documented(compose):
    text = (DEPLOY / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{(\w+)", text))
    example = (DEPLOY / ".env.example").read_text()
    documented = set(re.findall(r"^(\w+)=", example, flags=re.M))
    assert used <= documented | {"PREFECT_UI_API_URL"}, used - documented


def test_dockerfile_copies_what_exists():
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.startswith("#") and re.search(r"^FROM python:3\.11", text, flags=re.M)
    for line in re.findall(r"^COPY (.+)$", text, flags=re.M):
        *sources, _ = line.split()
        for src in sources:
            assert (REPO / src).exists(), src
    assert 'pip install -e ".${EXTRAS:+[${EXTRAS}]}"' in text


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="no docker compose plugin here; the stack is checked by structure above",
)
def test_docker_compose_config():
    env = {
        **os.environ,
        **dict(
            line.split("=", 1)
            for line in (DEPLOY / ".env.example").read_text().splitlines()
            if line and not line.startswith("#")
        ),
    }
    run = subprocess.run(
        [
            "docker",
            "compose",
            "-f",
            str(DEPLOY / "docker-compose.yml"),
            "--profile",
            "gpu",
            "config",
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr


# CI script ------------------------------------------------------------------------------------
CI = DEPLOY / "ci-run.sh"


def test_ci_script_parses_and_is_executable():
    assert subprocess.run(["bash", "-n", str(CI)]).returncode == 0
    assert CI.stat().st_mode & stat.S_IXUSR


def _ci(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
    return subprocess.run(
        ["bash", str(CI), *args], env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def test_ci_script_refuses_bad_usage():
    assert _ci().returncode == 2
    assert _ci("discover").returncode == 2  # not <flow>/<deployment>
    no_url = _ci("discover/discover")
    assert no_url.returncode != 0 and "PREFECT_API_URL" in no_url.stderr
    bad = _ci("discover/discover", "dataset", PREFECT_API_URL="http://x/api")
    assert bad.returncode == 2 and "key=value" in bad.stderr


def test_ci_script_passes_parameters_and_auth_through_the_environment(tmp_path):
    fake = tmp_path / "prefect"
    fake.write_text(
        '#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n'
        'echo "url=$PREFECT_API_URL auth=$PREFECT_API_AUTH_STRING"\n'
    )
    fake.chmod(0o755)
    run = _ci(
        "discover/discover",
        "dataset=s3://b/run1.nc",
        'config={"discovery": {}}',
        PREFECT_API_URL="http://prefect:4200/api",
        PREFECT_API_AUTH_STRING="u:p",
        PREFECT_BIN=str(fake),
        GITHUB_SHA="abc123",
    )
    assert run.returncode == 0, run.stderr
    argv = run.stdout.splitlines()
    assert argv[:3] == ["deployment", "run", "discover/discover"] and "--watch" in argv
    assert argv[argv.index("--param") + 1] == "dataset=s3://b/run1.nc"
    assert 'config={"discovery": {}}' in argv and "commit:abc123" in argv
    assert "u:p" not in " ".join(argv[:-1])  # the auth string is never an argument
    assert argv[-1] == "url=http://prefect:4200/api auth=u:p"
