"""The ``physforge`` command (Typer + rich).

Every failure ends the same way (:class:`PhysForgeApp`): one line ``error: <message>`` on
stderr and exit code 2 for input the user can fix (data, options, store, runtime) or 1 for a
failure inside PhysForge; ``--debug`` (or ``PHYSFORGE_DEBUG=1``) prints the traceback first.
Choices and defaults in the help come from the registries and configuration models the code
uses, and options are checked before any work starts.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast, get_args

import typer
from rich.console import Console
from rich.table import Table

from physforge import console as _console
from physforge.config import DiscoveryConfig, FeatureConfig, ProposalConfig, SurrogateConfig
from physforge.datasets.examples import EXAMPLES
from physforge.discovery.derivatives import derivative_choices
from physforge.discovery.regression import backend_choices
from physforge.server import CommandApi

_console.env_defaults()  # before Prefect is imported


class PhysForgeApp(typer.Typer):
    """Typer, with one error path: ``error: <message>`` and an exit code, no traceback.

    ``--debug`` and ``--verbose`` are taken from anywhere on the command line (before ``--``),
    so ``physforge discover data.nc --debug`` works as well as ``physforge --debug discover``.
    """

    def __call__(
        self, args: list[str] | None = None, prog_name: str | None = None, **kwargs
    ) -> None:
        args = list(sys.argv[1:] if args is None else args)
        end = args.index("--") if "--" in args else len(args)
        head, tail = args[:end], args[end:]
        debug = "--debug" in head or _console.debug_enabled()
        verbose = "--verbose" in head
        head = [a for a in head if a not in ("--debug", "--verbose")]
        _console.setup(verbose=verbose, debug=debug)
        try:
            code = typer.main.get_command(self).main(
                args=head + tail,
                prog_name=prog_name or "physforge",
                standalone_mode=False,
                **kwargs,
            )
            if isinstance(code, int) and code:  # Exit (Ctrl-C: 130) comes back as a value
                sys.exit(code)
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        except typer.Abort:
            sys.stderr.write("aborted\n")
            sys.exit(130)
        except typer.TyperException as exc:  # a bad option or argument
            sys.exit(_usage_error(exc))
        except KeyboardInterrupt:
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the one place every failure is reported
            sys.exit(_console.report_failure(exc))


def _usage_error(exc: typer.TyperException) -> int:
    """A refused option or argument, as one line naming it (Typer's message) and the help."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # `physforge` alone: the help was printed
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            sys.stdout.write(ctx.get_help() + "\n")
        return 0
    ctx = getattr(exc, "ctx", None)
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    text = " ".join(exc.format_message().replace("Value error, ", "").split())
    sys.stderr.write(f"error: {text}{where}\n")
    return exc.exit_code


app = PhysForgeApp(
    name="physforge",
    help="Discover governing PDEs from field data; train PINN surrogates; propose experiments.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
err = Console(stderr=True)
out = Console()


@app.callback()
def _global_options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", help="Show Prefect's and Dask's INFO logs (default: warnings only)."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="On failure, print the traceback (also $PHYSFORGE_DEBUG=1)."),
    ] = False,
) -> None:
    """Discover governing PDEs from field data; train PINN surrogates; propose experiments."""


def _choices(name: str, values: list[str]) -> type[enum.Enum]:
    return cast("type[enum.Enum]", enum.Enum(name, {v: v for v in values}, type=str))


def _listing(values, default: str | None = None) -> str:
    return ", ".join(f"{v} (default)" if v == default else str(v) for v in values)


def _default(model, field: str):
    return model.model_fields[field].default


if TYPE_CHECKING:  # what mypy sees of the option enums, which are built from the registries
    from enum import StrEnum as Acquisition
    from enum import StrEnum as Backend
    from enum import StrEnum as Criterion
    from enum import StrEnum as Derivatives
    from enum import StrEnum as Example
    from enum import StrEnum as Network
    from enum import StrEnum as Physics
else:
    Backend = _choices("Backend", backend_choices())
    Derivatives = _choices("Derivatives", derivative_choices())
    Criterion = _choices(
        "Criterion", list(get_args(DiscoveryConfig.model_fields["criterion"].annotation))
    )
    Example = _choices("Example", list(EXAMPLES))
    Network = _choices(
        "Network", list(get_args(SurrogateConfig.model_fields["network"].annotation))
    )
    Physics = _choices(
        "Physics", list(get_args(SurrogateConfig.model_fields["physics"].annotation))
    )
    Acquisition = _choices(
        "Acquisition", list(get_args(ProposalConfig.model_fields["acquisition"].annotation))
    )
_ACQUISITION = _default(ProposalConfig, "acquisition")
_BACKEND = _default(DiscoveryConfig, "backend")
_DERIVATIVES = _default(FeatureConfig, "derivatives")
_CRITERION = _default(DiscoveryConfig, "criterion")


def _value(choice) -> str | None:
    return None if choice is None else getattr(choice, "value", choice)


def _check_source(path: str) -> None:
    """A local data file that is not there is refused before any work starts."""
    from physforge.errors import DataValidationError

    if "://" not in path and not Path(path).exists():
        raise DataValidationError(
            f"{path}: file not found; expected a data file (NetCDF, HDF5, Zarr, .npz, .mat, "
            "CSV or Parquet) or a URI such as s3://bucket/run1.nc"
        )


def _open_store(url: str | None):
    """The artifact store, opened (bucket checked) before any work starts."""
    from physforge.errors import StoreError
    from physforge.storage_blocks.store import ArtifactStore

    try:
        return ArtifactStore(url)
    except (ValueError, ImportError) as exc:  # fsspec: a protocol it does not know
        raise StoreError(
            f"store {url!r}: {' '.join(str(exc).split())}; expected a folder, "
            "file://PATH or s3://bucket/prefix"
        ) from None


@app.command()
def example(
    name: Annotated[
        Example,
        typer.Argument(help=f"Example PDE: {_listing(EXAMPLES, 'burgers')}.", show_default=False),
    ] = Example("burgers"),
    noise: Annotated[
        float, typer.Option(min=0.0, help="Gaussian noise, fraction of field std.")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Noise seed.")] = 0,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="NetCDF file to write (default: NAME.nc).")
    ] = None,
) -> None:
    """Generate a canonical example dataset (NetCDF) with its true equation in the attributes."""
    from physforge.datasets.examples import make_example

    ds = make_example(name.value, noise=noise, seed=seed)
    path = output or Path(f"{name.value}.nc")
    complex_fields = any(v.dtype.kind == "c" for v in ds.data_vars.values())
    ds.to_netcdf(path, **({"engine": "netcdf4", "auto_complex": True} if complex_fields else {}))
    err.print(
        f"wrote {path} ({dict(ds.sizes)}, noise {noise:g}): {ds.attrs['equation']}", soft_wrap=True
    )


def _config(
    criterion: str | None,
    backend: str | None,
    derivatives: str | None,
    field: list[str] | None,
    time_: str | None,
    space: str | None,
    given: list[str] | None = None,
    coordinate_degree: int | None = None,
):
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
    if given:
        cfg["ingest"]["given"] = [g for item in given for g in item.split(",") if g]
    if coordinate_degree is not None:
        cfg["features"]["coordinate_degree"] = coordinate_degree
    return PipelineConfig.model_validate(cfg)


def print_equations(result: dict, full: bool = False) -> None:
    """The ranked candidates: compact (top 3 per lhs, coefficients to 4 significant digits,
    negligible terms folded into "+ k small terms") or, with ``full``, everything."""
    from rich import box
    from rich.markup import escape

    from physforge.discovery.terms import real_parts
    from physforge.reporting.table import (
        compact_equation,
        one_minus_r2,
        selection_reason,
        top_candidates,
    )

    rows = result["equations"] if full else top_candidates(result)
    methods = sorted({eq["method"] for eq in rows})
    one_method = len(methods) == 1  # then named in the title, not in a column
    title = f"Discovered equations — {result['dataset']['uri']}" + (
        f" ({methods[0]})" if one_method else ""
    )
    table = Table(title=title, box=box.SIMPLE, title_justify="left", pad_edge=False)
    cols = ["rank", "equation", "terms", "1−R²" if not full else "R²", "AIC", "BIC"]
    for col in cols + ([] if one_method else ["method"]):
        table.add_column(col, overflow="fold", no_wrap=col != "equation")
    for eq in rows:
        s = eq["score"]
        table.add_row(
            str(eq.get("rank", "")),
            f"{eq['lhs']} = {eq['rhs']}" if full else compact_equation(eq),
            str(len(eq.get("terms", {}))),
            f"{s['r2']:.17g}" if full else one_minus_r2(eq),
            f"{s['aic']:.1f}",
            f"{s['bic']:.1f}",
            *([] if one_method else [eq["method"]]),
        )
    out.print(table)
    lhs_seen = []
    for eq in result["equations"]:
        if eq["lhs"] in lhs_seen:
            continue
        lhs_seen.append(eq["lhs"])
        out.print(f"[bold]Why:[/] {selection_reason(result, eq['lhs'])}", soft_wrap=True)
        if eq.get("identifiable") is False:  # another support fits the data as well
            alts = "; ".join(" + ".join(a.get("terms", {})) for a in eq.get("alternatives", []))
            out.print(
                f"[yellow]warning:[/] {eq['lhs']} is not identifiable from these data: "
                f"{alts or 'other supports'} fit as well",
                soft_wrap=True,
            )
        view = real_parts(eq)  # a complex coefficient as its Re[term] and Im[term]
        p_incl = view.get("inclusion_probability", {})
        for term, ci in view.get("ci95", {}).items():
            c = view["terms"].get(term, 0)
            p = p_incl.get(term)
            out.print(
                escape(
                    f"  {term:>12}: {c:+.6g}  95% CI [{ci[0]:.6g}, {ci[1]:.6g}]"
                    + (f"  P(include)={p:.2f}" if p is not None else "")
                ),
                soft_wrap=True,
            )
    if not full and len(top_candidates(result)) < len(result["equations"]):
        out.print(f"({len(result['equations'])} candidates; --full shows all)")


_STORE_HELP = (
    "Store URL: a folder, file://PATH or s3://bucket/prefix (default $PHYSFORGE_STORE, "
    "else ./physforge-store)."
)


@app.command()
def discover(
    path: Annotated[
        str, typer.Argument(help="Data file or URI (NetCDF, HDF5, Zarr, .npz, .mat, CSV, Parquet).")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print only the result JSON.")] = False,
    store: Annotated[str | None, typer.Option(help=_STORE_HELP)] = None,
    criterion: Annotated[
        Criterion,
        typer.Option(help=f"Model selection: {_listing(Criterion.__members__, _CRITERION)}."),
    ] = Criterion(_CRITERION),
    backend: Annotated[
        Backend,
        typer.Option(help=f"Regression backend: {_listing(Backend.__members__, _BACKEND)}."),
    ] = Backend(_BACKEND),
    derivatives: Annotated[
        Derivatives,
        typer.Option(help=f"Derivatives: {_listing(Derivatives.__members__, _DERIVATIVES)}."),
    ] = Derivatives(_DERIVATIVES),
    field: Annotated[
        list[str] | None, typer.Option(help="Field variable(s) to model (default: auto-detected).")
    ] = None,
    time_: Annotated[
        str | None, typer.Option("--time", help="Time coordinate name (default: auto-detected).")
    ] = None,
    space: Annotated[
        str | None, typer.Option(help="Space coordinates, e.g. x,y (default: auto-detected).")
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Every candidate with every term and full precision (default: a compact table).",
        ),
    ] = False,
    given: Annotated[
        list[str] | None,
        typer.Option(
            help="A variable of the file that enters the equation but is not modelled (a "
            "potential V, a forcing); repeat or comma-separate for several."
        ),
    ] = None,
    coordinate_degree: Annotated[
        int,
        typer.Option(
            min=0,
            max=4,
            help="Library terms times coordinate monomials up to this degree (x**2*u).",
        ),
    ] = _default(FeatureConfig, "coordinate_degree"),
) -> None:
    """Discover the governing PDE of a dataset; prints ranked candidates. A complex field
    (complex arrays, or u_re/u_im pairs) gets complex coefficients."""
    cfg = _config(
        criterion.value,
        backend.value,
        derivatives.value,
        field,
        time_,
        space,
        given,
        coordinate_degree,
    )
    _check_source(path)
    artifact_store = _open_store(store)
    store_url = artifact_store.url
    start = time.perf_counter()
    from physforge.runs import recall

    cached = recall(path, cfg, artifact_store)
    if cached is not None:  # done before: same data, configuration and code
        if json_out:
            sys.stdout.write(json.dumps(cached, indent=2) + "\n")
            return
        print_equations(cached, full=full)
        _print_report(cached.get("report", {}).get("html"))
        run_id = cached["cached"].get("flow_run_id")
        err.print(
            f"cached: the result of flow run {run_id or '?'} "
            f"({cached['cached'].get('computed_at') or 'earlier'}); nothing was recomputed",
            soft_wrap=True,
        )
        err.print(f"done in {time.perf_counter() - start:.1f} s")
        return
    with CommandApi() as api, _training_progress():
        from physforge.flows import discover_flow  # while the embedded API starts

        api.wait()
        if json_out:
            result = _quiet(
                lambda: _off_main_thread(
                    lambda: discover_flow(path, cfg, store_url, return_state=True).result()
                )
            )
            sys.stdout.write(json.dumps(result, indent=2) + "\n")
            return
        state = _off_main_thread(lambda: discover_flow(path, cfg, store_url, return_state=True))
        result = state.result()
        print_equations(result, full=full)
        _print_report(result.get("report", {}).get("html"), state.state_details.flow_run_id)
    err.print(f"done in {time.perf_counter() - start:.1f} s")


@contextlib.contextmanager
def _training_progress():
    """Lines on stderr while a surrogate the flow trains advances (see watch_training)."""
    import threading

    from physforge.reporting.progress import watch_training

    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_training,
        daemon=True,
        args=(stop, lambda line: err.print(line, soft_wrap=True, highlight=False)),
    )
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join(timeout=5)


def _off_main_thread(fn):
    """``fn()`` in a worker thread while the main thread waits, so SIGTERM and Ctrl-C reach
    the command's own handlers: a flow run in the main thread swaps in Prefect's SIGTERM
    bridge, under which a terminated ``discover`` ran on to the end. Off the main thread
    Prefect installs no handler; the command unwinds (the embedded API stops) and the
    worker, a daemon thread, ends with the process."""
    import contextvars
    import threading

    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            box["error"] = exc

    worker = threading.Thread(  # in this thread's context: its Prefect settings, heartbeats
        target=contextvars.copy_context().run, args=(work,), name="physforge-flow", daemon=True
    )
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if "error" in box:
        raise box["error"]
    return box["value"]


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
    noise: Annotated[float, typer.Option(min=0.0, help="Noise on the example data.")] = 0.0,
    store: Annotated[str | None, typer.Option(help=_STORE_HELP)] = None,
) -> None:
    """Generate the Burgers example, run discovery on it, print the equation."""
    store_url = _open_store(store).url
    with CommandApi() as api, tempfile.TemporaryDirectory() as tmp:
        from physforge.config import PipelineConfig
        from physforge.datasets.examples import make_example
        from physforge.flows import discover_flow

        path = os.path.join(tmp, "burgers.nc")
        make_example("burgers", noise=noise).to_netcdf(path)
        err.print(f"generated Burgers data (u_t = -u u_x + 0.1 u_xx), noise {noise:g}")
        api.wait()
        state = discover_flow(path, PipelineConfig(), store_url, return_state=True)
        result = state.result()
        print_equations(result)
        best = result["equations"][0]
        out.print(f"\n[bold green]Discovered:[/] {best['lhs']} = {best['rhs']}")
        _print_report(result["report"]["html"], state.state_details.flow_run_id)


def _print_report(html_uri: str | None, flow_run_id=None) -> None:
    """Where the report is (a local file path for a file:// store, else its URI), and the
    Prefect UI's page of the run where a UI is reachable."""
    from physforge.reporting.links import run_ui_link

    if html_uri:
        out.print(f"[bold]Report:[/] {html_uri.removeprefix('file://')}", soft_wrap=True)
    link = run_ui_link(flow_run_id) if flow_run_id else None
    if link:
        out.print(f"[bold]Prefect UI:[/] {link}", soft_wrap=True)


@app.command()
def report(
    result: Annotated[
        str,
        typer.Argument(
            help="A discovery's store URI (<store>/discoveries/<key>) or a result JSON file."
        ),
    ],
    execute: Annotated[
        bool,
        typer.Option(
            "--execute",
            help="Execute the notebook in a Jupyter kernel (papermill) and export it "
            "with nbconvert, instead of rendering the sections in this process.",
        ),
    ] = False,
) -> None:
    """Regenerate the report (notebook + HTML) of a discovery from its stored refs."""
    from physforge.reporting.notebook import write_report
    from physforge.reporting.run import ReportInputs, load_result

    doc = load_result(result)
    rep = write_report(ReportInputs.from_result(doc), force=True, execute=execute)
    err.print(f"notebook: {rep.ipynb}", soft_wrap=True)
    _print_report(rep.html)


@app.command()
def solve(
    spec: Annotated[
        Path,
        typer.Argument(
            help="Problem spec (YAML), e.g. examples/specs/heat_1d.yaml.",
            exists=True,
            dir_okay=False,
        ),
    ],
    store: Annotated[str | None, typer.Option(help=_STORE_HELP)] = None,
    dask: Annotated[bool, typer.Option(help="Train on a Dask cluster (else in-process).")] = True,
) -> None:
    """Train a PINN for a forward problem; store its solution and model card."""
    from physforge.pinn.problems import load_spec

    problem = load_spec(spec)
    store_url = _open_store(store).url
    with CommandApi() as api:
        from physforge.flows.solve import solve as run_solve

        api.wait()
        result = run_solve(problem, store_url, use_dask=dask)
    err_ = result["errors"].get("relative_l2")
    out.print(f"[bold green]{result['name']}[/]: model {result['model']}")
    out.print(f"  solution {result['solution']}")
    if err_ is not None:
        out.print(f"  relative L2 error {err_:.3e} against {result['errors']['reference']}")


@app.command()
def predict(
    model: Annotated[str, typer.Argument(help="solutions/<key> (with --store) or its full URI.")],
    points: Annotated[
        Path,
        typer.Argument(help="CSV with one column per model input.", exists=True, dir_okay=False),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="CSV to write (default: stdout).")
    ] = None,
    store: Annotated[str | None, typer.Option(help=_STORE_HELP)] = None,
) -> None:
    """Evaluate a stored forward-problem model at the points of a CSV file."""
    import pandas as pd

    from physforge.pinn.inference import load_model

    loaded = load_model(model, store)
    table = pd.read_csv(points)
    values = loaded.predict(table)
    result = table[loaded.inputs].copy()
    for k, name in enumerate(loaded.outputs):
        result[name] = values[:, k]
    if output is None:
        sys.stdout.write(result.to_csv(index=False))
    else:
        result.to_csv(output, index=False)
        err.print(f"wrote {output} ({len(result)} points, outputs {loaded.outputs})")


@app.command()
def train(
    path: Annotated[
        str, typer.Argument(help="Data file or URI (NetCDF, HDF5, Zarr, .npz, .mat, CSV, Parquet).")
    ],
    members: Annotated[int, typer.Option(min=1, help="Ensemble size K.")] = _default(
        SurrogateConfig, "members"
    ),
    steps: Annotated[int, typer.Option(min=0, help="Adam steps per member.")] = _default(
        SurrogateConfig, "adam_steps"
    ),
    lbfgs_steps: Annotated[int, typer.Option(min=0, help="L-BFGS steps after Adam.")] = _default(
        SurrogateConfig, "lbfgs_steps"
    ),
    store: Annotated[str | None, typer.Option(help=_STORE_HELP)] = None,
    network: Annotated[
        Network,
        typer.Option(
            help=f"Network: {_listing(Network.__members__, _default(SurrogateConfig, 'network'))}."
        ),
    ] = Network(_default(SurrogateConfig, "network")),
    physics: Annotated[
        Physics,
        typer.Option(
            help="Physics residual: "
            + _listing(Physics.__members__, _default(SurrogateConfig, "physics"))
            + "."
        ),
    ] = Physics(_default(SurrogateConfig, "physics")),
    pde: Annotated[
        str | None, typer.Option(help="PDE for --physics pde, e.g. 'u_t = -1.0*u*u_x + 0.1*u_xx'.")
    ] = None,
    dask_address: Annotated[
        str | None, typer.Option(help="Existing Dask scheduler (default $PHYSFORGE_DASK_ADDRESS).")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print only the SurrogateRef JSON.")
    ] = False,
) -> None:
    """Fit a PINN surrogate ensemble (members in parallel on Dask), with a progress bar."""
    cfg = SurrogateConfig(
        members=members,
        adam_steps=steps,
        lbfgs_steps=lbfgs_steps,
        network=network.value,
        physics=physics.value,
        pde=pde,
        dask_address=dask_address,
    )
    _check_source(path)
    artifact_store = _open_store(store)
    with CommandApi() as api:
        import threading

        from physforge.config import IngestConfig
        from physforge.flows.surrogate import train_surrogate
        from physforge.reporting.progress import ProgressReader
        from physforge.storage_blocks.store import open_ref
        from physforge.tasks.common import task_options
        from physforge.tasks.ingest import ingest
        from physforge.tasks.surrogate import progress_key, surrogate_key

        api.wait()

        start = time.perf_counter()
        ds_ref = _quiet(
            lambda: ingest.with_options(**task_options(artifact_store))(
                path, IngestConfig(), artifact_store.url
            )
        )
        key, total = surrogate_key(ds_ref, cfg), cfg.adam_steps + cfg.lbfgs_steps
        result: dict = {}

        def run() -> None:
            try:
                result["ref"] = _quiet(train_surrogate, ds_ref, cfg)
            except Exception as exc:  # noqa: BLE001 - reported below, in the main thread
                result["error"] = exc

        reader = ProgressReader([progress_key(key, i) for i in range(members)])
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        _show_training(worker, reader, artifact_store, key, members, total, transient=json_out)
    if "error" in result:
        raise result["error"]
    ref = result["ref"]
    if json_out:
        sys.stdout.write(ref.model_dump_json(indent=2) + "\n")
        return
    card = open_ref(ref).read_json("card.json")
    table = Table(title=f"PINN surrogate {ref.key}")
    for col in ("member", "worker", "device", "steps", "resumed from", "final loss", "wall s"):
        table.add_column(col)
    for m in card["members"]:
        table.add_row(
            str(m["member"]),
            str(m["worker"]),
            m["device"],
            str(m["steps"]),
            str(m["resumed_from_step"]),
            f"{m['final_loss']:.3e}",
            f"{m['wall_s']:.1f}",
        )
    out.print(table)
    err.print(f"done in {time.perf_counter() - start:.1f} s; store {ref.uri}")


def _show_training(
    worker,
    reader,
    store,
    key: str,
    members: int,
    total: int,
    transient: bool = False,
    every: float = 0.25,
) -> None:
    """Steps done per member while ``worker`` runs: rich bars on a terminal, else a line per
    change on stderr (a pipe or a log shows progress as it happens, not once at the end).
    From the members' Prefect progress artifacts (every 1 % of the steps), and the store for
    members already finished (a cached member has no new artifact)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from physforge.reporting.progress import progress_line
    from physforge.tasks.surrogate import member_progress, progress_key

    def steps() -> list[int]:
        try:
            percent = reader.percent()
        except Exception:  # noqa: BLE001 - the display must not end the command
            percent = {}
        stored = member_progress(store, key, members, total)
        return [
            max(stored[i], round(total * percent.get(progress_key(key, i), 0.0) / 100))
            for i in range(members)
        ]

    if not err.is_terminal:
        last: list[int] = []
        while worker.is_alive():
            now = steps()
            if now != last:
                err.print(progress_line(now, total), soft_wrap=True)
                last = now
            worker.join(timeout=2 * every)  # a line at most every half second
        return
    columns = (
        TextColumn("member {task.fields[member]}"),
        BarColumn(),
        TextColumn("{task.completed:>6.0f}/{task.total:.0f} steps"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=transient) as bars:
        ids = [bars.add_task("train", total=total, member=i) for i in range(members)]
        while worker.is_alive():
            for tid, done in zip(ids, steps()):
                bars.update(tid, completed=done)
            worker.join(timeout=every)
        for tid, done in zip(ids, steps()):
            bars.update(tid, completed=done)


blocks_app = typer.Typer(
    help="Prefect blocks for the store (deployments, workers).", no_args_is_help=True
)
app.add_typer(blocks_app, name="blocks")


@blocks_app.command("register")
def blocks_register(
    store: Annotated[
        str,
        typer.Option(
            help="Store URL: s3://bucket/prefix (S3, MinIO) or a local/shared folder.",
            envvar="PHYSFORGE_STORE",
        ),
    ],
    endpoint: Annotated[
        str | None,
        typer.Option(
            help="S3 endpoint for MinIO etc., e.g. http://minio:9000.",
            envvar="PHYSFORGE_S3_ENDPOINT",
        ),
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="S3 region.", envvar="AWS_DEFAULT_REGION")
    ] = None,
    access_key_id: Annotated[
        str | None,
        typer.Option(
            help="Access key id (better: the AWS_ACCESS_KEY_ID variable).",
            envvar="AWS_ACCESS_KEY_ID",
            show_envvar=True,
        ),
    ] = None,
    secret_access_key: Annotated[
        str | None,
        typer.Option(
            help="Secret key (better: the AWS_SECRET_ACCESS_KEY variable).",
            envvar="AWS_SECRET_ACCESS_KEY",
            show_envvar=True,
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str,
        typer.Option(help="Store block name; deployments find it through $PHYSFORGE_STORE_BLOCK."),
    ] = "physforge-store",
    crash_after: Annotated[
        float,
        typer.Option(
            help="Mark a flow run Crashed after this many seconds without a heartbeat (its "
            "process was lost; deployments send one every 30 s)."
        ),
    ] = 90.0,
) -> None:
    """Create the store block, its credentials as Secret blocks, and the result-storage block
    on the Prefect API ($PREFECT_API_URL), and install the automation that marks flow runs
    whose process died Crashed. Secrets are never printed."""
    from physforge.server import use_local_server
    from physforge.storage_blocks.blocks import register_blocks

    use_local_server()
    slugs = register_blocks(
        store,
        name=name,
        endpoint_url=endpoint,
        region=region,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        crash_after_s=crash_after,
    )
    for role, slug in slugs.items():
        out.print(f"{role:>18}: {slug}")
    err.print(f"set PHYSFORGE_STORE_BLOCK={name} on workers (prefect.yaml does) to use it")


server_app = typer.Typer(
    help="A local Prefect server with its UI, which every command uses while it is up.",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")


@server_app.command("start")
def server_start(
    port: Annotated[int, typer.Option(help="Loopback port (0: a free one).")] = 4200,
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
) -> None:
    """Start a Prefect server with its UI on loopback (SQLite in PhysForge's data dir)."""
    from physforge.server import server_dir, start_server

    srv, started = start_server(port=port, host=host)
    out.print(
        f"{'started' if started else 'already running'}: {srv.ui_url} (pid {srv.pid})",
        soft_wrap=True,
    )
    err.print(
        f"commands and discover() use it while it is up; data in {server_dir()}; "
        "stop it with `physforge server stop`",
        soft_wrap=True,
    )


@server_app.command("status")
def server_status(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the local server's UI URL and pid (exit code 1 when it is not running)."""
    from physforge.server import local_server, server_dir

    srv = local_server()
    doc = (
        {
            "running": True,
            "url": srv.ui_url,
            "api_url": srv.api_url,
            "pid": srv.pid,
            "data": str(server_dir()),
        }
        if srv
        else {"running": False, "data": str(server_dir())}
    )
    if json_out:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    elif srv:
        out.print(f"running: {srv.ui_url} (pid {srv.pid}); API {srv.api_url}", soft_wrap=True)
    else:
        out.print("not running (start it with `physforge server start`)")
    if not srv:
        raise typer.Exit(code=1)


@server_app.command("stop")
def server_stop() -> None:
    """Stop the local server and its child processes."""
    from physforge.server import stop_server

    srv = stop_server()
    out.print(
        f"stopped the server on {srv.ui_url} (pid {srv.pid})" if srv else "no server was running"
    )


@app.command()
def loop(
    example_name: Annotated[
        str, typer.Option("--example", help="Simulator: burgers | kdv | kuramoto_sivashinsky.")
    ] = "burgers",
    budget: Annotated[int, typer.Option(help="Measurement windows that may be added.")] = 20,
    batch_size: Annotated[int, typer.Option(help="Windows proposed per round.")] = 1,
    acquisition: Annotated[
        Acquisition,
        typer.Option(help=f"Acquisition: {_listing(Acquisition.__members__, _ACQUISITION)}."),
    ] = Acquisition(_ACQUISITION),
    noise: Annotated[float, typer.Option(help="Sensor noise, fraction of field std.")] = 0.05,
    threshold: Annotated[float, typer.Option(help="Stop at this inclusion probability.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Seed of the start and the noise.")] = 0,
    config: Annotated[
        Path | None,
        typer.Option(
            help="LoopConfig as YAML/JSON (bounds, forbidden regions, …); options override.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    store: Annotated[str | None, typer.Option(help=_STORE_HELP)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print only the result JSON.")] = False,
) -> None:
    """Active experiment design: discover → propose → measure → ingest until confident."""
    import yaml

    from physforge.config import LoopConfig

    doc = yaml.safe_load(config.read_text()) if config else {}
    doc.update(
        example=example_name,
        noise=noise,
        threshold=threshold,
        seed=seed,
        resimulate=doc.get("resimulate", example_name == "kdv"),
    )
    doc["proposal"] = {
        **doc.get("proposal", {}),
        "budget": budget,
        "batch_size": batch_size,
        "acquisition": acquisition.value,
    }
    cfg = LoopConfig.model_validate(doc)
    store_url = _open_store(store).url
    with CommandApi() as api:
        from physforge.flows.loop import loop as run_loop

        api.wait()
        result = _quiet(run_loop, cfg, store_url) if json_out else run_loop(cfg, store_url)
    if json_out:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    table = Table(title=f"Active design — {example_name} ({acquisition})")
    for col in ("round", "added", "best model", "min P(include)"):
        table.add_column(col)
    for h in result["history"]:
        table.add_row(
            str(h["round"]),
            str(h["added"]),
            "; ".join(f"{k} = {v}" for k, v in h["best"].items()),
            f"{h['min_inclusion']:.2f}",
        )
    out.print(table)
    out.print(
        f"stopped: {result['stopped']} after {result['added']} added window(s); "
        f"proposals in {result['proposals'][-1] if result['proposals'] else '-'}"
    )


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: context managers close, the embedded API stops."""
    raise SystemExit(128 + signum)


def main() -> None:  # pragma: no cover - the console script
    signal.signal(signal.SIGTERM, _terminate)
    app(prog_name="physforge")


if __name__ == "__main__":  # pragma: no cover
    main()
