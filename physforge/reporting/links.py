"""Links that open: the Prefect UI's page of a run only where a UI answers, and the report as a
link a browser can follow (http(s) as is, S3 presigned) or else as a plain path."""

from __future__ import annotations

from functools import cache

__all__ = ["PRESIGN_SECONDS", "browser_link", "run_ui_link", "ui_reachable"]

PRESIGN_SECONDS = 7 * 24 * 3600  # S3's longest presigned URL (SigV4)


@cache
def ui_reachable(ui_url: str, timeout: float = 2.0) -> bool:
    """True when ``ui_url`` serves the Prefect UI (an HTML page), not just an API."""
    import httpx

    try:
        response = httpx.get(ui_url.rstrip("/") + "/", timeout=timeout, follow_redirects=True)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and "html" in response.headers.get("content-type", "")


def run_ui_link(flow_run_id) -> str | None:
    """The UI page of a flow run where a Prefect server with its UI is reachable (a
    configured ``PREFECT_API_URL``; Prefect's ephemeral API has no UI), else None."""
    from prefect.settings import get_current_settings
    from prefect.utilities.urls import url_for

    settings = get_current_settings()
    if not settings.api.url or not settings.ui_url:
        return None
    if not ui_reachable(str(settings.ui_url)):
        return None
    return url_for("flow-run", obj_id=str(flow_run_id))


def browser_link(uri: str, storage_options: dict | None = None) -> str | None:
    """A URL a browser opens for a stored file: http(s) as is, ``s3://`` presigned for
    :data:`PRESIGN_SECONDS`; None for anything else (a local path is printed, not linked)."""
    if uri.startswith(("http://", "https://")):
        return uri
    if uri.startswith(("s3://", "s3a://")):
        import fsspec

        from physforge.storage_blocks.store import storage_options_for

        fs, path = fsspec.core.url_to_fs(uri, **(storage_options or storage_options_for(uri)))
        return fs.sign(path, expiration=PRESIGN_SECONDS)
    return None
