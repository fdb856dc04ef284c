"""The report without a kernel: the template's sections run in this process, HTML written directly.

The layout is the template notebook's (``notebooks/discovery_report.ipynb``): its Markdown cells
are the headings and prose, and each code cell names the :mod:`~physforge.reporting.cells`
sections it shows (``cells.fields(run)``). :func:`render` loads the run once, calls those same
section functions under :func:`~physforge.reporting.cells.collect`, and writes

- the notebook, with the parameters injected as papermill injects them and each code cell's
  outputs filled in (it opens in Jupyter as an executed notebook, and re-executes there), and
- a standalone HTML page of the outputs (figures as PNG data URIs with their alt text,
  equations as MathML): nothing is loaded from the network.

No Jupyter kernel, papermill or nbconvert: the flow's report costs the figures and little else.
``physforge report --execute`` still executes the template with papermill
(:func:`physforge.reporting.notebook.execute_notebook`).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Sequence
from typing import Any

from physforge.errors import ConfigError
from physforge.reporting import cells
from physforge.reporting.run import ReportInputs, load_run

__all__ = ["render", "render_html", "template_sections"]

_CALL = re.compile(r"\bcells\.([a-z_]+)\(run\)")
_TITLE = "PhysForge discovery report"
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       max-width: 1100px; margin: 2rem auto; padding: 0 1.5rem; line-height: 1.5; }
h1 { border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #eaeef2; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .92rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; }
th { background: #f6f8fa; }
code { background: #f6f8fa; padding: .1rem .3rem; border-radius: 4px; font-size: .9em; }
blockquote { margin: .6rem 0; padding: .2rem 1rem; color: #57606a;
             border-left: .25rem solid #d0d7de; }
img { max-width: 100%; display: block; margin: .8rem 0; }
.math { overflow-x: auto; margin: .8rem 0; }
"""


def _markdown_to_html(text: str) -> str:
    import mistune

    md = mistune.create_markdown(escape=True, plugins=["table"])
    return str(md(text))


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def template_sections(nb: dict[str, Any]) -> list[tuple[str, str | list[str]]]:
    """The template as ``("markdown", text)`` and ``("sections", [names])`` entries, in order;
    a code cell that shows no section (the parameters) is skipped."""
    out: list[tuple[str, str | list[str]]] = []
    for cell in nb["cells"]:
        src = _source(cell)
        if cell["cell_type"] == "markdown":
            out.append(("markdown", src))
        elif cell["cell_type"] == "code" and (names := _CALL.findall(src)):
            unknown = [n for n in names if not callable(getattr(cells, n, None))]
            if unknown:
                raise ConfigError(
                    f"report template: cells.{unknown[0]} is not a report "
                    f"section of physforge.reporting.cells"
                )
            out.append(("sections", names))
    return out


def _nb_output(out: cells.Output) -> dict[str, Any]:
    if out.mime == "image/png":
        data: Any = base64.b64encode(
            out.data if isinstance(out.data, bytes) else out.data.encode()
        ).decode()
        meta: dict[str, Any] = {"image/png": {"alt": out.alt}}
    else:
        data, meta = out.data, {}
    return {"output_type": "display_data", "data": {out.mime: data}, "metadata": meta}


def _html_output(out: cells.Output) -> str:
    if out.mime == "image/png":
        raw = out.data if isinstance(out.data, bytes) else out.data.encode()
        return (
            f'<img alt="{html.escape(out.alt or "figure")}" '
            f'src="data:image/png;base64,{base64.b64encode(raw).decode()}">'
        )
    if out.mime == "text/latex":  # MathML (the LaTeX kept as its annotation): no script
        from physforge.reporting.mathml import latex_to_mathml

        return f'<div class="math">{latex_to_mathml(str(out.data))}</div>'
    return _markdown_to_html(str(out.data))


def render(inputs: ReportInputs, template: dict[str, Any]) -> tuple[bytes, bytes]:
    """The report of ``inputs`` laid out as ``template``: (.ipynb JSON bytes, HTML bytes)."""
    run = load_run(inputs)
    nb = json.loads(json.dumps(template))  # a copy the outputs go into
    body: list[str] = []
    new_cells: list[dict[str, Any]] = []
    for cell in nb["cells"]:
        new_cells.append(cell)
        src = _source(cell)
        if cell["cell_type"] == "markdown":
            body.append(_markdown_to_html(src))
            continue
        if cell["cell_type"] != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            new_cells.append(_injected(inputs))
            continue
        for name in _CALL.findall(src):
            outputs = cells.collect(getattr(cells, name), run)
            cell["outputs"] += [_nb_output(o) for o in outputs]
            body += [_html_output(o) for o in outputs]
    nb["cells"] = new_cells
    nb.setdefault("metadata", {})["physforge"] = {
        "rendered": "in-process",
        "parameters": inputs.parameters(),
    }
    return json.dumps(nb, indent=1).encode(), render_html(body).encode()


def _injected(inputs: ReportInputs) -> dict[str, Any]:
    """The parameters as papermill injects them (repr of each string, a tagged cell)."""
    lines = ["# Parameters\n"] + [f"{k} = {v!r}\n" for k, v in inputs.parameters().items()]
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": "injected-parameters",
        "metadata": {"tags": ["injected-parameters"]},
        "outputs": [],
        "source": lines,
    }


def render_html(body: Sequence[str], title: str = _TITLE) -> str:
    """A standalone page around already-rendered HTML fragments."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n"
        "</head>\n<body>\n<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )
