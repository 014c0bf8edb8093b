"""Open the server's pages in a real headless Chromium with no route to the internet, and prove
they work offline: every request a page makes goes to the server itself, nothing fails to load,
no script error is logged; GraphiQL runs its opening query and shows the answer, Swagger UI lists
the REST operations. A screenshot of each page is written for a person to look at.

    python -m tests.browser_check http://127.0.0.1:8000 --out screenshots/

(``scripts/browser-check`` runs this.) The server must answer queries without a token: the demo.
Chromium is driven over the DevTools protocol on a pipe, so nothing beyond Chromium itself (Debian:
``apt-get install chromium``) is needed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
    "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe",
    # no internet: every host name but the loopback address fails to resolve
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)
WIDTH, HEIGHT = 1440, 900


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    """What one page did in the browser."""

    path: str
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bad_status: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ready: bool = False
    detail: str = ""
    screenshot: Path | None = None

    def elsewhere(self, origin: str) -> list[str]:
        """Requests to anywhere but the server (data: URLs are the page's own bytes)."""
        return [url for url in self.requests if not url.startswith((origin + "/", "data:"))]

    def problems(self, origin: str) -> list[str]:
        found = [f"loaded from elsewhere: {url}" for url in self.elsewhere(origin)]
        found += [f"failed to load: {item}" for item in self.failed]
        found += [f"HTTP error: {item}" for item in self.bad_status]
        found += [f"script error: {item}" for item in self.errors]
        if not self.ready:
            found.append(f"never became ready: {self.detail}")
        return found


class DevTools:
    """Chromium's DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out, messages
    ending in NUL)."""

    def __init__(self, chromium: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def descriptors() -> None:
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.process = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=descriptors, pass_fds=(3, 4),  # fds 3 and 4 carry the protocol
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method and event.get("sessionId") == session:
                return event
        while True:
            event = self._read(deadline)
            self.events.append(event)
            if event.get("method") == method and event.get("sessionId") == session:
                return event

    def _read(self, deadline: float) -> dict[str, Any]:
        import select

        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("Chromium did not answer in time")
            readable, _, _ = select.select([self._from_browser], [], [], remaining)
            if readable:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close", timeout=5)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


# What "working" means on each page: a JavaScript expression polled until it returns a non-empty
# string (the detail shown in the report), and an optional action run once the page is up.
LANDING_READY = """(() => {
  const run = document.querySelector('#latest-run');
  return run && document.querySelector('#business-date') ? run.textContent : '';
})()"""
GRAPHIQL_EDITOR = """(() => {
  const editor = document.querySelector('.graphiql-query-editor .CodeMirror');
  return editor && editor.CodeMirror.getValue().includes('RiskiestOfficers') ? 'editor ready' : '';
})()"""
GRAPHIQL_RUN = "document.querySelector('.graphiql-execute-button').click(); 'clicked'"
GRAPHIQL_ANSWERED = """(() => {
  const result = document.querySelector('.graphiql-response .CodeMirror');
  const text = result ? result.CodeMirror.getValue() : '';
  return text.includes('"officerId"') ? text.split('"officerId"').length - 1 + ' officers in the answer' : '';
})()"""
SWAGGER_READY = """(() => {
  const operations = document.querySelectorAll('.swagger-ui .opblock').length;
  return operations > 0 ? operations + ' operations listed' : '';
})()"""


def check_page(devtools: DevTools, base: str, path: str, out: Path, name: str,
               steps: list[tuple[str, str | None]]) -> PageReport:
    """Open ``path`` in a fresh tab, run ``steps`` (a readiness expression, then an action or
    None), screenshot it and report every request it made."""
    report = PageReport(path)
    target = devtools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = devtools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Network", "Runtime", "Log"):
        devtools.send(f"{domain}.enable", session=session)
    devtools.send("Emulation.setDeviceMetricsOverride",
                  {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False}, session=session)
    first_event = len(devtools.events)
    devtools.send("Page.navigate", {"url": base + path}, session=session)
    devtools.wait_for("Page.loadEventFired", session, timeout=60)
    report.ready = True
    for expression, action in steps:
        report.detail = _poll(devtools, session, expression, timeout=60)
        if not report.detail:
            report.ready = False
            report.detail = f"{expression[:60]}... stayed empty"
            break
        if action:
            devtools.send("Runtime.evaluate", {"expression": action}, session=session)
    time.sleep(0.5)  # let the last paint land
    shot = devtools.send("Page.captureScreenshot", {"format": "png"}, session=session)
    report.screenshot = out / f"{name}.png"
    report.screenshot.write_bytes(base64.b64decode(shot["data"]))
    _collect(report, [e for e in devtools.events[first_event:] if e.get("sessionId") == session])
    devtools.send("Target.closeTarget", {"targetId": target})
    return report


def _poll(devtools: DevTools, session: str, expression: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = devtools.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session)
        value = result.get("result", {}).get("value")
        if isinstance(value, str) and value:
            return value
        time.sleep(0.25)
    return ""


def _collect(report: PageReport, events: list[dict[str, Any]]) -> None:
    urls: dict[str, str] = {}
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
            report.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            report.failed.append(f"{urls.get(params['requestId'], '?')}: {params.get('errorText')}")
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            report.bad_status.append(f"{params['response']['url']}: {params['response']['status']}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            report.errors.append(str(details.get("exception", {}).get("description") or details.get("text")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            report.errors.append(" ".join(str(arg.get("value", arg.get("description", ""))) for arg in params["args"]))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            report.errors.append(f"{params['entry'].get('url', '')}: {params['entry'].get('text')}")


def run_checks(base: str, out: Path, chromium: str | None = None) -> list[PageReport]:
    """Check the landing page, GraphiQL (running its opening query) and the API docs."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium found (Debian: apt-get install chromium)")
    out.mkdir(parents=True, exist_ok=True)
    base = base.rstrip("/")
    with tempfile.TemporaryDirectory(prefix="lm-chromium-") as profile:
        devtools = DevTools(chromium, Path(profile))
        try:
            devtools.send("Target.setDiscoverTargets", {"discover": False})
            return [
                check_page(devtools, base, "/", out, "landing", [(LANDING_READY, None)]),
                check_page(devtools, base, "/graphql", out, "graphiql",
                           [(GRAPHIQL_EDITOR, GRAPHIQL_RUN), (GRAPHIQL_ANSWERED, None)]),
                check_page(devtools, base, "/api/v1/docs", out, "api-docs", [(SWAGGER_READY, None)]),
            ]
        finally:
            devtools.close()


def origin_of(base: str) -> str:
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="browser-check", description=__doc__.split("\n\n")[0])
    parser.add_argument("base", nargs="?", default="http://127.0.0.1:8000",
                        help="the running server (default: http://127.0.0.1:8000, the demo)")
    parser.add_argument("--out", type=Path, default=Path("screenshots"),
                        help="where the screenshots go (default: ./screenshots)")
    args = parser.parse_args(argv)
    try:
        reports = run_checks(args.base, args.out)
    except (FileNotFoundError, RuntimeError, TimeoutError) as exc:
        print(f"browser-check: {exc}", file=sys.stderr)
        return 2
    origin = origin_of(args.base)
    failed = False
    for report in reports:
        problems = report.problems(origin)
        failed = failed or bool(problems)
        verdict = "ok" if not problems else "FAILED"
        print(f"{report.path:<14} {verdict}: {len(report.requests)} requests, all to {origin}"
              if not problems else f"{report.path:<14} {verdict}")
        print(f"{'':<14} {report.detail}; screenshot {report.screenshot}")
        for problem in problems:
            print(f"{'':<14} - {problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
