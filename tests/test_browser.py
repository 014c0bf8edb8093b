"""The Done-when check of issue 11 in a real browser: headless Chromium, with no route to the
internet, opens the demo's landing page, GraphiQL (and runs its opening query) and the API docs;
every request goes to the server, nothing fails, no script error. Runs where Chromium is
installed (Debian: apt-get install chromium); tests/test_pages.py checks the same assets without
a browser on every run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_check import find_chromium, run_checks
from tests.test_demo import Demo, _environment, _free_port

pytestmark = [
    pytest.mark.embedded,
    pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed"),
]


def test_pages_work_offline_in_headless_chromium(tmp_path: Path) -> None:
    port = _free_port()
    demo = Demo(_environment(tmp_path / "state"), port, tmp_path / "logs")
    try:
        demo.wait_until_serving()
        reports = run_checks(demo.url(""), tmp_path / "screenshots")
    finally:
        assert demo.stop() == 0, demo.stderr
    origin = f"http://127.0.0.1:{port}"
    assert [(report.path, report.problems(origin)) for report in reports] == [
        ("/", []), ("/graphql", []), ("/api/v1/docs", [])]
    landing, graphiql, docs = reports
    assert landing.detail.startswith("Completed at ")
    assert graphiql.detail == "5 officers in the answer"  # the demo book of tests/test_demo.py has 5
    assert docs.detail.endswith("operations listed")
    assert len(graphiql.requests) >= 7  # the page, React, ReactDOM, GraphiQL, explorer, styles, start script
    for report in reports:
        assert report.screenshot is not None
        assert report.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert report.screenshot.stat().st_size > 10_000  # a rendered page, not a blank one
