"""Assertions over a journal whose failure messages say what happened on the wire.

Each helper takes a JournalView (the in-process Journal or a remote server's) and, on failure,
raises MockAssertionError listing the requests that did arrive, with their near misses, so a
failing test explains itself without a debugger.
"""

from __future__ import annotations

import difflib
import email.utils
import itertools
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from .journal import Entry, JournalView, Query, format_entries

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .engine import Engine
    from .journal import FiltersBesidesRule, FiltersBesidesStatus

__all__ = [
    "MockAssertionError",
    "assert_called",
    "assert_no_request_after",
    "assert_not_called",
    "assert_retry_after_honoured",
    "check_rule_known",
    "check_strict",
    "retry_after_seconds",
]

PROBLEM_OUTCOMES = frozenset({"unmatched", "error"})


class MockAssertionError(AssertionError):
    """An expectation about the requests a server received did not hold."""


def _report(headline: str, journal: JournalView, query: Query | None = None) -> MockAssertionError:
    entries = sorted(journal.entries(), key=lambda e: (e.arrived, e.seq))
    origin = entries[0].arrived if entries else None
    if query is None:
        listing = format_entries(entries, origin=origin)
        return MockAssertionError(f"{headline}\nrequests that arrived:\n{listing}")
    matching = [e for e in entries if query.matches(e)]
    others = [e for e in entries if not query.matches(e)]
    return MockAssertionError(
        f"{headline}\nrequests matching {query.describe()}:\n{format_entries(matching, origin=origin)}\n"
        f"other requests:\n{format_entries(others, origin=origin)}")


def assert_called(journal: JournalView, rule: str | None = None, *, times: int | None = None,
                  at_least: int | None = None, at_most: int | None = None,
                  **filters: Unpack[FiltersBesidesRule]) -> list[Entry]:
    """Check how many requests matched (at least once when no bound is given); return them."""
    __tracebackhide__ = True
    query = Query.of({**filters, "rule": rule} if rule is not None else filters)
    found = [e for e in journal.entries() if query.matches(e)]
    n = len(found)
    if times is not None:
        ok, wanted = n == times, f"exactly {times}"
    else:
        low = 1 if at_least is None and at_most is None else (at_least or 0)
        ok = n >= low and (at_most is None or n <= at_most)
        wanted = f"at least {low}" + (f" and at most {at_most}" if at_most is not None else "")
    if not ok:
        raise _report(f"expected {wanted} request(s) matching {query.describe()}, got {n}", journal, query)
    return sorted(found, key=lambda e: (e.arrived, e.seq))


def check_rule_known(rule: str, journal: JournalView, rule_ids: Collection[str]) -> None:
    """Refuse a rule that is neither loaded nor in the journal: a typo must not pass assert_not_called.

    *rule_ids* are the loaded rules' ids (``scenario/rule``); a bare rule name is accepted too.
    """
    __tracebackhide__ = True
    ids = set(rule_ids) | {e.rule for e in journal.entries() if e.rule is not None}
    if rule in ids or any(found.partition("/")[2] == rule for found in ids):
        return
    names = sorted(ids | {found.partition("/")[2] for found in ids})
    close = difflib.get_close_matches(rule, names, 1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise MockAssertionError(f"no loaded rule is called {rule!r}{hint}; loaded rules: "
                             f"{', '.join(sorted(ids)) or 'none'}")


def assert_not_called(journal: JournalView, rule: str | None = None,
                      **filters: Unpack[FiltersBesidesRule]) -> None:
    """Check that no request matched."""
    __tracebackhide__ = True
    assert_called(journal, rule, times=0, **filters)


def retry_after_seconds(value: str, since: float) -> float | None:
    """Retry-After as seconds from *since*: delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - since)


def _planned_retry_after(entry: Entry, earlier: Sequence[Entry], engine: Engine | None) -> str | None:
    """Retry-After from the rule's plan, for entries recorded without their answer's headers.

    The ordinal is counted from the journal (same rule, same session), which is exact for
    plain sequences: rules with per-resource keys or conditional branches are not replayed.
    """
    if engine is None or entry.rule is None or entry.outcome != "answered":
        return None
    rule = next((r for r in engine.rules if r.id == entry.rule), None)
    if rule is None or rule.key is not None or rule.branches:
        return None
    ordinal = sum(1 for e in earlier if e.rule == entry.rule and e.session == entry.session
                  and e.outcome in ("answered", "timed_out", "fault", "client_gone"))
    plan = rule.responder.pick(ordinal)
    return next((v for k, v in plan.headers if k.lower() == "retry-after"), None)


def assert_retry_after_honoured(journal: JournalView, rule: str | None = None, *, tolerance: float = 0.01,
                                engine: Engine | None = None, **filters: Unpack[FiltersBesidesRule]) -> None:
    """Check that after every answer carrying Retry-After, the next matching request waited that long.

    The wait is measured from when the answer started to leave to when the next request
    arrived. *engine* lets answers journaled without their headers fall back to the rule's plan.
    """
    __tracebackhide__ = True
    query = Query.of({**filters, "rule": rule} if rule is not None else filters)
    everything = sorted(journal.entries(), key=lambda e: (e.arrived, e.seq))
    found = [e for e in everything if query.matches(e)]
    checked, early = 0, []
    for index, (previous, following) in enumerate(itertools.pairwise(found)):
        header = previous.response_header("Retry-After")
        if header is None and not previous.response_headers:
            header = _planned_retry_after(previous, found[:index], engine)
        if header is None:
            continue
        wanted = retry_after_seconds(header, previous.sent)
        if wanted is None:
            continue
        checked += 1
        waited = following.arrived - previous.sent
        if waited + tolerance < wanted:
            early.append(f"#{following.seq} came {waited:.3f}s after #{previous.seq} answered "
                         f"{previous.status} with Retry-After: {header}")
    if early:
        raise _report("the client did not wait for Retry-After:\n  " + "\n  ".join(early), journal, query)
    if not checked:
        raise _report(f"no answer with Retry-After was followed by another request matching "
                      f"{query.describe()}, so there was nothing to check", journal, query)


def assert_no_request_after(journal: JournalView, status: int = 200,
                            **filters: Unpack[FiltersBesidesStatus]) -> None:
    """Check that the client stopped at the first *status* answer: nothing matching came after it."""
    __tracebackhide__ = True
    query = Query.of(filters)
    found = sorted((e for e in journal.entries() if query.matches(e)), key=lambda e: (e.arrived, e.seq))
    first = next((i for i, e in enumerate(found) if e.status == status), None)
    if first is None:
        raise _report(f"no request matching {query.describe()} was answered {status}", journal, query)
    later = found[first + 1:]
    if later:
        raise _report(f"{len(later)} request(s) matching {query.describe()} came after the first "
                      f"{status} (#{found[first].seq})", journal, query)


def check_strict(journal: JournalView) -> None:
    """Fail if any request matched no rule or made the server fail (strict mode's teardown check)."""
    __tracebackhide__ = True
    problems = [e for e in journal.entries() if e.outcome in PROBLEM_OUTCOMES]
    if not problems:
        return
    unmatched = sum(1 for e in problems if e.outcome == "unmatched")
    errors = len(problems) - unmatched
    what = " and ".join(part for part in (
        f"{unmatched} request(s) matched no rule" if unmatched else "",
        f"{errors} request(s) made the server fail" if errors else "") if part)
    origin = min(e.arrived for e in journal.entries())
    raise MockAssertionError(f"strict mockserver: {what}:\n{format_entries(problems, origin=origin)}")
