"""What the server did, for dashboards and CI logs: Prometheus metrics and JSON log lines.

Both are exchange hooks: the server calls them with each finished journal Entry, on its loop, so
counting is a few dict updates and nothing here needs a lock. Metrics are rendered in the
Prometheus text format (version 0.0.4) when scraped, at ``GET /__mock/metrics``.
"""

from __future__ import annotations

import bisect
import json
import math
import time
from collections.abc import Callable, Iterable
from typing import TextIO

from ..journal import Entry

__all__ = ["CONTENT_TYPE", "DELAY_BUCKETS", "JsonLog", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# seconds; a mock's delays range from none to timeouts of a minute or more
DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# a decision is free text ("timeline: phase 1 (...), 2.5s left"); its kind, the text before the
# first colon, is the label, and a server keeps at most this many kinds (then "other")
MAX_DECISIONS = 100
MAX_KIND = 60


class Metrics:
    """Counters fed by ``observe(entry)``; ``render(...)`` writes them as Prometheus text."""

    def __init__(self) -> None:
        # by (rule, status, outcome, fault) as the entry has them (None included): labels are made
        # when the metrics are read, not on every answer
        self.requests: dict[tuple[str | None, int | None, str, str | None], int] = {}
        self.faults: dict[str, int] = {}
        self.reloads: dict[str, int] = {"ok": 0, "error": 0}
        self.delay_buckets = [0] * (len(DELAY_BUCKETS) + 1)  # the last one is +Inf
        self.delay_sum = 0.0
        self.delay_count = 0

    def observe(self, entry: Entry) -> None:
        key = (entry.rule, entry.status, entry.outcome, entry.fault)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        # only what chaos injected: a mix that drew the rule's own answer, a conditional 304 or a
        # websocket message is a decision in the journal, not a fault
        for decision in entry.injected:
            kind = decision[:MAX_KIND] or "other"
            label = kind if kind in self.faults or len(self.faults) < MAX_DECISIONS else "other"
            self.faults[label] = self.faults.get(label, 0) + 1
        delay = entry.delay
        if delay > 0 and delay != math.inf:  # an unbounded delay counts as none, as a 0
            self.delay_buckets[bisect.bisect_left(DELAY_BUCKETS, delay)] += 1
            self.delay_sum += delay
        else:
            self.delay_buckets[0] += 1
        self.delay_count += 1

    def _request_labels(self) -> list[tuple[str, int]]:
        """The request counters by label; a fault that sent no status line has an empty status
        label, and its name as fault."""
        counted: dict[tuple[str, str, str, str], int] = {}
        for (rule, status, outcome, fault), n in self.requests.items():
            key = (rule or "", "" if status is None else str(status), outcome, fault or "")
            counted[key] = counted.get(key, 0) + n
        return [(_labels(rule=r, status=s, outcome=o, fault=f), n)
                for (r, s, o, f), n in sorted(counted.items())]

    def reloaded(self, ok: bool) -> None:
        self.reloads["ok" if ok else "error"] += 1

    def render(self, *, in_flight: int, scenarios: int, rules: int) -> str:
        out: list[str] = []
        _family(out, "mockserver_requests_total", "counter",
                "Requests the mock answered (control API requests excluded), by rule, status (empty when "
                "a fault sent none), outcome and fault.",
                self._request_labels())
        _family(out, "mockserver_faults_injected_total", "counter",
                "Chaos that changed an answer, by kind (fault, mix, rate_limit, timeline, ...).",
                ((_labels(decision=d), n) for d, n in sorted(self.faults.items())))
        _family(out, "mockserver_in_flight_requests", "gauge",
                "Requests being answered right now (delayed answers included).", [("", in_flight)])
        _family(out, "mockserver_scenarios_loaded", "gauge", "Scenarios being served.", [("", scenarios)])
        _family(out, "mockserver_rules_loaded", "gauge", "Rules being served.", [("", rules)])
        _family(out, "mockserver_reloads_total", "counter",
                "Reloads of watched scenario files, by result.",
                ((_labels(result=r), n) for r, n in sorted(self.reloads.items())))
        name = "mockserver_response_delay_seconds"
        out.append(f"# HELP {name} The delay each answer was given (before any deadline cut it short).")
        out.append(f"# TYPE {name} histogram")
        cumulative = 0
        for bound, count in zip((*DELAY_BUCKETS, math.inf), self.delay_buckets, strict=True):
            cumulative += count
            out.append(f"{name}_bucket{_labels(le=_number(bound))} {cumulative}")
        out.append(f"{name}_sum {_number(self.delay_sum)}")
        out.append(f"{name}_count {self.delay_count}")
        return "\n".join(out) + "\n"


def _family(out: list[str], name: str, kind: str, text: str, samples: Iterable[tuple[str, int]]) -> None:
    out.append(f"# HELP {name} {text}")
    out.append(f"# TYPE {name} {kind}")
    out.extend(f"{name}{labels} {value}" for labels, value in samples)


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    return repr(float(value))


class JsonLog:
    """One JSON object per exchange on *stream*: what was asked, what was answered, how long it took.

    Headers and bodies are left out: they may carry credentials, and the journal has them.
    """

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.time) -> None:
        self.stream = stream
        self.clock = clock

    def __call__(self, entry: Entry) -> None:
        ended = entry.ended if entry.ended is not None else self.clock()
        record: dict[str, object] = {
            "time": _iso(ended), "event": "exchange", "request_id": entry.request_id,
            "method": entry.method, "path": entry.path, "query": entry.query_string,
            "status": entry.status, "reason": entry.reason, "rule": entry.rule, "outcome": entry.outcome,
            "fault": entry.fault,
            "session": entry.session, "delay": entry.delay, "duration": round(ended - entry.arrived, 6),
            "decisions": list(entry.decisions), "client": entry.client,
        }
        self.event(record)

    def event(self, record: dict[str, object]) -> None:
        record.setdefault("time", _iso(self.clock()))
        self.stream.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.stream.flush()


def _iso(timestamp: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp))
    return f"{seconds}.{int(timestamp % 1 * 1000):03d}Z"
