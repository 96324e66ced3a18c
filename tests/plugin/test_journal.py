"""Journal queries: select, count, intervals, and waiting for requests (sync and async)."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
import requests

from mockserver import MockServer
from mockserver.journal import Entry, Journal, Query, WaitTimeout


def entry(seq: int, arrived: float, *, rule: str | None = "s/r", method: str = "GET", path: str = "/a",
          status: int = 200, session: str = "", outcome: str = "answered",
          response_headers: tuple[tuple[str, str], ...] = ()) -> Entry:
    return Entry(seq=seq, request_id=f"id{seq}", method=method, path=path, query_string="", headers={},
                 body=b"", client="127.0.0.1", session=session, rule=rule, status=status,
                 reason="OK" if status == 200 else "X", outcome=outcome, arrived=arrived,
                 first_byte=arrived + 0.001, response_headers=response_headers)


@pytest.fixture
def journal() -> Journal:
    j = Journal()
    for e in [entry(1, 10.0), entry(2, 10.5, status=503, path="/b"), entry(3, 12.0, method="POST"),
              entry(4, 12.25, rule="other/x", session="s1"), entry(5, 13.0, rule=None, outcome="unmatched",
                                                                 status=404)]:
        j.record(e)
    return j


class TestQueries:
    def test_filters_combine(self, journal: Journal) -> None:
        assert [e.seq for e in journal.select(rule="r")] == [1, 2, 3]          # a bare rule name
        assert [e.seq for e in journal.select(rule="s/r", method="get")] == [1, 2]
        assert [e.seq for e in journal.select(path="/b")] == [2]
        assert [e.seq for e in journal.select(path=re.compile(r"/[ab]"))] == [1, 2, 3, 4, 5]
        assert [e.seq for e in journal.select(status=[404, 503])] == [2, 5]
        assert [e.seq for e in journal.select(session="s1")] == [4]
        assert [e.seq for e in journal.select(outcome="unmatched")] == [5]
        assert journal.count() == 5 and journal.count(rule="x", status=200) == 1

    def test_intervals_between_arrivals(self, journal: Journal) -> None:
        assert journal.intervals(rule="r") == [0.5, 1.5]
        assert journal.intervals(path="/b") == []

    def test_results_are_in_arrival_order_whatever_the_recording_order(self) -> None:
        """A slow answer is journaled after a fast one that arrived later; queries sort by arrival."""
        j = Journal()
        j.record(entry(2, 5.0))
        j.record(entry(1, 4.0))
        assert [e.seq for e in j.select()] == [1, 2]

    def test_unknown_filter_names_the_valid_ones(self, journal: Journal) -> None:
        with pytest.raises(TypeError, match=r"^unknown journal filter 'stauts'; valid filters: "
                                            r"fault, method, outcome, path, rule, session, status$"):
            journal.select(stauts=200)  # type: ignore[call-arg]

    def test_query_describes_itself(self) -> None:
        assert Query.of({"rule": "r", "status": [503, 429]}).describe() == "rule='r', status=[429, 503]"
        assert Query.of({"path": re.compile("/x.*")}).describe() == "path='/x.*'"
        assert Query().describe() == "any request"

    def test_bounded_and_numbered_from_one_after_clear(self) -> None:
        j = Journal(maxlen=2)
        for _ in range(3):
            j.record(entry(0, 1.0))  # seq 0: the journal numbers it
        assert [e.seq for e in j.entries()] == [2, 3]
        j.clear()
        assert len(j) == 0
        j.record(entry(0, 1.0))
        assert [e.seq for e in j.entries()] == [1]

    def test_entries_round_trip_through_json_for_remote_journals(self, journal: Journal) -> None:
        original = entry(7, 3.0, status=503, response_headers=(("Retry-After", "1"),))
        copy = Entry.from_dict(original.as_dict())
        assert copy.as_dict() == original.as_dict()
        assert copy.response_header("retry-after") == "1"


class TestWaiting:
    def test_wait_returns_once_enough_requests_arrived(self) -> None:
        scenario = {"name": "w", "rules": [{"name": "ping", "match": {"path": "/ping"}, "respond": {}}]}
        with MockServer(scenario) as server:
            def client() -> None:
                s = requests.Session()
                s.trust_env = False
                for _ in range(3):
                    s.get(server.url_for("/ping"), timeout=5)

            thread = threading.Thread(target=client)
            thread.start()
            found = server.journal.wait_for(3, rule="ping", timeout=10)
            thread.join()
        assert [e.path for e in found] == ["/ping"] * 3

    def test_wait_times_out_with_what_did_arrive(self, journal: Journal) -> None:
        with pytest.raises(WaitTimeout) as raised:
            journal.wait_for(4, rule="r", timeout=0.05)
        assert str(raised.value).splitlines()[:2] == [
            "waited 0.05s for 4 request(s) matching rule='r'; 3 arrived:",
            "  #1 +0.000s GET /a -> 200 OK (rule s/r)",
        ]
        assert "other requests:\n  #4 +2.250s GET /a -> 200 OK (rule other/x)" in str(raised.value)

    async def test_async_wait_does_not_block_a_server_on_the_same_loop(self) -> None:
        scenario = {"name": "w", "rules": [{"match": {"path": "/ping"}, "respond": {"delay": "50ms"}}]}
        async with MockServer(scenario) as server:
            import aiohttp

            async with aiohttp.ClientSession() as session:
                async def call() -> int:
                    async with session.get(server.url_for("/ping")) as resp:
                        return resp.status

                calls = asyncio.gather(call(), call())
                found = await server.journal.wait_for_async(2, timeout=10)
                assert await calls == [200, 200]
        assert len(found) == 2

    async def test_async_wait_times_out(self, journal: Journal) -> None:
        with pytest.raises(WaitTimeout, match=r"^waited 0.05s for 1 request\(s\) matching method='DELETE'; "
                                              r"0 arrived:\n  \(none\)\n"):
            await journal.wait_for_async(method="DELETE", timeout=0.05)
