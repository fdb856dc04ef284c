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
