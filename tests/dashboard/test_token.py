"""With an admin token, the page, its assets and its push channel refuse whoever does not carry it."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from playwright.sync_api import expect

TOKEN = "s3cret/+&"  # characters that must be escaped in a URL and in HTML


@pytest.fixture
def server_token() -> str | None:
    return TOKEN


def token_query() -> str:
    from urllib.parse import quote

    return "?token=" + quote(TOKEN, safe="")


def test_a_browser_without_the_token_is_refused(page: Any, server: Any) -> None:
    answer = page.goto(server.url_for("/__mock/ui"))
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="mockserver"'
    assert answer.json() == {"error": "unauthorized", "detail": "no Authorization header; open "
                             "/__mock/ui?token=<token> or send Authorization: Bearer <token>"}
    for path in ("/__mock/ui/events", "/__mock/ui/dashboard.js", "/__mock/ui/state"):
        assert page.goto(server.url_for(path)).status == 401, path
    wrong = page.goto(server.url_for("/__mock/ui?token=guess"))
    assert wrong.status == 401
    assert wrong.json()["detail"].startswith("the token is not the one configured; ")
    assert TOKEN not in wrong.text()


def test_the_push_channel_refuses_without_the_token(server: Any) -> None:
    events = server.url_for("/__mock/ui/events")
    stream = {"Accept": "text/event-stream"}
    assert requests.get(events, headers=stream, timeout=5).status_code == 401
    assert requests.get(events + "?token=nope", headers=stream, timeout=5).status_code == 401
    # ?token= is for the page's addresses only; the rest of the control API wants the header
    assert requests.get(server.url_for("/__mock/journal") + token_query(), timeout=5).status_code == 401
    with requests.get(events, headers={**stream, "Authorization": f"Bearer {TOKEN}"}, stream=True,
                      timeout=5) as answer:
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "text/event-stream"
        first = next(answer.iter_lines())
        assert first == b"event: entries"


def test_with_the_token_the_page_loads_everything_and_controls_work(page: Any, server: Any) -> None:
    refused: list[str] = []
    page.on("response", lambda r: refused.append(r.url) if r.status >= 400 else None)
    answer = page.goto(server.url_for("/__mock/ui" + token_query()))
    assert answer.status == 200
    expect(page.locator("#conn")).to_have_text("live")
    requests.get(server.url_for("/orders"), timeout=5)
    expect(page.locator("#log tbody tr")).to_have_count(1)
    page.fill("#fault-spec", '{"name": "outage", "match": {"path": "/orders"}, "respond": {"status": 503}}')
    page.click("#do-fault")
    expect(page.locator("#faults")).to_contain_text('"name":"outage"')
    assert [f["name"] for f in server.list_faults()] == ["outage"]
    requests.get(server.url_for("/orders"), timeout=5)
    expect(page.locator("#log tbody tr").first.locator("td.status")).to_have_text("503")
    page.click("#faults button[data-fault='outage']")
    expect(page.locator("#faults")).to_contain_text("none")
    page.fill("#seed", "x1")
    page.click("#do-seed")
    expect(page.locator("#control-result")).to_have_text("seed: found x1; expected an integer or nothing")
    page.fill("#seed", "42")
    page.click("#do-seed")
    expect(page.locator("#control-result")).to_have_text("POST /seed: done")
    assert server.seed == 42
    page.click("#do-reset")
    expect(page.locator("#log tbody tr")).to_have_count(0)
    assert len(server.journal) == 0
    assert refused == []
