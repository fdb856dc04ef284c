"""Discovery reports: figures as plain functions, a papermill-executed notebook and its HTML.

``figures`` holds the science of plotting (testable without Jupyter); ``run`` validates a
report's parameters and reads the run's artifacts; ``cells`` is what the template's cells
display; ``notebook`` executes the template and commits ``reports/<key>/report.ipynb|html``;
``artifacts`` publishes the Prefect artifacts of a run.
"""

from __future__ import annotations

__all__ = ["figures", "run", "notebook", "artifacts"]
