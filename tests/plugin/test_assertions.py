"""Assertions: what they accept, and failure messages that list what arrived and the near misses."""

from __future__ import annotations

import email.utils
import re

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from mockserver import MockServer
from mockserver.assertions import (
    MockAssertionError,
    assert_called,
    assert_no_request_after,
    assert_not_called,
    assert_retry_after_honoured,
    check_strict,
    retry_after_seconds,
)
from mockserver.journal import Journal
from mockserver.pytest_plugin import MockServerFixture
from tests.plugin.test_journal import entry

BUSY = {"name": "busy", "rules": [{
    "name": "list", "match": {"method": "GET", "path": "/clusters"},
    "respond": [{"status": 503, "headers": {"Retry-After": "1"}}, {"status": 200, "json": {"clusters": []}}],
}]}


def session(retry: Retry | None = None) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    if retry is not None:
        s.mount("http://", HTTPAdapter(max_retries=retry))
    return s


def journal_of(*entries: object) -> Journal:
    j = Journal()
    for e in entries:
        j.record(e)  # type: ignore[arg-type]
    return j


class TestCalled:
    def test_counts_and_bounds(self) -> None:
        j = journal_of(entry(1, 0.0), entry(2, 0.5), entry(3, 1.0, rule="s/other"))
        assert [e.seq for e in assert_called(j, "r", times=2)] == [1, 2]
        assert_called(j, "r")
        assert_called(j, "r", at_least=2, at_most=2)
        assert_not_called(j, "r", method="POST")

    def test_failure_lists_matching_and_other_requests_with_near_misses(self) -> None:
        with MockServer(BUSY) as server:
            s = session()
            s.get(server.url_for("/clusters"), timeout=5)
            s.get(server.url_for("/cluster"), timeout=5)
            with pytest.raises(MockAssertionError) as raised:
                assert_called(server.journal, "list", times=3)
        assert re.sub(r"\+\d+\.\d{3}s", "+T", str(raised.value)).splitlines() == [
            "expected exactly 3 request(s) matching rule='list', got 1",
            "requests matching rule='list':",
            "  #1 +T GET /clusters -> 503 ServiceUnavailable (rule busy/list)",
            "other requests:",
            "  #2 +T GET /cluster -> 404 NotFound (no rule, unmatched)",
            "      near miss busy/list (<inline>): path: expected /clusters, got /cluster",
        ]

    def test_at_least_message(self) -> None:
        expected = r"^expected at least 2 and at most 3 request\(s\) matching rule='r', got 0\n"
        with pytest.raises(MockAssertionError, match=expected):
            assert_called(journal_of(), "r", at_least=2, at_most=3)


class TestRetryAfter:
    def test_urllib3_retry_waits_for_retry_after(self) -> None:
        """urllib3 Retry honours Retry-After: 1 on a 503; the rule's plan supplies the header value."""
        with MockServer(BUSY) as server:
            response = session(Retry(total=3, status_forcelist=[503], backoff_factor=0)).get(
                server.url_for("/clusters"), timeout=5)
            assert response.status_code == 200
            assert_retry_after_honoured(server.journal, "list", engine=server.engine)
            assert_no_request_after(server.journal, 200, rule="list")
            [interval] = server.journal.intervals(rule="list")
            assert interval >= 1.0

    def test_a_client_that_ignores_retry_after_is_caught(self) -> None:
        with MockServer(BUSY) as server:
            retry = Retry(total=3, status_forcelist=[503], backoff_factor=0, respect_retry_after_header=False)
            assert session(retry).get(server.url_for("/clusters"), timeout=5).status_code == 200
            with pytest.raises(MockAssertionError) as raised:
                assert_retry_after_honoured(server.journal, "list", engine=server.engine)
        lines = str(raised.value).splitlines()
        assert lines[0] == "the client did not wait for Retry-After:"
        assert re.fullmatch(r"  #2 came 0\.\d{3}s after #1 answered 503 with Retry-After: 1", lines[1])
        assert lines[2] == "requests matching rule='list':"

    def test_reads_the_answer_headers_when_the_journal_has_them(self) -> None:
        ok = journal_of(entry(1, 0.0, status=429, response_headers=(("Retry-After", "2"),)), entry(2, 2.5))
        assert_retry_after_honoured(ok)
        early = journal_of(entry(1, 0.0, status=429, response_headers=(("retry-after", "2"),)),
                           entry(2, 1.0))
        expected = r"#2 came 0.999s after #1 answered 429 with Retry-After: 2"
        with pytest.raises(MockAssertionError, match=expected):
            assert_retry_after_honoured(early)

    def test_nothing_to_check_is_a_failure_not_a_pass(self) -> None:
        j = journal_of(entry(1, 0.0, status=503, response_headers=(("X-Other", "1"),)), entry(2, 0.1))
        with pytest.raises(MockAssertionError, match=r"^no answer with Retry-After was followed by another "
                                                     r"request matching any request, so there was nothing"):
            assert_retry_after_honoured(j)

    def test_http_dates_and_bad_values(self) -> None:
        assert retry_after_seconds("3", since=0.0) == 3.0
        date = email.utils.formatdate(1_000_010.0, usegmt=True)
        assert retry_after_seconds(date, since=1_000_000.0) == 10.0
        assert retry_after_seconds("soon", since=0.0) is None


class TestStopsAfterSuccess:
    def test_passes_when_the_last_request_got_the_200(self) -> None:
        assert_no_request_after(journal_of(entry(1, 0.0, status=503), entry(2, 1.0)))

    def test_a_client_that_keeps_calling_after_success(self) -> None:
        j = journal_of(entry(1, 0.0, status=503), entry(2, 1.0), entry(3, 1.5))
        with pytest.raises(MockAssertionError, match=r"^1 request\(s\) matching any request came after the "
                                                     r"first 200 \(#2\)\n"):
            assert_no_request_after(j)

    def test_no_success_at_all(self) -> None:
        with pytest.raises(MockAssertionError, match=r"^no request matching rule='r' was answered 200\n"):
            assert_no_request_after(journal_of(entry(1, 0.0, status=503)), rule="r")


class TestStrict:
    def test_lists_unmatched_and_failed_requests(self) -> None:
        j = journal_of(entry(1, 0.0), entry(2, 0.5, rule=None, status=404, outcome="unmatched"),
                       entry(3, 1.0, rule=None, status=500, outcome="error"))
        with pytest.raises(MockAssertionError) as raised:
            check_strict(j)
        assert str(raised.value).splitlines() == [
            "strict mockserver: 1 request(s) matched no rule and 1 request(s) made the server fail:",
            "  #2 +0.500s GET /a -> 404 X (no rule, unmatched)",
            "  #3 +1.000s GET /a -> 500 X (no rule, error)",
        ]

    def test_timeouts_and_gone_clients_are_not_strict_failures(self) -> None:
        check_strict(journal_of(entry(1, 0.0, outcome="timed_out", status=504),
                                entry(2, 1.0, outcome="client_gone")))


class TestRuleNames:
    def test_a_misspelt_rule_fails_instead_of_passing_vacuously(self) -> None:
        with MockServer(BUSY) as server:
            fixture = MockServerFixture(server)
            with pytest.raises(MockAssertionError, match=r"^no loaded rule is called 'lsit' \(did you mean "
                                                         r"'list'\?\); loaded rules: busy/list$"):
                fixture.assert_not_called("lsit")
            fixture.assert_not_called("list")
            fixture.assert_not_called("busy/list")

    def test_rules_that_answered_count_as_known_even_once_removed(self) -> None:
        with MockServer(BUSY) as server:
            session().get(server.url_for("/clusters"), timeout=5)
            server.remove("busy")
            MockServerFixture(server).assert_called("list", times=1)
