"""Task: a DiscoveryRef in (and the surrogate and proposals where the run has them), the
executed report notebook and its HTML in the store out (ReportRef)."""

from __future__ import annotations

from prefect import task

from physforge.refs import DiscoveryRef, Ref, ReportRef
from physforge.reporting.notebook import ReportError, report_version, write_report
from physforge.reporting.run import ReportInputs
from physforge.tasks.common import ref_cache_key, retry_unless_bad_input, task_defaults

__all__ = ["report", "report_inputs"]


def _report_cache_key(context, parameters) -> str:
    """The refs' hashes, as every task, plus the template and reporting code version."""
    return ref_cache_key(context, {**parameters, "report_version": report_version()})


def _retry(task, task_run, state) -> bool:
    """A notebook that fails to execute fails the same way again: no retry."""
    try:
        state.result()
    except ReportError:
        return False
    except Exception:  # noqa: BLE001 - the shared rule decides
        return retry_unless_bad_input(task, task_run, state)
    return True


def report_inputs(
    discovery: DiscoveryRef, surrogate: Ref | None = None, proposals: Ref | None = None
) -> ReportInputs:
    return ReportInputs(
        store_url=discovery.store,
        discovery_key=discovery.key,
        features_key=discovery.features.key,
        dataset_key=discovery.features.dataset.key,
        surrogate_key=surrogate.key if surrogate else "",
        proposals_key=proposals.key if proposals else "",
    )


@task(
    name="report",
    **(task_defaults() | {"cache_key_fn": _report_cache_key, "retry_condition_fn": _retry}),
)
def report(
    discovery: DiscoveryRef, surrogate: Ref | None = None, proposals: Ref | None = None
) -> ReportRef:
    rep = write_report(report_inputs(discovery, surrogate, proposals))
    return ReportRef(
        store=rep.store,
        key=rep.key,
        sha256=rep.sha256,
        discovery=discovery,
        ipynb=rep.ipynb,
        html=rep.html,
    )
