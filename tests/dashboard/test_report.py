"""The traffic report: one file that opens with no network and shows what the journal holds."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from mockserver.cli import main
from tests.plugin.conftest import INI

pytest_plugins = ["pytester"]


def saved_journal(server: Any, folder: Path) -> Path:
    """What a CI job does: save the journal over the control API."""
    target = folder / "journal.json"
    target.write_text(requests.get(server.url_for("/__mock/journal"), timeout=5).text)
    return target


def offline(browser: Any) -> tuple[Any, list[str]]:
    """A page that may load file: URLs only; every other request is refused and remembered."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    asked: list[str] = []

    def refuse(route: Any) -> None:
        asked.append(route.request.url)
        route.abort()

    context.route(lambda url: not url.startswith("file:"), refuse)
    return context, asked


def test_the_report_opens_offline_and_shows_the_journal(browser: Any, server: Any, tmp_path: Path) -> None:
    with requests.Session() as client:
        client.get(server.url_for("/busy"), timeout=5)
        client.get(server.url_for("/busy"), timeout=5)
        client.post(server.url_for("/orders"), json={"item": "<script>alert(1)</script>"}, timeout=5)
        client.get(server.url_for("/nowhere"), headers={"X-Mock-Session": "tenant-b"}, timeout=5)
    journal = saved_journal(server, tmp_path)
    out, err = io.StringIO(), io.StringIO()
    report = tmp_path / "report" / "traffic.html"
    assert main(["report", str(journal), "--out", str(report)], stdout=out, stderr=err) == 0
    assert (out.getvalue(), err.getvalue()) == (f"wrote {report}: 4 request(s)\n", "")
    context, asked = offline(browser)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(report.as_uri())
    rows = page.locator("#log tbody tr")
    expect(rows).to_have_count(4)
    expected = [(str(e["seq"]), e["method"], e["path"], str(e["status"]), e["rule"] or "—", e["session"])
                for e in reversed(json.loads(journal.read_text())["entries"])]
    shown = [tuple(rows.nth(i).locator("td").nth(c).inner_text() for c in (0, 2, 3, 4, 5, 6))
             for i in range(4)]
    assert shown == expected
    expect(page.locator("#timeline")).to_have_attribute("data-points", "4")
    expect(page.locator("#timeline")).to_have_attribute("data-gaps", "#2 early")
    rows.nth(1).click()  # the POST: its body is shown as text, never run
    expect(page.locator("#detail pre")).to_have_text('{"item": "<script>alert(1)</script>"}')
    expect(page.locator("#controls")).to_be_hidden()
    context.close()
    assert asked == [] and errors == []


@pytest.mark.parametrize(("content", "message"), [
    (None, "{path}: no such file; expected a journal saved from GET /__mock/journal"),
    ('{"entries": [', "{path}:1:14: not JSON (Expecting value); expected the JSON that GET /__mock/journal "
                      "answers"),
    ('{"count": 0}', '{path}: found an object without "entries"; expected {{"entries": [...]}} as '
                     "GET /__mock/journal answers, or a list of entries"),
    ('[{"seq": 1, "method": "GET", "path": "/a"}]', "{path}: entries[0].arrived: found nothing; "
                                                    "expected a number"),
    ('{"entries": [{"seq": "1", "method": "GET", "path": "/a", "arrived": 1}]}',
     '{path}: entries[0].seq: found "1"; expected an integer'),
])
def test_a_bad_journal_file_is_named_and_nothing_is_written(tmp_path: Path, content: str | None,
                                                           message: str) -> None:
    journal = tmp_path / "journal.json"
    if content is not None:
        journal.write_text(content)
    out, err = io.StringIO(), io.StringIO()
    target = tmp_path / "r.html"
    assert main(["report", str(journal), "--out", str(target)], stdout=out, stderr=err) == 1
    assert err.getvalue() == "mockserver: " + message.format(path=journal) + "\n"
    assert out.getvalue() == "" and not target.exists()


def test_an_unwritable_target_is_named(tmp_path: Path) -> None:
    journal = tmp_path / "journal.json"
    journal.write_text('{"entries": []}')
    (tmp_path / "taken").write_text("a file, not a folder")
    err = io.StringIO()
    target = tmp_path / "taken" / "r.html"
    assert main(["report", str(journal), "--out", str(target)], stdout=io.StringIO(), stderr=err) == 1
    assert err.getvalue().startswith(f"mockserver: --out {target}: cannot write (")
    assert err.getvalue().endswith("); expected a writable file path\n")


FAILING = """
import pytest, requests

SHOP = {"name": "shop", "rules": [{"name": "down", "match": {"path": "/pay"}, "respond": {"status": 503}}]}

@pytest.mark.mockserver(scenario=SHOP)
def test_client_gives_up_too_soon(mockserver):
    s = requests.Session(); s.trust_env = False
    codes = [s.get(mockserver.url_for("/pay"), timeout=5).status_code for _ in range(2)]
    assert codes == [200]

@pytest.mark.mockserver(scenario=SHOP)
def test_fine(mockserver):
    s = requests.Session(); s.trust_env = False
    assert s.get(mockserver.url_for("/pay"), timeout=5).status_code == 503
"""


def test_a_failed_test_gets_a_report_named_in_its_failure(pytester: pytest.Pytester, browser: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOCKSERVER_URL", raising=False)
    pytester.makeini(INI)
    pytester.makepyfile(test_shop=FAILING)
    folder = pytester.path / "reports"
    result = pytester.runpytest("--mockserver-report", str(folder))
    result.assert_outcomes(failed=1, passed=1)
    written = sorted(p.name for p in folder.iterdir())
    assert written == ["test_shop.py--test_client_gives_up_too_soon.html"]
    report = folder / written[0]
    result.stdout.fnmatch_lines(["*- mockserver report -*",
                                 f"{report} (2 request(s) to http://127.0.0.1:*)"])
    context, asked = offline(browser)
    page = context.new_page()
    page.goto(report.as_uri())
    expect(page.locator("#log tbody tr")).to_have_count(2)
    expect(page.locator("#log tbody tr td.status")).to_have_text(["503", "503"])
    expect(page.locator("#scenarios")).to_contain_text("shop")
    context.close()
    assert asked == []


def test_without_the_option_no_report_is_written(pytester: pytest.Pytester,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOCKSERVER_URL", raising=False)
    pytester.makeini(INI)
    pytester.makepyfile(test_shop=FAILING)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1, passed=1)
    assert "mockserver report" not in result.stdout.str()
    assert not (pytester.path / "reports").exists()


def test_entries_of_the_next_journal_shape_are_drawn(browser: Any, tmp_path: Path) -> None:
    """Faults with ``status: null`` and a fault name, headers as [name, value] pairs, both shown."""
    base = {"request_id": "r", "query": "", "body": "", "client": "127.0.0.1", "session": "", "reason": "",
            "delay": 0.0, "deadline": None, "first_byte": None, "ended": None, "decisions": [],
            "near_misses": [], "response_headers": []}
    entries = [
        {**base, "seq": 1, "method": "GET", "path": "/a", "rule": "s/a", "status": 200, "outcome": "answered",
         "arrived": 1000.0, "headers": [["Host", "x"], ["X-Dup", "1"], ["X-Dup", "2"]]},
        {**base, "seq": 2, "method": "GET", "path": "/b", "rule": "s/b", "status": None, "fault": "truncate",
         "outcome": "fault", "arrived": 1000.5, "headers": {"Host": "x"}},
    ]
    journal = tmp_path / "journal.json"
    journal.write_text(json.dumps({"entries": entries, "count": 2}))
    report = tmp_path / "r.html"
    assert main(["report", str(journal), "--out", str(report)], stdout=io.StringIO()) == 0
    context, asked = offline(browser)
    page = context.new_page()
    page.goto(report.as_uri())
    rows = page.locator("#log tbody tr")
    expect(rows.locator("td.status")).to_have_text(["truncate", "200"])
    expect(rows.first).to_have_class("k-fault")
    rows.nth(1).click()
    expect(page.locator("#detail table").first.locator("tr")).to_have_text(["Hostx", "X-Dup1", "X-Dup2"])
    context.close()
    assert asked == []
