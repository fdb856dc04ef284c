"""Deployment steps (prefect.yaml ``pull``): where a flow run starts, with nothing to set.

Runs in the flow-run process on the worker, so it sees the Python environment that will run
the flow: the working directory is ``$PHYSFORGE_HOME`` where set (the Docker image sets
/opt/physforge), else the folder that holds the installed ``physforge`` package — the checkout
of an editable install, site-packages otherwise. Either way the deployments' entrypoints
(``physforge/flows/….py``) resolve from there, and a worker started as the README says
(``prefect worker start --pool physforge-process``, in any directory) runs them.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["physforge_home"]


def physforge_home() -> dict[str, str]:
    """``{"directory": …}`` for ``set_working_directory``."""
    import physforge

    home = os.environ.get("PHYSFORGE_HOME") or str(Path(physforge.__file__).resolve().parent.parent)
    return {"directory": home}
