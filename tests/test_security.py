"""Nothing unsafe loaded, no key escapes the store root, no credential leaks.

- Prefect deserialises a task result with whatever serializer the stored *record* names: a
  record planted in the store that names ``pickle`` would run code in every reader. The store's
  result-storage guard (``physforge.storage_blocks.blocks.check_result_record``) refuses it, and
  the task recomputes.
- Artifacts are never unpickled; torch state dicts load with ``weights_only=True``; a static
  scan of the package keeps it that way.
- Keys built from user input cannot leave the store root.
- Credentials never reach logs, Prefect artifacts, the Prefect database, blocks, or the store.
"""

from __future__ import annotations

import ast
import io
import json
import logging
import os
import pickle
import re
import secrets
from pathlib import Path

import pytest
from pydantic import BaseModel, model_validator

from physforge.errors import DataValidationError, IntegrityError, StoreError
from physforge.storage_blocks.blocks import check_result_record
from physforge.storage_blocks.store import COMMIT_MARKER, ArtifactStore, sha256_bytes

PACKAGE = Path(__file__).resolve().parents[1] / "physforge"
MARKER_ENV = "PHYSFORGE_TEST_PWNED_DIR"


def _pwn(how: str) -> None:
    """What a malicious payload does: leave a marker file saying how it got in."""
    Path(os.environ[MARKER_ENV], f"pwned-{how}").write_text(how)


class _Evil:
    def __init__(self, how: str):
        self.how = how

    def __reduce__(self):
        return (_pwn, (self.how,))


def _evil_object_hook(obj):  # named by a planted record as its JSON object_decoder
    _pwn("object-decoder")
    return obj


class _EvilModel(BaseModel):  # named by a planted record's "__class__"
    @model_validator(mode="before")
    @classmethod
    def _run(cls, data):
        _pwn("class")
        return data


@pytest.fixture
def marker_dir(tmp_path, monkeypatch):
    d = tmp_path / "markers"
    d.mkdir()
    monkeypatch.setenv(MARKER_ENV, str(d))
    return d


def _record(serializer, result) -> bytes:
    from prefect._internal.result_records import ResultRecord, ResultRecordMetadata

    meta = ResultRecordMetadata(serializer=serializer, storage_key="planted")
    return ResultRecord(metadata=meta, result=result).serialize()


def _json_record(result_doc, **serializer) -> bytes:
    from prefect.serializers import JSONSerializer

    ser = JSONSerializer().model_dump(mode="json") | serializer
    return json.dumps(
        {
            "metadata": {
                "storage_key": "planted",
                "expiration": None,
                "serializer": ser,
                "prefect_version": "3.8.8",
            },
            "result": json.dumps(result_doc),
        }
    ).encode()


def _task_states(flow_run_id) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), limit=200
        )
    return {r.name.rsplit("-", 1)[0]: r.state.name for r in runs}


class _Capture(logging.Handler):
    """Every record of the named loggers, formatted, whatever Prefect's logging setup does to
    the root logger's handlers meanwhile (pytest's caplog lives there)."""

    def __init__(self, *names: str):
        super().__init__(logging.DEBUG)
        self.names, self.records = names or ("",), []

    def emit(self, record):
        self.records.append(record)

    @property
    def text(self) -> str:
        return "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in self.records)

    def __enter__(self):
        for name in self.names:
            logging.getLogger(name or None).addHandler(self)
        return self

    def __exit__(self, *exc):
        for name in self.names:
            logging.getLogger(name or None).removeHandler(self)


def _small_burgers(tmp_path) -> Path:
    from physforge.datasets.examples import burgers

    path = tmp_path / "burgers.nc"
    burgers(nx=64, nt=26).to_netcdf(path)
    return path


# --- result records ---------------------------------------------------------------------------


@pytest.mark.slow
def test_planted_result_records_are_refused_and_recomputed(prefect_api, tmp_path, marker_dir):
    """Four kinds of planted task results, one per task, where the next run's cache lookup
    reads them: a record naming the pickle serializer, raw pickle bytes, a JSON record naming
    its own object decoder, a JSON record naming a non-PhysForge class. None runs; each task
    recomputes and rewrites a clean JSON result; the untouched report stays cached."""
    from prefect.serializers import PickleSerializer

    from physforge.config import DiscoveryConfig, PipelineConfig
    from physforge.flows import discover_flow

    data = _small_burgers(tmp_path)
    url = f"file://{tmp_path}/store"
    cfg = PipelineConfig(discovery=DiscoveryConfig(n_bootstrap=0))
    first = discover_flow(str(data), cfg, url)
    results = tmp_path / "store" / "prefect-results"
    by_task = {p.name.rsplit("-", 1)[0]: p for p in results.iterdir()}
    assert set(by_task) == {"ingest", "extract_features", "discover", "summarise", "report"}

    by_task["summarise"].write_bytes(_record(PickleSerializer(), _Evil("pickle-record")))
    by_task["discover"].write_bytes(pickle.dumps(_Evil("raw-pickle")))
    by_task["extract_features"].write_bytes(
        _json_record({"a": 1}, object_decoder=f"{__name__}._evil_object_hook")
    )
    by_task["ingest"].write_bytes(_json_record({"__class__": f"{__name__}._EvilModel", "data": {}}))
    # the payloads are live: Prefect's own deserialiser would run them
    from prefect._internal.result_records import ResultRecord

    ResultRecord.deserialize(by_task["summarise"].read_bytes())
    assert (marker_dir / "pwned-pickle-record").exists()
    (marker_dir / "pwned-pickle-record").unlink()

    with _Capture("physforge.security") as log:
        state = discover_flow(str(data), cfg, url, return_state=True)
    assert state.is_completed(), state
    assert list(marker_dir.iterdir()) == []
    assert _task_states(state.state_details.flow_run_id) == {
        "ingest": "Completed",
        "extract_features": "Completed",
        "discover": "Completed",
        "summarise": "Completed",
        "report": "Cached",
        "remember": "Completed",
    }
    refused = {
        r.getMessage().split(": ", 1)[0].rsplit("/", 1)[-1].rsplit("-", 1)[0]
        for r in log.records
        if "refused task result" in r.getMessage()
    }
    assert refused == {"ingest", "extract_features", "discover", "summarise"}
    for path in by_task.values():  # rewritten by the recompute: clean JSON records again
        check_result_record(path.read_bytes(), str(path))
    assert state.result()["equations"] == first["equations"]


@pytest.mark.parametrize(
    "planted, why",
    [
        (b"\x80\x04K\x01.", "not a JSON result record"),
        (
            b'{"metadata": {"serializer": {"type": "pickle", "picklelib": "cloudpickle"}}, '
            b'"result": "gASVAAAA"}',
            "serializer 'pickle'",
        ),
        (_json_record({"x": 1}, jsonlib="orjson"), "serializer 'json' with settings"),
        (
            _json_record({"x": {"__class__": "prefect.serializers.PickleSerializer", "data": {}}}),
            "it names class 'prefect.serializers.PickleSerializer'",
        ),
        (
            _json_record({"__exc_type__": "not_imported_module.Boom", "message": "x"}),
            "it names exception type 'not_imported_module.Boom'",
        ),
    ],
)
def test_result_guard_refuses_what_could_run_code(planted, why):
    with pytest.raises(StoreError, match=f"refused: {why}"):
        check_result_record(planted, "somewhere/ingest-abc")


def test_result_guard_accepts_physforge_refs_and_plain_json():
    import physforge.refs  # noqa: F401 - the tasks that return refs import them

    check_result_record(_json_record({"__class__": "physforge.refs.DatasetRef", "data": {}}), "x")
    check_result_record(_json_record({"equations": [1, 2], "nested": {"a": None}}), "x")
    check_result_record(_json_record({"__exc_type__": "builtins.ValueError", "message": "x"}), "x")


# --- artifacts --------------------------------------------------------------------------------


def _forge(store: ArtifactStore, prefix: str, name: str, data: bytes) -> None:
    """What an attacker with write access to the bucket can do: a file and a manifest that
    matches it in every respect (file sha256s and the artifact's sha256 over them)."""
    base = Path(store.path(prefix))
    base.mkdir(parents=True, exist_ok=True)
    (base / name).write_bytes(data)
    files = {name: sha256_bytes(data)}
    (base / COMMIT_MARKER).write_text(
        json.dumps({"files": files, "meta": {}, "sha256": _files_sha(files)})
    )


def _files_sha(files: dict[str, str]) -> str:
    return sha256_bytes(json.dumps(files, sort_keys=True).encode())


def test_pickles_planted_as_artifacts_are_never_executed(store_url, marker_dir):
    pytest.importorskip("torch")
    store = ArtifactStore(store_url)
    payload = pickle.dumps(_Evil("artifact"))
    with store.transaction("discoveries/abc") as tx:
        tx.put_json("result.json", {"equations": []})
    Path(store.artifact("discoveries/abc").path("result.json")).write_bytes(payload)  # swapped
    with pytest.raises(IntegrityError, match="discoveries/abc: result.json does not match"):
        store.artifact("discoveries/abc").read_json("result.json")

    _forge(store, "discoveries/forged", "result.json", payload)  # manifest forged as well
    with pytest.raises(ValueError):  # not JSON; and never unpickled
        store.artifact("discoveries/forged").read_json("result.json")

    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2), "evil": _Evil("torch")}, buf)  # a "state dict" with code
    _forge(store, "surrogates/forged", "member-0.pt", buf.getvalue())
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        store.artifact("surrogates/forged").torch_state("member-0.pt")
    assert list(marker_dir.iterdir()) == []


def test_forged_manifest_cannot_point_outside_the_store(store_url, tmp_path):
    store = ArtifactStore(store_url)
    (tmp_path / "secret.txt").write_text("do not read")
    _forge(store, "things/m", "a.json", b"{}")
    manifest = json.loads(Path(store.path(f"things/m/{COMMIT_MARKER}")).read_text())
    manifest["files"] = {"../../../secret.txt": sha256_bytes(b"do not read")}
    manifest["sha256"] = _files_sha(manifest["files"])  # consistent: only the path is wrong
    Path(store.path(f"things/m/{COMMIT_MARKER}")).write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="refused"):
        store.artifact("things/m").verify()


# --- the unsafe-loader scan, by import resolution -------------------------------------------

_UNSAFE_MODULES = {  # importing these at all is refused: every route in them ends in code
    "pickle": "unpickles",
    "_pickle": "unpickles",
    "cPickle": "unpickles",
    "cloudpickle": "unpickles",
    "dill": "unpickles",
    "joblib": "unpickles",
    "jsonpickle": "unpickles",
    "shelve": "unpickles",
    "marshal": "loads code objects",
}
_UNSAFE_NAMES = {  # referenced at all (called, aliased, passed as a Loader) is refused
    "yaml.unsafe_load": "runs code",
    "yaml.unsafe_load_all": "runs code",
    "yaml.full_load": "builds arbitrary objects",
    "yaml.full_load_all": "builds arbitrary objects",
    "yaml.Loader": "unsafe YAML loader",
    "yaml.FullLoader": "unsafe YAML loader",
    "yaml.UnsafeLoader": "unsafe YAML loader",
    "yaml.CLoader": "unsafe YAML loader",
    "yaml.CFullLoader": "unsafe YAML loader",
    "yaml.CUnsafeLoader": "unsafe YAML loader",
    "pandas.read_pickle": "unpickles",
    "numpy.lib.format.read_array": "may unpickle",
    "prefect.serializers.PickleSerializer": "unpickles",
    "torch.serialization.load": "unpickles unless weights_only=True",
    "builtins.eval": "runs code",
    "builtins.exec": "runs code",
}
_SAFE_YAML_LOADERS = {"yaml.SafeLoader", "yaml.CSafeLoader", "yaml.BaseLoader", "yaml.CBaseLoader"}


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> what it is bound to by the file's imports (at any depth):
    ``import numpy as np`` binds np -> numpy, ``from pickle import loads as l`` l ->
    pickle.loads; builtins are bound to themselves."""
    names = {"eval": "builtins.eval", "exec": "builtins.exec", "__import__": "builtins.__import__"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    names[a.asname] = a.name
                else:
                    root = a.name.split(".", 1)[0]
                    names[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _resolve(node: ast.AST, names: dict[str, str]) -> str:
    if isinstance(node, ast.Name):
        return names.get(node.id, "")
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, names)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _is_const(node: ast.AST | None, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def unsafe_loaders(source: str, where: str = "<string>") -> list[str]:
    """Every route to an unsafe deserialiser in ``source``, as ``where:line: what``: imports
    of pickle-family modules (also through importlib / __import__), unsafe YAML loaders and
    YAML loads without a safe Loader, torch.load without weights_only=True, numpy loads that
    allow pickles, eval/exec; through any alias or from-import. (A module name computed at
    run time, ``import_module(name)``, cannot be resolved statically and is not flagged.)"""
    tree = ast.parse(source, where)
    names = _aliases(tree)
    found: list[str] = []

    def flag(node, what):
        found.append(f"{where}:{node.lineno}: {what}")

    calls = {id(n.func): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".", 1)[0] in _UNSAFE_MODULES:
                    flag(node, f"import {a.name} ({_UNSAFE_MODULES[a.name.split('.')[0]]})")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            root = node.module.split(".", 1)[0]
            for a in node.names:
                full = f"{node.module}.{a.name}"
                if root in _UNSAFE_MODULES or a.name in _UNSAFE_MODULES:
                    flag(node, f"from {node.module} import {a.name} (unpickles)")
                elif full in _UNSAFE_NAMES:
                    flag(node, f"from {node.module} import {a.name} ({_UNSAFE_NAMES[full]})")
        elif isinstance(node, (ast.Name, ast.Attribute)):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                continue
            name = _resolve(node, names)
            if not name or (
                isinstance(node, ast.Name) and node.id in ("eval", "exec") and id(node) not in calls
            ):
                continue
            call = calls.get(id(node))
            if name in _UNSAFE_NAMES:
                flag(node, f"{name} ({_UNSAFE_NAMES[name]})")
            elif name in ("importlib.import_module", "builtins.__import__") and call:
                arg = call.args[0] if call.args else None
                mod = arg.value if isinstance(arg, ast.Constant) else None
                if isinstance(mod, str) and mod.split(".")[0] in _UNSAFE_MODULES:
                    flag(node, f"{name}({mod!r}) ({_UNSAFE_MODULES[mod.split('.')[0]]})")
            elif name == "torch.load":
                if call is None or not _is_const(
                    next((k.value for k in call.keywords if k.arg == "weights_only"), None), True
                ):
                    flag(node, "torch.load without weights_only=True")
            elif name in ("numpy.load", "numpy.lib.npyio.load"):
                ap = (
                    None
                    if call is None
                    else next((k.value for k in call.keywords if k.arg == "allow_pickle"), None)
                )
                if call is None or (ap is not None and not _is_const(ap, False)):
                    flag(node, "numpy.load that may allow pickles")
            elif name in ("yaml.load", "yaml.load_all"):
                loader = (
                    None
                    if call is None
                    else next(
                        (k.value for k in call.keywords if k.arg == "Loader"),
                        call.args[1] if len(call.args) > 1 else None,
                    )
                )
                if loader is None or _resolve(loader, names) not in _SAFE_YAML_LOADERS:
                    flag(node, f"{name} without a safe Loader")
    return sorted(set(found))


@pytest.mark.parametrize(
    "source",
    [
        "import pickle\npickle.loads(b'')",
        "from pickle import loads\nloads(b'')",
        "from pickle import loads as l\nl(b'')",
        "import pickle as p\np.load(f)",
        "import cloudpickle",
        "import dill.settings",
        "import marshal\nmarshal.loads(b'')",
        "from _pickle import Unpickler",
        "import importlib\nimportlib.import_module('pickle')",
        "from importlib import import_module as im\nim('dill')",
        "__import__('cloudpickle')",
        "import yaml\nyaml.full_load(s)",
        "from yaml import full_load\nfull_load(s)",
        "import yaml\nyaml.load(s)",
        "import yaml\nyaml.load(s, Loader=yaml.Loader)",
        "import yaml\nyaml.load(s, yaml.FullLoader)",
        "import yaml as y\ny.unsafe_load(s)",
        "from yaml import load\nload(s)",
        "import yaml\nf = yaml.full_load",
        "import torch\ntorch.load(f)",
        "import torch\ntorch.load(f, weights_only=False)",
        "import torch as T\nT.load(f, weights_only=flag)",
        "from torch import load\nload(f, map_location='cpu')",
        "import numpy as np\nnp.load(f, allow_pickle=True)",
        "from numpy import load\nload(f, allow_pickle=x)",
        "import pandas as pd\npd.read_pickle(p)",
        "from prefect.serializers import PickleSerializer",
        "eval(s)",
        "exec(s)",
    ],
)
def test_the_loader_scan_finds_every_route(source):
    assert unsafe_loaders(source), source


@pytest.mark.parametrize(
    "source",
    [
        "import yaml\nyaml.safe_load(s)",
        "import yaml\nyaml.load(s, Loader=yaml.SafeLoader)",
        "from yaml import CSafeLoader, load\nload(s, Loader=CSafeLoader)",
        "import torch\ntorch.load(f, weights_only=True, map_location='cpu')",
        "import numpy as np\nnp.load(f, allow_pickle=False)\nnp.load(f)",
        "import json\njson.loads(s)",
        "import importlib\nimportlib.import_module('physforge.cli')",
        "x.eval()\nmodel.eval()",
    ],
)
def test_the_loader_scan_passes_safe_loads(source):
    assert unsafe_loaders(source) == []


def test_package_has_no_unsafe_deserialisation():
    """No route to pickle, cloudpickle, dill, marshal, shelve or an unsafe YAML loader
    anywhere in physforge/, through any import or alias; every ``torch.load`` passes
    ``weights_only=True``; no numpy load allows pickles; no eval/exec."""
    found = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        for hit in unsafe_loaders(path.read_text(), str(path.relative_to(PACKAGE.parent)))
    ]
    assert found == []


def test_torch_floor_has_a_safe_weights_only():
    """``weights_only=True`` could be bypassed before torch 2.6 (CVE-2025-32434): the
    requirement's floor is 2.6."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.version import Version

    doc = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    [torch] = [
        Requirement(r) for r in doc["project"]["dependencies"] if Requirement(r).name == "torch"
    ]
    assert not torch.specifier.contains(Version("2.5.1"))
    assert torch.specifier.contains(Version("2.6.0"))


# --- object codecs in user Zarr input ------------------------------------------------------


def _zarr_v2_naming(tmp_path: Path, codec: dict, chunk: bytes) -> Path:
    """A Zarr v2 group (consolidated) whose ``u`` names ``codec`` as its filter, in both its
    ``.zarray`` and the consolidated ``.zmetadata``, with ``chunk`` as its only chunk."""
    import numpy as np
    import xarray as xr

    path = tmp_path / "input.zarr"
    ds = xr.Dataset(
        {"u": (("t", "x"), np.zeros((4, 4)))}, coords={"t": np.arange(4.0), "x": np.arange(4.0)}
    )
    ds.to_zarr(path, zarr_format=2, consolidated=True, encoding={"u": {"chunks": (4, 4)}})
    zarray = json.loads((path / "u" / ".zarray").read_text())
    zarray.update(dtype="|O", filters=[codec], compressor=None)
    (path / "u" / ".zarray").write_text(json.dumps(zarray))
    zmeta = json.loads((path / ".zmetadata").read_text())
    zmeta["metadata"]["u/.zarray"] = zarray
    (path / ".zmetadata").write_text(json.dumps(zmeta))
    (path / "u" / "0.0").write_bytes(chunk)
    return path


@pytest.mark.parametrize(
    "codec",
    [
        {"id": "pickle", "protocol": 5},
        {"id": "msgpack2"},
        {"id": "json2"},
        {"id": "vlen-array", "dtype": "<f8"},
    ],
)
def test_object_codecs_in_user_zarr_are_refused_by_file_and_variable(tmp_path, marker_dir, codec):
    """A Zarr input naming numcodecs' pickle codec, with a chunk that runs code when
    unpickled, or another object codec: the ingest refuses it before reading any chunk,
    naming the file and the variable; the payload never runs."""
    from physforge.datasets.ingest import ingest_dataset

    payload = pickle.dumps(_Evil("zarr-codec")) if codec["id"] == "pickle" else b"x"
    path = _zarr_v2_naming(tmp_path, codec, payload)
    store = ArtifactStore(f"file://{tmp_path}/store")
    with pytest.raises(
        DataValidationError,
        match=rf"input.zarr: variable 'u' \(u/.zarray\) "
        rf"names numcodecs' '{codec['id']}' codec",
    ):
        ingest_dataset(str(path), store)
    assert list(marker_dir.iterdir()) == []
    assert store.list("datasets") == []


# --- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "%2e%2e/escape",
        "..%2fescape",
        "a/%2E%2E/%2E%2E/b",
        "a\\..\\..\\b",
        "..\\escape",
        "a/\x00/b",
        "a\x00b",
        "\uff0e\uff0e/escape",
        "a/\u2025/b",
        "\u2024\u2024/x",
        "file:///etc/passwd",
        "s3://other-bucket/x",
        "http://169.254.169.254/latest",
        "//other/x",
        "C:\\Windows",
        "~/x",
        "$HOME/x",
        "a/ b",
        "a/b\n",
        "a/b?x=1",
        "a/b#f",
        "x" * 300,
        "/".join(["a"] * 600),
        "",
        "/",
        ".",
        "..",
    ],
)
def test_keys_from_user_input_cannot_escape_the_root(store_url, key):
    store = ArtifactStore(store_url)
    with pytest.raises(StoreError, match="refused|empty store key"):
        store.path(key)
    with pytest.raises(StoreError):
        with store.transaction(key) as tx:
            tx.put_json("a.json", {})
    with pytest.raises(StoreError):
        with store.transaction("things/ok") as tx:
            tx.put_json(key, {})


def test_data_roots_refuse_traversal_and_symlinks_out(tmp_path, monkeypatch):
    from physforge.datasets.ingest import check_source

    root = tmp_path / "data"
    root.mkdir()
    secret = tmp_path / "secret.nc"
    secret.write_bytes(b"x")
    (root / "link.nc").symlink_to(secret)
    monkeypatch.setenv("PHYSFORGE_DATA_ROOTS", str(root))
    for source in (f"{root}/../secret.nc", str(root / "link.nc"), f"file://{root}/../secret.nc"):
        with pytest.raises(DataValidationError, match="outside the configured data roots"):
            check_source(source)


# --- credentials ------------------------------------------------------------------------------


@pytest.mark.slow
def test_credentials_never_reach_logs_artifacts_database_or_store(
    prefect_api, tmp_path, monkeypatch
):
    """The discovery flow against S3 with freshly made-up credentials; then every place a
    leak could land is searched for them: this process's log records, the run's logs and
    artifacts and run records on the Prefect API, every block document (secrets included),
    the Prefect database files, and every object in the bucket (reports included). The
    report notebook's parameters cell holds string literals only."""
    import boto3
    from moto.server import ThreadedMotoServer
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL
    from s3fs import S3FileSystem

    from physforge.config import DiscoveryConfig, PipelineConfig
    from physforge.flows import discover_flow

    key_id = "AKIA" + secrets.token_hex(8).upper()
    secret = secrets.token_urlsafe(30)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for k, v in {
            "AWS_ACCESS_KEY_ID": key_id,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            "PHYSFORGE_S3_ENDPOINT": endpoint,
        }.items():
            monkeypatch.setenv(k, v)
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="physforge")
        S3FileSystem.clear_instance_cache()
        data = _small_burgers(tmp_path)
        with _Capture(
            "",
            "prefect",
            "prefect.flow_runs",
            "prefect.task_runs",
            "physforge",
            "botocore",
            "s3fs",
            "papermill",
        ) as log:
            state = discover_flow(
                str(data),
                PipelineConfig(discovery=DiscoveryConfig(n_bootstrap=0)),
                "s3://physforge/secrets",
                return_state=True,
            )
        assert state.is_completed(), state
        flow_run_id = state.state_details.flow_run_id

        places: dict[str, str] = {"log records": log.text}
        assert "ingested" in log.text, "the run's log records were not captured"
        with get_client(sync_client=True) as client:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
            assert logs, "the run's logs were not captured"
            places["api logs"] = "\n".join(r.message for r in logs)
            arts = client.read_artifacts(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            assert arts, "the run has no artifacts"
            places["artifacts"] = "\n".join(a.model_dump_json() for a in arts)
            places["flow run"] = client.read_flow_run(flow_run_id).model_dump_json()
            places["task runs"] = "\n".join(
                r.model_dump_json()
                for r in client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
                )
            )
            places["blocks"] = "\n".join(
                json.dumps(d.data, default=str)
                for d in client.read_block_documents(include_secrets=True)
            )
        db = Path(PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split("///", 1)[1])
        places["database"] = "".join(
            p.read_bytes().decode("latin-1") for p in db.parent.glob(db.name + "*")
        )
        objects = [
            o["Key"] for o in s3.list_objects_v2(Bucket="physforge", Prefix="secrets/")["Contents"]
        ]
        assert any(k.endswith("report.html") for k in objects), objects
        places["store"] = "\n".join(
            s3.get_object(Bucket="physforge", Key=k)["Body"].read().decode("latin-1")
            for k in objects
        )
        # The report's link artifact is a presigned URL (one object, limited time): S3 puts
        # the access key *id* in its query by design (not the secret). That one place is
        # allowed; the id anywhere else, and the secret anywhere at all, is a leak.
        presigned = re.compile(r"(AWSAccessKeyId=|X-Amz-Credential=)" + re.escape(key_id))
        for where, text in places.items():
            assert secret not in text, f"secret access key found in {where}"
            assert key_id not in presigned.sub(r"\1<id>", text), f"access key id found in {where}"

        nb_key = next(k for k in objects if k.endswith("report.ipynb"))
        nb = json.loads(s3.get_object(Bucket="physforge", Key=nb_key)["Body"].read())
        [cell] = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
        for stmt in ast.parse("".join(cell["source"])).body:
            assert (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
            ), ast.dump(stmt)
    finally:
        S3FileSystem.clear_instance_cache()
        server.stop()


@pytest.mark.parametrize(
    "field, value",
    [
        ("store_url", "file:///tmp/x'; import os; os.system('id') #"),
        ("store_url", "file:///tmp/x\nimport os"),
        ("discovery_key", "discoveries/x\"); __import__('os').system('id'); (\""),
        ("dataset_key", "../../etc"),
    ],
)
def test_report_parameters_are_data_only(field, value):
    from pydantic import ValidationError

    from physforge.reporting.run import ReportInputs

    good = {
        "store_url": "file:///tmp/s",
        "discovery_key": "discoveries/a",
        "features_key": "features/b",
        "dataset_key": "datasets/c",
    }
    ReportInputs(**good)
    with pytest.raises(ValidationError):
        ReportInputs(**(good | {field: value}))
    with pytest.raises(ValidationError):
        ReportInputs(**(good | {"extra_code": "print(1)"}))


def test_secrets_never_appear_in_repr_str_or_logs_of_the_store_and_blocks(s3_server):
    """The store (with S3 credentials in its options), its transactions and artifacts, the
    result-storage block and the store block with its Secret blocks: repr, str, format and
    log records of each (``%s`` and ``%r``, also as an exception's message) hold neither the
    access key id nor the secret key."""
    from prefect.blocks.system import Secret

    from physforge.storage_blocks.blocks import result_storage_for
    from physforge.storage_blocks.registry import PhysForgeStore

    key_id, secret = "AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)
    store = ArtifactStore(
        "s3://physforge/masked",
        storage_options={
            "key": key_id,
            "secret": secret,
            "client_kwargs": {"endpoint_url": s3_server},
        },
    )
    with store.transaction("things/a") as tx:
        tx.put_json("a.json", {"x": 1})
        objects = [store, tx]
    objects += [
        store.artifact("things/a"),
        result_storage_for(store),
        PhysForgeStore(
            url="s3://physforge/masked",
            endpoint_url=s3_server,
            access_key_id=Secret(value=key_id),
            secret_access_key=Secret(value=secret),
        ),
    ]
    log = logging.getLogger("physforge.test-masking")
    with _Capture("physforge.test-masking") as cap:
        for obj in objects:
            log.warning("%s", obj)
            log.warning("%r", obj)
            log.warning("object: %s", [obj])
            try:
                raise StoreError(f"while using {obj}")
            except StoreError:
                log.exception("failed")
    texts = {
        f"{type(o).__name__} {how}": f(o)
        for o in objects
        for how, f in (("repr", repr), ("str", str), ("format", "{}".format))
    }
    texts["log records"] = cap.text
    assert "***" in repr(store) and "masked" in repr(store)
    for where, text in texts.items():
        assert key_id not in text, f"access key id in {where}"
        assert secret not in text, f"secret key in {where}"
