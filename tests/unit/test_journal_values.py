"""Journal entries are values: begin/finish replace, never mutate; outcomes are one documented list."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from pathlib import Path

import pytest

from mockserver.journal import Entry, Journal, Outcome, finished

DOC = Path(__file__).parents[2] / "docs" / "control-api.md"


def entry(path: str = "/x", outcome: Outcome = Outcome.ANSWERED, status: int | None = 200,
          ended: float | None = None) -> Entry:
    return Entry(seq=0, request_id="r", method="GET", path=path, query_string="", headers={}, body=b"",
                 client="", session="", rule=None, status=status, reason="OK", outcome=outcome, ended=ended)


def test_outcomes_are_strings_for_json_and_old_assertions() -> None:
    timed_out: str = Outcome.TIMED_OUT
    assert timed_out == "timed_out" and f"{Outcome.CLIENT_GONE}" == "client_gone"
    assert json.dumps({"outcome": Outcome.FAULT}) == '{"outcome": "fault"}'
    assert [o.value for o in Outcome] == ["answered", "timed_out", "unmatched", "refused", "fault",
                                          "client_gone", "error", "pending", "proxied", "upstream_failed",
                                          "tls_fault"]


def test_the_documented_outcomes_are_the_enumeration() -> None:
    section = DOC.read_text().split("### Outcomes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| (.+) \|$", section, re.MULTILINE)
    assert rows == [(o.value, o.describe()) for o in Outcome]


def test_the_type_checker_refuses_to_change_an_entry_or_an_answer(tmp_path: Path) -> None:
    """Entries and answers are frozen for mypy (values.py says why not at runtime)."""
    from mypy import api

    probe = tmp_path / "probe.py"
    probe.write_text("from mockserver.answer import Answer\nfrom mockserver.journal import Entry, Outcome\n"
                     "def change(e: Entry, a: Answer) -> None:\n"
                     "    e.outcome = Outcome.ERROR\n    a.status = 500\n")
    out, _, status = api.run(["--no-incremental", "--follow-imports=silent", str(probe)])
    assert status == 1, out
    assert 'Property "outcome" defined in "Entry" is read-only' in out
    assert 'Property "status" defined in "Answer" is read-only' in out


def test_finish_replaces_the_snapshot_and_the_snapshot_stays_as_it_was() -> None:
    journal = Journal()
    journal.record(entry("/before"))
    snapshot = journal.begin(entry("/slow", Outcome.PENDING, status=None))
    journal.record(entry("/after"))
    taken = journal.entries()[1]
    assert taken is snapshot and (taken.seq, taken.outcome) == (2, "pending")
    done = journal.finish(snapshot, finished(snapshot, outcome=Outcome.TIMED_OUT, status=504, ended=1.0))
    assert (taken.seq, taken.outcome, taken.status, taken.ended) == (2, "pending", None, None)
    assert [(e.seq, e.path, e.outcome) for e in journal.entries()] == [
        (1, "/before", "answered"), (2, "/slow", "timed_out"), (3, "/after", "answered")]
    assert journal.entries()[1] is done


def test_finish_after_clear_journals_nothing() -> None:
    journal = Journal()
    snapshot = journal.begin(entry(outcome=Outcome.PENDING))
    journal.clear()
    journal.finish(snapshot, finished(snapshot, outcome=Outcome.ANSWERED))
    assert journal.entries() == []


def test_finish_wakes_waiters() -> None:
    journal = Journal()
    snapshot = journal.begin(entry(outcome=Outcome.PENDING))
    done = finished(snapshot, outcome=Outcome.ANSWERED)
    threading.Timer(0.05, lambda: journal.finish(snapshot, done)).start()
    [found] = journal.wait_for(1, outcome="answered", timeout=5)
    assert found.seq == snapshot.seq == 1


def test_readers_in_threads_never_see_an_entry_change() -> None:
    """A writer begins and finishes exchanges while readers hold every entry they saw; each
    held entry must still read as it did when it was taken."""
    journal = Journal(maxlen=64)
    stop = threading.Event()
    changed: list[str] = []

    def read() -> None:
        seen: list[tuple[Entry, tuple[object, ...]]] = []
        while not stop.is_set():
            for e in journal.entries():
                seen.append((e, dataclasses.astuple(e)))
            seen = seen[-500:]
            changed.extend(f"#{e.seq} changed" for e, was in seen if dataclasses.astuple(e) != was)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for n in range(2000):
            snapshot = journal.begin(entry(f"/{n}", Outcome.PENDING, status=None))
            journal.finish(snapshot, finished(snapshot, outcome=Outcome.ANSWERED, status=200, ended=float(n)))
    finally:
        stop.set()
        for reader in readers:
            reader.join(10)
    assert changed == []
    assert all(e.outcome == "answered" for e in journal.entries())


def test_from_dict_rejects_an_unknown_outcome_with_the_valid_ones() -> None:
    data = entry().as_dict() | {"outcome": "weird"}
    with pytest.raises(ValueError, match="journal entry outcome 'weird' is not one of answered, timed_out, "
                                         "unmatched, refused, fault, client_gone, error, pending"):
        Entry.from_dict(data)
    assert Entry.from_dict(entry().as_dict()).outcome is Outcome.ANSWERED


def test_settled_is_finished_with_the_end_of_the_exchange() -> None:
    """``settled`` copies the fields positionally (for speed): every field must land in its own
    place, so each gets a value no other field has."""
    values: dict[str, object] = {}
    for number, field in enumerate(dataclasses.fields(Entry)):
        values[field.name] = (number,) if field.name != "outcome" else Outcome.PENDING
    snapshot = Entry(**values)  # type: ignore[arg-type]
    settled = snapshot.settled(Outcome.TIMED_OUT, 1.5, 2.5)
    assert settled == finished(snapshot, outcome=Outcome.TIMED_OUT, first_byte=1.5, ended=2.5)
    assert settled is not snapshot and snapshot.outcome is Outcome.PENDING

