"""Bad stream specs get located, pinned errors that say what was found and what is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockserver import ScenarioError
from mockserver.faults.streams import STREAM_FAULTS, stream_fault_table_markdown
from mockserver.scenario.load import load_text
from mockserver.streams import Stream


def problems(stream: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_text(f"name: s\nrules:\n  - match: {{path: /s}}\n    stream:\n{stream}", "s.yaml")
    return [str(p) for p in info.value.problems]


def test_a_valid_stream_compiles() -> None:
    scenario = load_text("name: s\nrules:\n  - stream:\n      format: jsonl\n      interval: 10ms\n"
                         "      events: [{json: {a: 1}}]\n"
                         "      fault: {type: stop, after: 0, abrupt: true}\n")
    stream = scenario.rules[0].stream
    assert isinstance(stream, Stream)
    assert (stream.media_type, stream.interval, stream.fault.describe() if stream.fault else "") == (
        "application/jsonl", 0.01, "stop after 0 (abrupt)")


@pytest.mark.parametrize(("stream", "expected"), [
    ("      events: []\n", "s.yaml:5:15: rules[0].stream.events: found []; expected at least 1 item"),
    ("      events: [{data: a, json: 1}]\n",
     "s.yaml:5:16: rules[0].stream.events[0]: found data and json; expected data or json, not both"),
    ("      format: xml\n      events: [{data: a}]\n",
     "s.yaml:5:15: rules[0].stream.format: found 'xml'; expected 'sse', 'ndjson' or 'jsonl'"),
    ("      events: [{data: a}]\n      fault: {type: stop, at: 2}\n",
     "s.yaml:6:14: rules[0].stream.fault: found stop and at; expected stop with abrupt, after only"),
    ("      events: [{data: '{{ nope }}'}]\n",
     "s.yaml:5:23: rules[0].stream.events[0].data: found '{{ nope }}'; expected names from path,"),
])
def test_bad_streams_are_refused_with_where_and_what(stream: str, expected: str) -> None:
    found = problems(stream)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_chaos_docs_list_every_stream_fault() -> None:
    text = (Path(__file__).parents[2] / "docs" / "chaos.md").read_text()
    rows = stream_fault_table_markdown().splitlines()[2:]
    assert len(rows) == len(STREAM_FAULTS) and all(row in text for row in rows)
