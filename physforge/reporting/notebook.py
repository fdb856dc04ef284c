"""Write a run's report (notebook + HTML) and commit both to the store.

The template is ``notebooks/discovery_report.ipynb``. Its parameters are the validated
:class:`~physforge.reporting.run.ReportInputs` (strings only), so no data or code enters the
notebook except through the store. Two ways to fill it:

- the default (the flow's report task): :func:`physforge.reporting.page.render` runs the
  template's sections in this process and writes the HTML directly (no kernel: a first run's
  report costs its figures, about a second, instead of a kernel start and an nbconvert export);
- ``execute=True`` (``physforge report --execute``): papermill executes the template in a
  Jupyter kernel and nbconvert exports the HTML. The kernel is the running interpreter: the
  ``python3`` kernelspec when it resolves to it, else a ``physforge-<hash>`` kernelspec created
  on demand in ``sys.prefix``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import physforge
from physforge.errors import ConfigError, PhysForgeError, StoreError
from physforge.reporting.mathml import latex_to_mathml
from physforge.reporting.run import ReportInputs
from physforge.storage_blocks.store import ArtifactStore, Transaction, artifact_key
from physforge.versioning import code_version

__all__ = [
    "TEMPLATE",
    "Report",
    "ReportError",
    "template_path",
    "report_version",
    "report_key",
    "kernel_name",
    "execute_notebook",
    "export_html",
    "latex_to_mathml",
    "write_report",
]

TEMPLATE = "discovery_report.ipynb"
_ENV_TEMPLATE = "PHYSFORGE_REPORT_TEMPLATE"


class ReportError(PhysForgeError, RuntimeError):
    """The report notebook failed to execute (the failing cell's error is in the message)."""


@dataclass(frozen=True)
class Report:
    """A committed report: its store key, content hash and the URIs of its two files."""

    store: str
    key: str
    sha256: str
    ipynb: str
    html: str
    html_path: str | None  # a local file path for file:// stores


def template_path() -> Path:
    """The template: ``$PHYSFORGE_REPORT_TEMPLATE`` or the checkout's ``notebooks/``."""
    override = os.environ.get(_ENV_TEMPLATE)
    path = (
        Path(override)
        if override
        else (Path(physforge.__file__).resolve().parent.parent / "notebooks" / TEMPLATE)
    )
    if not path.is_file():
        raise ConfigError(
            f"report template {path} not found; PhysForge reports need the source checkout's "
            f"notebooks/{TEMPLATE} (an editable install), or set {_ENV_TEMPLATE} to its path"
        )
    return path


def report_version() -> str:
    """The code version of the reporting code and the template: a change makes a new key."""
    return code_version("reporting", extra=(str(template_path()),))


def _report_parts(inputs: ReportInputs, discovery_sha256: str) -> list:
    return [inputs.parameters(), discovery_sha256, report_version()]


def report_key(inputs: ReportInputs, discovery_sha256: str) -> str:
    return artifact_key("reports", _report_parts(inputs, discovery_sha256))


def kernel_name() -> str:
    """A Jupyter kernel that runs this interpreter (so the kernel imports this PhysForge)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    # jupyter_client launches argv[0] "python"/"python3" as sys.executable.
    same = {
        "python",
        f"python{sys.version_info[0]}",
        "python{}.{}".format(*sys.version_info[:2]),
        sys.executable,
    }
    try:
        if ksm.get_kernel_spec("python3").argv[0] in same:
            return "python3"
    except NoSuchKernel:
        pass
    name = "physforge-" + hashlib.sha256(sys.executable.encode()).hexdigest()[:8]
    try:
        if ksm.get_kernel_spec(name).argv[0] == sys.executable:
            return name
    except NoSuchKernel:
        pass
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"PhysForge ({sys.prefix})",
        "language": "python",
    }
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "kernel.json").write_text(json.dumps(spec))
        try:
            ksm.install_kernel_spec(tmp, kernel_name=name, prefix=sys.prefix)
        except OSError as exc:
            raise ConfigError(
                f"no Jupyter kernel runs {sys.executable}, and one could not be created in "
                f"{sys.prefix}: {exc}. Run `{sys.executable} -m ipykernel install --sys-prefix`"
            ) from exc
    return name


def _ipc_kernel_manager(folder: str):
    """Kernel channels over Unix sockets in the run's private temp folder, not loopback TCP."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(transport="ipc", ip=str(Path(folder, "kernel")), **kwargs)

    return IPCKernelManager


def execute_notebook(inputs: ReportInputs, timeout: int = 600) -> bytes:
    """The template executed with ``inputs`` as its parameters, as .ipynb JSON bytes."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    with tempfile.TemporaryDirectory(prefix="physforge-report-") as tmp:
        out = Path(tmp, "report.ipynb")
        try:
            papermill.execute_notebook(
                str(template_path()),
                str(out),
                parameters=inputs.parameters(),
                kernel_name=kernel_name(),
                cwd=tmp,
                progress_bar=False,
                log_output=False,
                execution_timeout=timeout,
                report_mode=False,
                kernel_manager_class=_ipc_kernel_manager(tmp),
            )
        except PapermillExecutionError as exc:
            raise ReportError(
                f"the report for {inputs.store_url}/{inputs.discovery_key} failed in cell "
                f"{exc.exec_count}: {exc.ename}: {exc.evalue}"
            ) from None
        return out.read_bytes()


def export_html(ipynb: bytes) -> bytes:
    """A standalone HTML page of the executed notebook: outputs only (the .ipynb keeps code).

    Offline: equations are MathML (no MathJax), and no script is loaded from a CDN (the
    template drops require.js, MathJax and mermaid)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.reads(ipynb.decode(), as_version=4)
    exporter = HTMLExporter(
        extra_template_basedirs=[str(Path(__file__).parent / "templates")],
        template_name="physforge",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        filters={"mathml": latex_to_mathml},
    )
    body, _ = exporter.from_notebook_node(
        nb, resources={"metadata": {"name": "PhysForge discovery report"}}
    )
    return body.encode()


def write_report(inputs: ReportInputs, force: bool = False, execute: bool = False) -> Report:
    """Write and commit ``reports/<key>/report.ipynb`` and ``report.html``.

    The key hashes the inputs, the discovery's content and :func:`report_version`; an existing
    report is reused unless ``force`` (then it is uncommitted first, rewritten, recommitted).
    ``execute`` runs the notebook with papermill (and exports it with nbconvert) instead of
    rendering the sections in this process.
    """
    store = ArtifactStore(inputs.store_url)
    discovery = store.artifact(inputs.discovery_key)

    def write(tx: Transaction) -> None:
        if execute:
            ipynb = execute_notebook(inputs)
            html = export_html(ipynb)
        else:
            from physforge.reporting.page import render

            ipynb, html = render(inputs, json.loads(template_path().read_text()))
        tx.put_bytes("report.ipynb", ipynb)
        tx.put_bytes("report.html", html)

    art = store.computed(
        "reports",
        _report_parts(inputs, discovery.sha256),
        write,
        meta={
            "kind": "report",
            "inputs": inputs.parameters(),
            "version": report_version(),
            "executed": execute,
        },
        force=force,
    )
    key = art.prefix
    for name in ("report.ipynb", "report.html"):
        if name not in art.manifest["files"]:
            raise StoreError(f"report {art.uri} has no {name}")
    html_path = art.path("report.html") if store.protocol == "file" else None
    return Report(
        store=store.url,
        key=key,
        sha256=art.sha256,
        ipynb=art.file_uri("report.ipynb"),
        html=art.file_uri("report.html"),
        html_path=html_path,
    )
