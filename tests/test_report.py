"""Discovery reports: figures, the executed notebook, its HTML in Chromium, artifacts, CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
DOCS_SHOT = REPO / "docs" / "report_screenshot.png"


# --- plain functions ------------------------------------------------------------------------


def test_parameters_are_data_only():
    from pydantic import ValidationError

    from physforge.reporting.run import ReportInputs

    ok = ReportInputs(
        store_url="file:///tmp/s",
        discovery_key="discoveries/abc",
        features_key="features/def",
        dataset_key="datasets/0123",
    )
    assert ok.parameters()["surrogate_key"] == ""
    bad = [
        {"store_url": 'file:///tmp/s"\nimport os'},
        {"store_url": "/tmp/not-a-url"},
        {"discovery_key": 'discoveries/abc"; import os; "'},
        {"discovery_key": "../../etc"},
        {"features_key": "features/x\nprint(1)"},
        {"surrogate_key": "/abs/path"},
        {"dataset_key": ""},
    ]
    for override in bad:
        args = ok.model_dump() | override
        with pytest.raises(ValidationError):
            ReportInputs(**args)
    with pytest.raises(ValidationError):
        ReportInputs(**ok.model_dump(), code="print(1)")


def test_store_uris_split_into_store_and_key():
    from physforge.errors import ConfigError
    from physforge.reporting.run import split_store_uri

    assert split_store_uri("file:///a/b/store/discoveries/k1") == (
        "file:///a/b/store",
        "discoveries/k1",
    )
    assert split_store_uri("s3://bkt/runs/features/f9/") == ("s3://bkt/runs", "features/f9")
    with pytest.raises(ConfigError, match="not an artifact URI"):
        split_store_uri("file:///a/b/c")


def test_pareto_front_keeps_only_non_dominated_models():
    from physforge.reporting.figures import pareto_front

    pts = [
        {"lhs": "u_t", "complexity": c, "loss": loss}
        for c, loss in [(1, 0.5), (2, 1e-6), (2, 1e-3), (3, 1e-6), (4, 1e-7), (5, 0.1)]
    ]
    front = pareto_front(pts)
    assert [(p["complexity"], p["loss"]) for p in front] == [(1, 0.5), (2, 1e-6), (4, 1e-7)]


def test_derivative_methods_agree_on_a_smooth_periodic_field():
    from physforge.reporting.figures import derivative_estimates

    x = np.linspace(0, 2 * np.pi, 128, endpoint=False)
    t = np.linspace(0, 1, 20)
    ds = xr.Dataset(
        {"u": (("t", "x"), np.sin(x)[None, :] * np.exp(-t)[:, None])},
        coords={"t": t, "x": x},
        attrs={"periodic": "x"},
    )
    est = derivative_estimates(ds, "u", 1, "x")
    assert set(est) == {"finite-difference", "spectral", "poly"}
    exact = np.cos(x)[None, :] * np.exp(-t)[:, None]
    for name, d in est.items():
        assert np.nanmax(np.abs(d - exact)) < 1e-3, name
    est2 = derivative_estimates(ds.assign_attrs(periodic="none"), "u", 2, "x")
    assert "spectral" not in est2 and np.isnan(est2["finite-difference"][:, 0]).all()


def test_equation_figure_typesets_the_result_latex():
    from physforge.reporting.figures import equation_figure, mathtext, to_png

    latex = "u_{t} = - 1 u u_{x} + 0.1 u_{xx}"
    assert mathtext(latex) == r"u_{t} = - 1\,u\,u_{x} + 0.1\,u_{xx}"
    png = to_png(equation_figure([{"latex": latex}, {"latex": r"v_{t} = \bad{"}]))
    assert png.startswith(b"\x89PNG")


@pytest.mark.parametrize("shape", ["heat2d", "two-fields", "scattered"])
def test_figures_draw_every_dataset_shape(shape):
    """Two space dimensions, a system of two fields, scattered points: every figure draws."""
    from physforge.datasets.examples import make_example
    from physforge.reporting import figures as F

    if shape == "heat2d":
        ds = make_example("heat2d", n=24, nt=9)
    elif shape == "two-fields":
        ds = make_example("reaction_diffusion", nx=64, nt=21, t_end=1.0)
    else:
        rng = np.random.default_rng(0)
        t, x = rng.uniform(0, 1, 300), rng.uniform(-1, 1, 300)
        ds = xr.Dataset(
            {"u": ("point", np.sin(3 * x) * np.exp(-t))},
            coords={"t": ("point", t), "x": ("point", x)},
            attrs={"physforge_layout": "scattered", "physforge_time": "t", "physforge_space": "x"},
        )
    field = sorted(ds.data_vars)[-1]
    figs = [
        F.field_figure(ds, field),
        F.proposals_figure(ds, field, [{"t": 0.5, "x": 0.1, "y": 0.2, "score": 1.0}]),
    ]
    if shape != "scattered":
        figs += [
            F.derivative_figure(ds, field, orders=(1, 2)),
            F.surrogate_figure(ds, ds.assign({f"{field}_std": 0.1 + 0 * ds[field]}), field),
        ]
    for fig in figs:
        assert F.to_png(fig).startswith(b"\x89PNG")


# --- a run of the flow and its report ---------------------------------------------------------


@pytest.fixture(scope="module")
def run(prefect_api, burgers_clean, tmp_path_factory):
    """One discovery run of clean Burgers data, with its report."""
    from physforge.flows import discover_flow

    store = f"file://{tmp_path_factory.mktemp('report')}/store"
    state = discover_flow(str(burgers_clean), store=store, return_state=True)
    return state.result(), state.state_details.flow_run_id, store


def _notebook(uri: str) -> dict:
    from physforge.reporting.run import split_store_uri
    from physforge.storage_blocks.store import ArtifactStore

    url, key = split_store_uri(uri.rsplit("/", 2)[0])  # <key>/tx-<id>/report.ipynb
    return json.loads(ArtifactStore(url).artifact(key).read_bytes("report.ipynb"))


def _outputs(nb: dict) -> list[dict]:
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def _text(o: dict, mime: str) -> str:
    v = o.get("data", {}).get(mime, "")
    return "".join(v) if isinstance(v, list) else v


def test_flow_writes_the_executed_report_with_figures_and_equation(run):
    result, _, store = run
    best = result["equations"][0]
    assert set(best["terms"]) == {"u*u_x", "u_xx"}
    rep = result["report"]
    assert rep["ipynb"].startswith(store + "/reports/") and rep["ipynb"].endswith("report.ipynb")
    assert rep["html"].endswith("report.html")
    nb = _notebook(rep["ipynb"])
    outs = _outputs(nb)
    assert not [o for o in outs if o["output_type"] == "error"]
    assert not [o for o in outs if o.get("name") == "stderr"], "warnings leaked into the report"
    pngs = [o for o in outs if "image/png" in o.get("data", {})]
    # equation, data field, derivatives, Pareto front, coefficients
    assert len(pngs) >= 5
    latex = [_text(o, "text/latex") for o in outs]
    assert f"$${best['latex']}$$" in latex
    md = "\n".join(_text(o, "text/markdown") for o in outs)
    assert "No surrogate in this run." in md and "No proposals in this run." in md
    assert "could not be drawn" not in md
    assert f"`{best['lhs']} = {best['rhs']}`" in md  # the ranked candidates table
    # the parameters papermill injected are the run's refs, as strings
    injected = next(
        c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])
    )
    assert result["discovery"]["uri"].split("/discoveries/")[1] in "".join(injected["source"])
    # the kernel was this interpreter's environment
    assert sys.prefix in md


def test_pareto_front_draws_the_models_the_discovery_scored(run):
    """The discovery stores every candidate it scored (models.json); the report's Pareto
    figure reads them instead of re-running the sweep, and the chosen model is among them."""
    from physforge.reporting.figures import pareto_front, pareto_points
    from physforge.reporting.run import ReportInputs, load_run

    result, _, store = run
    data = load_run(ReportInputs.from_result(result, store))
    assert data.models, "the discovery stored no models.json"
    best = result["equations"][0]  # its terms in strong form; the models' in the library's
    loss = 1 - best["score"]["r2"]
    assert any(
        m["complexity"] == len(best["terms"]) and m["loss"] == pytest.approx(loss, rel=1e-6)
        for m in data.models
    ), (loss, data.models)
    # the very models a re-run of the sweep finds, and so the same front
    cfg = result["config"]["discovery"]
    swept = pareto_points(data.features, cfg["backend"], cfg["n_thresholds"])
    key = lambda p: (p["lhs"], tuple(sorted(p["terms"])))  # noqa: E731
    assert sorted(map(key, swept)) == sorted(map(key, data.models))
    assert [key(p) for p in pareto_front(swept)] == [key(p) for p in pareto_front(data.models)]


def test_html_export_holds_equation_and_figures(run):
    from physforge.reporting.run import split_store_uri
    from physforge.storage_blocks.store import ArtifactStore

    result, _, _ = run
    url, key = split_store_uri(result["report"]["html"].rsplit("/", 2)[0])  # …/tx-<id>/…
    html = ArtifactStore(url).artifact(key).read_bytes("report.html").decode()
    assert result["equations"][0]["latex"] in html  # the MathML's annotation
    # offline: the equation is MathML, and nothing is loaded from the network
    assert re.search(r'<math [^>]*display="block"[^>]*><semantics>', html)
    assert not re.findall(r'<script[^>]*\bsrc=["\']?(?:https?:)?//', html)
    assert not re.findall(r'<link[^>]*\bhref=["\']?(?:https?:)?//', html)
    assert not re.findall(r'@import\s+url\(\s*["\']?(?:https?:)?//|url\(\s*["\']?https?://', html)
    assert "mathjax" not in html.lower() and "cdnjs" not in html
    imgs = re.findall(r'<img alt="([^"]*)"[^>]*src="data:image/png;base64,', html)
    assert len(imgs) >= 5 and "the measured field u" in imgs
    assert "cells.header(run)" not in html  # outputs only; the .ipynb keeps the code
    assert "No surrogate in this run." in html


def _artifacts(flow_run_id) -> dict[str, dict]:
    from prefect.client.orchestration import get_client

    # the raw endpoint: the client's read_artifacts sends null filters that the server refuses
    with get_client(sync_client=True) as client:
        arts = client.request(
            "POST",
            "/artifacts/filter",
            json={"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}},
        ).json()
    return {a["key"]: a for a in arts}


def test_every_run_has_summary_table_and_link_artifacts(run, burgers_clean):
    from physforge.flows import discover_flow

    result, flow_run_id, store = run
    for run_id in (flow_run_id, None):
        if run_id is None:  # a second, fully cached run still publishes them
            state = discover_flow(str(burgers_clean), store=store, return_state=True)
            run_id = state.state_details.flow_run_id
        arts = _artifacts(run_id)
        assert {"physforge-discovery", "physforge-candidates", "physforge-report"} <= set(arts)
        md = arts["physforge-discovery"]["data"]
        assert result["equations"][0]["latex"] in md and "AIC" in md  # as MathML's annotation
        assert "<math" in md and "$" not in md  # rendered without MathJax
        assert "`u_t = -1 u*u_x + 0.1 u_xx`" in md and "the sparsest fit within" in md
        table = json.loads(arts["physforge-candidates"]["data"])
        assert table[0]["equation"] == "u_t = -1 u*u_x + 0.1 u_xx"  # compact, rounded
        assert table[0]["terms"] == 2 and float(table[0]["1-r2"]) < 1e-6
        assert len(table) == len(result["equations"])
        # a local report: its path, plainly, not a file:// link the UI cannot open
        report = arts["physforge-report"]
        assert report["type"] == "markdown" and "file://" not in report["data"]
        assert result["report"]["html"].removeprefix("file://") in report["data"]


def _write_stage(store_url: str, key: str, name: str, content) -> str:
    from physforge.storage_blocks.store import ArtifactStore

    with ArtifactStore(store_url).transaction(key, meta={"kind": "test"}) as tx:
        if isinstance(content, xr.Dataset):
            tx.put_zarr(name, content)
        else:
            tx.put_json(name, content)
    return key


def test_surrogate_and_proposals_are_plotted_when_the_run_has_them(run):
    """The stages other issues add: a surrogate's predictions.zarr and proposals.json."""
    from physforge.reporting.notebook import execute_notebook
    from physforge.reporting.run import ReportInputs
    from physforge.storage_blocks.store import ArtifactStore

    result, _, store = run
    inputs = ReportInputs.from_result(result)
    data = ArtifactStore(store).artifact(inputs.dataset_key).open_zarr("data.zarr").load()
    pred = (data + 0.01 * np.sin(data["x"])).assign(u_std=0.01 + 0 * data["u"])
    sur = _write_stage(store, "surrogates/test-prediction", "predictions.zarr", pred)
    props = _write_stage(
        store,
        "proposals/test-points",
        "proposals.json",
        {"points": [{"t": 2.0, "x": 1.0, "score": 0.3}, {"t": 7.5, "x": -4.0, "score": 0.9}]},
    )
    nb = json.loads(
        execute_notebook(inputs.model_copy(update={"surrogate_key": sur, "proposals_key": props}))
    )
    outs = _outputs(nb)
    md = "\n".join(_text(o, "text/markdown") for o in outs)
    assert "No surrogate" not in md and "No proposals" not in md
    assert len([o for o in outs if "image/png" in o.get("data", {})]) >= 7


# --- the HTML in a browser --------------------------------------------------------------------

APT_CHROMIUM = "apt-get update && apt-get install -y chromium"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if path := shutil.which(name):
            return path
    return None


def _chromium_or_install() -> tuple[str | None, str]:
    """Chromium, installed from Debian's archive when missing and we may (root with apt-get)."""
    if path := _chromium():
        return path, ""
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")):
        return None, "not root or no apt-get"
    proc = subprocess.run(
        ["bash", "-c", APT_CHROMIUM],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return _chromium(), (proc.stdout + proc.stderr)[-500:]


def test_html_report_renders_in_headless_chromium(run, tmp_path):
    from PIL import Image

    browser, why = _chromium_or_install()
    if browser is None:
        pytest.skip(
            f"no Chromium on this machine and it could not be installed ({why}); "
            f"install it with `{APT_CHROMIUM}` (Debian) to run the screenshot test"
        )
    result, _, _ = run
    html = Path(result["report"]["html"].removeprefix("file://"))
    assert html.is_file()
    shot = tmp_path / "report.png"
    # network off: every host resolves to nothing and every request goes to a dead proxy
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=http://127.0.0.1:9",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--hide-scrollbars",
        f"--screenshot={shot}",
        "--window-size=1280,4000",
        html.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert img.shape[:2] == (4000, 1280)
    assert img.std() > 10, "the screenshot is blank"
    # figures: coloured pixels (the field's colour map), not only text on white
    sat = img.max(axis=2) - img.min(axis=2)
    assert (sat > 60).mean() > 0.01
    # content in the top, middle and lower part of the page
    for band in np.array_split(img, 4)[:3]:
        assert band.std() > 5
    if os.environ.get("PHYSFORGE_UPDATE_SCREENSHOT"):
        DOCS_SHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SHOT)


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_report_regenerates_from_the_discovery_uri(run):
    result, _, _ = run
    proc = subprocess.run(
        [str(BIN / "physforge"), "report", result["discovery"]["uri"]],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    where = proc.stdout.split("Report:", 1)[1].split()[0]
    assert Path(where).is_file() and where.endswith("report.html")

    bad = subprocess.run(
        [str(BIN / "physforge"), "report", result["features"]["uri"]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "expected a discovery" in bad.stderr


@pytest.mark.slow
def test_demo_prints_where_the_report_is(tmp_path):
    env = {**os.environ, "PHYSFORGE_STORE": str(tmp_path / "store")}
    proc = subprocess.run(
        [str(BIN / "physforge"), "demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    where = proc.stdout.split("Report:", 1)[1].split()[0]
    assert where.startswith(str(tmp_path / "store" / "reports")) and Path(where).is_file()


def test_notebook_runs_by_hand_on_the_latest_discovery(run, tmp_path, monkeypatch):
    """Run All on the template as it is (no parameters injected): the documented empty
    defaults report the latest discovery in $PHYSFORGE_STORE, top to bottom without error."""
    import nbformat
    from nbclient import NotebookClient

    result, _, store = run
    monkeypatch.setenv("PHYSFORGE_STORE", store)  # the kernel inherits it
    nb = nbformat.read(REPO / "notebooks" / "discovery_report.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    for name in ("store_url", "discovery_key", "features_key", "dataset_key"):
        assert f'{name} = ""' in params.source and f"#   {name}" in params.source
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outs if o["output_type"] == "error"]
    md = "\n".join(_text(o, "text/markdown") for o in outs)
    assert result["discovery"]["uri"].split("/discoveries/")[1] in md  # provenance: that run
