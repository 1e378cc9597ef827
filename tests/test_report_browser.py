"""The HTML report in a real headless browser (Debian chromium over the DevTools protocol).

The page is loaded from disk; the test listens to the browser's console, its exceptions, its
network requests and its JavaScript dialogs, then reads the live DOM. The report is drawn from
the tiny world with WETH's symbol set to ``<script>alert(1)</script>``: it must show as text.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from evm.node import stop
from test_report import HOSTILE_SYMBOL, SCENARIO, hostile_dataset
from websockets.sync.client import ClientConnection, connect

from contagion.report import build_report, collect, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed here (Debian: apt-get install chromium; .ci/run installs it)",
)
_TIMEOUT = 60.0


class Page:
    """One browser tab driven over the DevTools protocol, recording what the page does."""

    def __init__(self, ws: ClientConnection, session: str) -> None:
        self.ws = ws
        self.session = session
        self.events: list[dict[str, Any]] = []
        self._next = 0

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        self.ws.send(
            json.dumps(
                {"id": ident, "method": method, "params": params or {}, "sessionId": self.session}
            )
        )
        while True:
            message = json.loads(self.ws.recv(timeout=_TIMEOUT))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event["method"] == method:
                return event
        while True:
            message = json.loads(self.ws.recv(timeout=_TIMEOUT))
            if "method" in message:
                self.events.append(message)
                if message["method"] == method:
                    return message

    def open(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")
        self.evaluate("1")  # let pending console and network events arrive

    def evaluate(self, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def named(self, *methods: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["method"] in methods]

    def errors(self) -> list[str]:
        found = [
            json.dumps(e["params"])[:300]
            for e in self.named("Runtime.exceptionThrown", "Page.javascriptDialogOpening")
        ]
        found += [
            json.dumps(e["params"]["args"])[:300]
            for e in self.named("Runtime.consoleAPICalled")
            if e["params"]["type"] in ("error", "assert", "warning")
        ]
        found += [
            e["params"]["entry"]["text"]
            for e in self.named("Log.entryAdded")
            if e["params"]["entry"]["level"] in ("error", "warning")
        ]
        return found


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    assert CHROMIUM is not None
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        url = None
        while url is None:
            try:
                line = lines.get(timeout=_TIMEOUT)
            except queue.Empty:
                pytest.fail("chromium did not print its DevTools address")
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            url = found.group(1) if found else None
        with connect(url, max_size=None, open_timeout=_TIMEOUT) as ws:
            ws.send(
                json.dumps(
                    {"id": 1, "method": "Target.createTarget", "params": {"url": "about:blank"}}
                )
            )
            target = _reply(ws, 1)["targetId"]
            ws.send(
                json.dumps(
                    {
                        "id": 2,
                        "method": "Target.attachToTarget",
                        "params": {"targetId": target, "flatten": True},
                    }
                )
            )
            session = _reply(ws, 2)["sessionId"]
            tab = Page(ws, session)
            tab._next = 10
            for domain in ("Page", "Runtime", "Log", "Network"):
                tab.send(f"{domain}.enable")
            yield tab
    finally:
        stop(proc)


def _reply(ws: ClientConnection, ident: int) -> dict[str, Any]:
    while True:
        message = json.loads(ws.recv(timeout=_TIMEOUT))
        if message.get("id") == ident:
            result: dict[str, Any] = message["result"]
            return result


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ctx = collect(hostile_dataset(), SCENARIO, stress_moves=(-0.1,), scores=0)
    out = tmp_path_factory.mktemp("report")
    write_report(build_report(ctx), out, ("html",))
    return out / "report.html"


def test_report_renders_without_console_errors_and_draws_its_charts(
    page: Page, report_file: Path
) -> None:
    page.open(report_file.as_uri())
    assert page.errors() == []
    assert page.evaluate("document.querySelectorAll('main > section').length") == 9
    charts = page.evaluate(
        "[...document.querySelectorAll('figure svg')].map(s => {"
        " const r = s.getBoundingClientRect();"
        " return [s.dataset.chart, r.width, r.height, s.querySelectorAll('path, rect').length]; })"
    )
    names = [c[0] for c in charts]
    assert {"prices", "losses", "paths", "scores", "ladder", "gex", "stress", "mitigations"} <= set(
        names
    )
    for name, width, height, shapes in charts:
        assert width > 100 and height > 50, name
        assert shapes > 3, name
    text_nodes = page.evaluate("document.querySelectorAll('svg text').length")
    assert text_nodes > 50


def test_a_script_tag_as_token_symbol_is_shown_as_text(page: Page, report_file: Path) -> None:
    for html_file in (report_file, _without_csp(report_file)):
        page.open(html_file.as_uri())
        assert page.named("Page.javascriptDialogOpening") == []
        assert page.errors() == []
        assert page.evaluate("document.querySelectorAll('script').length") == 0
        assert page.evaluate(f"document.body.innerText.includes({json.dumps(HOSTILE_SYMBOL)})")
        in_cells = page.evaluate(
            "[...document.querySelectorAll('td')].filter(td => td.textContent === "
            f"{json.dumps(HOSTILE_SYMBOL)}).length"
        )
        assert in_cells >= 1
        in_charts = page.evaluate(
            "[...document.querySelectorAll('svg text')].filter(t => t.textContent.includes("
            f"{json.dumps(HOSTILE_SYMBOL)})).length"
        )
        assert in_charts >= 2


def test_the_page_fetches_nothing(page: Page, report_file: Path) -> None:
    page.open(report_file.as_uri())
    requested = [e["params"]["request"]["url"] for e in page.named("Network.requestWillBeSent")]
    assert requested == [report_file.as_uri()]


def _without_csp(report_file: Path) -> Path:
    """A copy of the page without its Content-Security-Policy: escaping alone must hold."""
    text = report_file.read_text(encoding="utf-8")
    stripped = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
    assert stripped != text
    copy = report_file.with_name("report-no-csp.html")
    copy.write_text(stripped, encoding="utf-8")
    return copy
