"""Screenshots of the dashboard and of a report, for the docs.

``python -m mockserver.dashboard.screenshots DIR`` (docs/dashboard.md).

It starts a mock, sends it the traffic of clients that retry (one waits as Retry-After says, one
does not) through an outage phase, a rate limit, a seeded mix and a typo, then photographs the
live page and the report of the same journal with Debian's Chromium driven by Playwright (the
test extra). Writes DIR/dashboard.png and DIR/report.png.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["main"]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

PAYMENTS = {"name": "payments", "seed": 7, "timeline": [
    {"until": "1.2s"}, {"until": "3.2s", "respond": {"status": 503}, "retry_after": 1}],
    "rules": [{"name": "pay", "match": {"method": "POST", "path": "/v1/payments"},
               "respond": {"status": 201, "json": {"id": "p-1", "state": "paid"}}}]}
ORDERS = {"name": "orders", "seed": 42, "rules": [
    {"name": "list", "match": {"method": "GET", "path": "/v1/orders"}, "respond": {"json": []},
     "rate_limit": {"rate": 2, "per": "1s", "burst": 3}},
    {"name": "show", "match": {"method": "GET", "path": "/v1/orders/{id}"},
     "respond": {"json": {"state": "paid"}},
     "mix": [{"weight": 70}, {"weight": 15, "respond": {"status": 503, "headers": {"Retry-After": "1"}}},
             {"weight": 10, "fault": "reset"}, {"weight": 5, "delay": "300ms"}]},
]}


def _call(url: str, method: str = "GET", session: str = "",
          body: bytes | None = None) -> tuple[int, str | None]:
    request = urllib.request.Request(url, data=body, method=method, headers={
        "X-Mock-Session": session, "Content-Type": "application/json"} if session else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.headers.get("Retry-After")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Retry-After")
    except OSError:  # a fault: the connection was reset
        return 0, None


def traffic(base: str) -> None:
    """About five seconds of clients: a patient and an eager payer, a burst, a flaky read, a typo."""
    began = time.monotonic()
    patient_next = eager_next = began
    burst_done = False
    shown = 0
    while time.monotonic() - began < 5.0:
        now = time.monotonic()
        if now >= patient_next:
            status, retry_after = _call(base + "/v1/payments", "POST", "patient", b'{"amount": 10}')
            patient_next = now + (float(retry_after) if status == 503 and retry_after else 0.6)
        if now >= eager_next:
            status, _ = _call(base + "/v1/payments", "POST", "eager", b'{"amount": 10}')
            eager_next = now + (0.25 if status == 503 else 0.6)
        if not burst_done and now - began > 0.5:
            for _ in range(6):
                _call(base + "/v1/orders")
            burst_done = True
        if now - began > 0.3 * shown and shown < 14:
            _call(base + f"/v1/orders/{shown}")
            shown += 1
        if shown == 7:
            _call(base + "/v1/order/7")  # a typo: unmatched, with its near misses
            shown += 1
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mockserver.dashboard.screenshots",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where to write dashboard.png and report.png")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"screenshots: found no Chromium at {args.chromium}; install Debian's chromium package "
              "(apt-get install -y chromium) or pass --chromium PATH", file=sys.stderr)
        return 1
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("screenshots: Playwright is missing; install the test extra (pip install -e '.[test]')",
              file=sys.stderr)
        return 1
    from ..app.server import MockServer
    from .report import write_report
    from .routes import snapshot

    args.folder.mkdir(parents=True, exist_ok=True)
    with MockServer([PAYMENTS, ORDERS]) as server, sync_playwright() as playwright, \
            tempfile.TemporaryDirectory() as tmp:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        try:
            _dashboard(browser, server, args.folder / "dashboard.png")
            report = write_report(Path(tmp) / "report.html", [e.as_dict() for e in server.journal.select()],
                                  title="mockserver report: tests/test_payments.py::test_retries",
                                  state=snapshot(server))
            _report(browser, report, args.folder / "report.png")
        finally:
            browser.close()
    print(f"wrote {args.folder / 'dashboard.png'} and {args.folder / 'report.png'}")
    return 0


def _dashboard(browser: Any, server: Any, target: Path) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(server.url_for("/__mock/ui"))
    page.locator("#conn.live").wait_for()
    server.reset()  # the timeline's phases start now, with the traffic
    traffic(server.url)
    page.locator("#timeline[data-gaps*='early']").wait_for()
    page.locator("#log tbody tr.k-unmatched").first.wait_for()
    early = page.locator("#log tbody tr", has_text="eager").nth(2)
    early.click()
    page.locator("#detail h2").wait_for()
    time.sleep(0.3)  # the last push and the panels' state
    page.screenshot(path=str(target))
    context.close()


def _report(browser: Any, report: Path, target: Path) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.route(lambda url: not url.startswith("file:"), lambda route: route.abort())
    page = context.new_page()
    page.goto(report.as_uri())
    page.locator("#log tbody tr").first.wait_for()
    page.select_option("#f-group", "session")
    page.locator("#log tbody tr.k-5xx").first.click()
    page.locator("#detail h2").wait_for()
    time.sleep(0.2)
    page.screenshot(path=str(target))
    context.close()


if __name__ == "__main__":
    sys.exit(main())
