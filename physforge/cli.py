"""The ``physforge`` command (Typer + rich)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

# Prefect's ephemeral server needs no telemetry; set before prefect is imported.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

app = typer.Typer(
    name="physforge",
    help="Discover governing PDEs from field data; train PINN surrogates; propose experiments.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
err = Console(stderr=True)
out = Console()


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


@app.command()
def example(
    name: Annotated[str, typer.Argument(help="Example PDE: burgers.")] = "burgers",
    noise: Annotated[float, typer.Option(help="Gaussian noise, fraction of field std.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Noise seed.")] = 0,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="NetCDF file to write.")]
    = None,
) -> None:
    """Generate a canonical example dataset (NetCDF)."""
    from physforge.datasets.examples import make_example
    from physforge.errors import PhysForgeError

    try:
        ds = make_example(name, noise=noise, seed=seed)
    except PhysForgeError as exc:
        _fail(exc)
    path = output or Path(f"{name}.nc")
    ds.to_netcdf(path)
    err.print(f"wrote {path} ({dict(ds.sizes)}, noise {noise:g}): {ds.attrs['equation']}")


def _config(criterion: str | None, backend: str | None, derivatives: str | None,
            field: list[str] | None, time_: str | None, space: str | None):
    from physforge.config import PipelineConfig

    cfg = PipelineConfig().model_dump()
    if criterion:
        cfg["discovery"]["criterion"] = criterion
    if backend:
        cfg["discovery"]["backend"] = backend
    if derivatives:
        cfg["features"]["derivatives"] = derivatives
    if field:
        cfg["ingest"]["fields"] = field
    if time_:
        cfg["ingest"]["time"] = time_
    if space:
        cfg["ingest"]["space"] = space.split(",")
    return PipelineConfig.model_validate(cfg)


def print_equations(result: dict) -> None:
    table = Table(title=f"Discovered equations — {result['dataset']['uri']}")
    for col in ("rank", "equation", "complexity", "r²", "method"):
        table.add_column(col)
    for eq in result["equations"]:
        table.add_row(str(eq.get("rank", "")), f"{eq['lhs']} = {eq['rhs']}",
                      str(eq["score"]["complexity"]), f"{eq['score']['r2']:.6f}", eq["method"])
    out.print(table)
    best = result["equations"][0]
    for term, ci in best.get("ci95", {}).items():
        p = best.get("inclusion_probability", {}).get(term)
        out.print(f"  {term:>12}: {best['terms'].get(term, 0):+.6g}  95% CI [{ci[0]:.6g}, "
                  f"{ci[1]:.6g}]" + (f"  P(include)={p:.2f}" if p is not None else ""))


@app.command()
def discover(
    path: Annotated[str, typer.Argument(help="Data file or URI (NetCDF, .npz, …).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print only the result JSON.")] = False,
    store: Annotated[str | None, typer.Option(help="Store URL (default $PHYSFORGE_STORE).")] = None,
    criterion: Annotated[str | None, typer.Option(help="mstls | aic | aicc | bic")] = None,
    backend: Annotated[str | None, typer.Option(help="Regression backend: stlsq | sr3.")] = None,
    derivatives: Annotated[str | None, typer.Option(help="auto | finite-difference | …")] = None,
    field: Annotated[list[str] | None, typer.Option(help="Field variable(s) to model.")] = None,
    time_: Annotated[str | None, typer.Option("--time", help="Time coordinate name.")] = None,
    space: Annotated[str | None, typer.Option(help="Space coordinates, e.g. x,y.")] = None,
) -> None:
    """Discover the governing PDE of a dataset; prints ranked candidates."""
    from pydantic import ValidationError

    from physforge.errors import PhysForgeError

    try:
        cfg = _config(criterion, backend, derivatives, field, time_, space)
    except ValidationError as exc:
        _fail(exc)
    from physforge.flows import discover as run_discover

    start = time.perf_counter()
    try:
        if json_out:
            result = _quiet(run_discover, path, cfg, store)
        else:
            result = run_discover(path, cfg, store)
    except PhysForgeError as exc:
        _fail(exc)
    if json_out:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    print_equations(result)
    err.print(f"done in {time.perf_counter() - start:.1f} s")


def _quiet(fn, *args):
    """Run with Prefect's console logs on stderr only, so stdout carries just the JSON."""
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        return fn(*args)
    finally:
        sys.stdout = real_stdout


@app.command()
def demo(
    noise: Annotated[float, typer.Option(help="Noise on the example data.")] = 0.0,
    store: Annotated[str | None, typer.Option(help="Store URL (default $PHYSFORGE_STORE).")] = None,
) -> None:
    """Generate the Burgers example, run discovery on it, print the equation."""
    from physforge.datasets.examples import make_example
    from physforge.flows import discover as run_discover

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "burgers.nc")
        make_example("burgers", noise=noise).to_netcdf(path)
        err.print(f"generated Burgers data (u_t = -u u_x + 0.1 u_xx), noise {noise:g}")
        result = run_discover(path, None, store)
    print_equations(result)
    best = result["equations"][0]
    out.print(f"\n[bold green]Discovered:[/] {best['lhs']} = {best['rhs']}")
    _print_report(result["report"]["html"])


def _print_report(html_uri: str) -> None:
    """Where the report is: a local file path for a file:// store, else its URI."""
    where = html_uri.removeprefix("file://")
    out.print(f"[bold]Report:[/] {where}", soft_wrap=True)


@app.command()
def report(
    result: Annotated[str, typer.Argument(
        help="A discovery's store URI (<store>/discoveries/<key>) or a result JSON file.")],
) -> None:
    """Regenerate the report (executed notebook + HTML) of a discovery from its stored refs."""
    from physforge.errors import PhysForgeError
    from physforge.reporting.notebook import write_report
    from physforge.reporting.run import ReportInputs, load_result

    try:
        doc = load_result(result)
        rep = write_report(ReportInputs.from_result(doc), force=True)
    except PhysForgeError as exc:
        _fail(exc)
    err.print(f"notebook: {rep.ipynb}")
    _print_report(rep.html)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
