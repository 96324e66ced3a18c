"""The live page in a real browser: rows and timeline follow real clients' traffic, details on click."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx
import requests
from playwright.sync_api import expect

from mockserver.journal import Entry


def open_page(page: Any, server: Any, query: str = "") -> None:
    page.goto(server.url_for("/__mock/ui" + query))
    expect(page.locator("#conn")).to_have_text("live")


def test_rows_and_timeline_follow_the_traffic_live(page: Any, server: Any) -> None:
    open_page(page, server)
    rows = page.locator("#log tbody tr")
    expect(rows).to_have_count(0)
    requests.get(server.url_for("/orders"), timeout=5)
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.status")).to_have_text("200")
    with httpx.Client(base_url=server.url, timeout=5) as client:
        client.post("/orders", json={"item": "book"})
        client.get("/flaky")
        client.get("/nowhere")
    expect(rows).to_have_count(4)
    # newest first: the unmatched request stands out with its near misses
    expect(rows.first).to_have_class("k-unmatched")
    expect(rows.first.locator(".misses")).to_contain_text("near miss shop/list")
    expect(rows.nth(1).locator("td.status")).to_have_text("503")
    expect(rows.nth(2).locator("td.status")).to_have_text("201")
    timeline = page.locator("#timeline")
    expect(timeline).to_have_attribute("data-points", "4")
    expect(timeline).to_have_attribute("data-rows", "shop/list\nshop/create\nshop/outage\n(unmatched)")
    page.select_option("#f-group", "session")
    expect(timeline).to_have_attribute("data-rows", "(none)")
    requests.get(server.url_for("/orders"), headers={"X-Mock-Session": "tenant-a"}, timeout=5)
    expect(timeline).to_have_attribute("data-rows", "(none)\ntenant-a")
    expect(timeline).to_have_attribute("data-points", "5")


def test_a_click_shows_the_request_in_full(page: Any, server: Any) -> None:
    open_page(page, server)
    with httpx.Client(base_url=server.url, timeout=5) as client:
        client.post("/orders?dry=1", json={"item": "book"}, headers={"X-Trace": "abc"})
    page.locator("#log tbody tr").first.click()
    detail = page.locator("#detail")
    expect(detail).to_be_visible()
    expect(detail.locator("h2")).to_contain_text("POST /orders?dry=1")
    expect(detail.locator(".answer")).to_contain_text("201 Created")
    expect(detail).to_contain_text('{"item":"book"}')
    expect(detail.locator("table").first).to_contain_text("X-Trace")
    expect(detail.locator("table").nth(1)).to_contain_text("application/json")  # the answer's headers


def test_retry_gaps_are_drawn_against_retry_after(page: Any, server: Any) -> None:
    open_page(page, server)
    requests.get(server.url_for("/busy"), timeout=5)
    requests.get(server.url_for("/busy"), timeout=5)  # straight away: too early for Retry-After: 1
    timeline = page.locator("#timeline")
    expect(timeline).to_have_attribute("data-gaps", "#2 early")
    time.sleep(1.05)  # this client honours the second answer's Retry-After: 1
    requests.get(server.url_for("/busy"), timeout=5)
    expect(timeline).to_have_attribute("data-gaps", "#2 early, #3 waited")
    page.locator("#log tbody tr").nth(1).click()
    expect(page.locator("#detail")).to_contain_text("Retry-After: 1 — came back early")


def test_faults_and_refusals_show_what_happened(page: Any, server: Any) -> None:
    open_page(page, server)
    with requests.Session() as client:
        client.get(server.url_for("/search"), timeout=5)
        client.get(server.url_for("/search"), timeout=5)  # the bucket is empty: 429 from the rate limit
    rows = page.locator("#log tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_class("k-limited")
    expect(rows.first.locator("td.decisions")).to_contain_text("rate_limit: bucket")
    with contextlib.suppress(requests.ConnectionError):  # the rule resets the connection
        requests.get(server.url_for("/drop"), timeout=5)
    expect(rows).to_have_count(3)
    expect(rows.first).to_have_class("k-fault")
    expect(rows.first.locator("td.status")).to_have_text("reset")  # no status line went out
    page.fill("#f-status", "fault")
    expect(rows).to_have_count(1)
    page.fill("#f-status", "4xx")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.status")).to_have_text("429")


def test_the_page_adds_nothing_to_the_journal(page: Any, server: Any) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    open_page(page, server)
    expect(page.locator("#state")).to_contain_text("no session state yet")
    page.reload()
    expect(page.locator("#conn")).to_have_text("live")
    assert len(server.journal) == 0
    paths = {u.removeprefix(server.url).partition("?")[0] for u in asked}
    assert paths == {"/__mock/ui", "/__mock/ui/uPlot.min.css", "/__mock/ui/dashboard.css",
                     "/__mock/ui/uPlot.iife.min.js", "/__mock/ui/dashboard.js", "/__mock/ui/events",
                     "/__mock/ui/state"}


def test_a_full_journal_shows_a_window(page: Any, server: Any) -> None:
    now = time.time()
    for n in range(10_000):  # what 10,000 requests leave behind, without sending them
        server.journal.record(Entry(
            seq=0, request_id=f"r{n}", method="GET", path=f"/orders/{n % 50}", query_string="",
            headers={"Host": "x"}, body=b"", client="127.0.0.1", session=f"s{n % 3}",
            rule="shop/list", status=200 if n % 7 else 503, reason="", outcome="answered",
            arrived=now - 60 + n * 0.005))
    open_page(page, server)
    expect(page.locator("#shown")).to_have_text(
        "showing 300 of 2000 matching, 2000 in the page, 10000 in the journal")
    expect(page.locator("#log tbody tr").first.locator("td").first).to_have_text("10000")
    requests.get(server.url_for("/flaky"), timeout=5)
    expect(page.locator("#log tbody tr").first.locator("td.status")).to_have_text("503")
    expect(page.locator("#log tbody tr").first.locator("td").first).to_have_text("10001")


def test_a_cleared_journal_clears_the_page(page: Any, server: Any) -> None:
    open_page(page, server)
    for _ in range(3):
        requests.get(server.url_for("/orders"), timeout=5)
    rows = page.locator("#log tbody tr")
    expect(rows).to_have_count(3)
    server.reset()
    requests.get(server.url_for("/flaky"), timeout=5)
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.status")).to_have_text("503")


def test_only_an_open_page_listens_to_the_journal(page: Any, server: Any) -> None:
    """With no page open, recording a request wakes nobody (the static benchmark's cost stays put)."""
    assert server.journal._listeners == []
    open_page(page, server)
    assert len(server.journal._listeners) == 1
    page.goto("about:blank")  # the page goes away; its stream notices within a second
    deadline = time.monotonic() + 5
    while server.journal._listeners and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.journal._listeners == []
