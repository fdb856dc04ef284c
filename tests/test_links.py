"""Links that open: a report in S3 becomes a presigned URL a browser (here httpx, with no
credentials) can fetch; a local report is no link at all; a UI link only where a UI answers."""

from __future__ import annotations

import httpx


def test_s3_report_link_is_presigned_and_opens(s3_server):
    import s3fs

    from physforge.reporting.links import browser_link

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server})
    fs.pipe("physforge/reports/k/report.html", b"<html>the report</html>")
    link = browser_link("s3://physforge/reports/k/report.html")
    assert link.startswith(s3_server) and "Signature=" in link
    response = httpx.get(link)
    assert response.status_code == 200 and response.text == "<html>the report</html>"
    assert httpx.get(s3_server + "/physforge/reports/k/report.html").status_code == 403


def test_http_is_kept_and_local_files_are_not_links():
    from physforge.reporting.links import browser_link

    assert browser_link("https://lab.example.org/r.html") == "https://lab.example.org/r.html"
    assert browser_link("file:///tmp/store/reports/k/report.html") is None


def test_no_ui_link_for_an_api_without_a_ui(prefect_api):
    from prefect.settings import get_current_settings

    from physforge.reporting.links import run_ui_link, ui_reachable

    api = str(get_current_settings().api.url)
    assert api.startswith("http://127.0.0.1")  # the test harness's temporary server
    assert not ui_reachable(api.removesuffix("/api") + "/no-ui-here")
    assert not ui_reachable(str(get_current_settings().ui_url))  # the harness serves no UI
    assert run_ui_link("00000000-0000-0000-0000-000000000000") is None


def test_discover_sees_a_surrogate_the_flow_trains(prefect_api):
    """The watcher `physforge discover` runs beside its flow: a line per advance of a member's
    progress artifact created after it started; older artifacts with such keys are ignored."""
    import contextvars
    import threading
    import time

    from prefect.artifacts import create_progress_artifact, update_progress_artifact

    from physforge.reporting.progress import watch_training

    create_progress_artifact(100.0, key="physforge-train-old0-member-000")  # an earlier run
    lines: list[str] = []
    stop = threading.Event()
    watcher = threading.Thread(
        target=contextvars.copy_context().run, args=(watch_training, stop, lines.append, 0.05)
    )
    watcher.start()
    time.sleep(1.0)  # the watcher has read what existed
    new = create_progress_artifact(0.0, key="physforge-train-new0-member-000")
    try:
        for percent in (25.0, 50.0, 100.0):
            update_progress_artifact(new, progress=percent)
            deadline = time.monotonic() + 30
            while not any(f"{percent:.0f}%)" in ln for ln in lines):
                assert time.monotonic() < deadline, lines
                time.sleep(0.05)
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert lines[-1] == "training surrogate: 100% (member 0 100%)"
    assert not any("old0" in ln for ln in lines)
