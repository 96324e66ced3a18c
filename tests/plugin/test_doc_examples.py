"""The test files shown in README.md and docs/pytest.md, run through pytest exactly as printed.

tests/examples/test_docs.py exec()s every python block, which only defines these tests; here
each block whose first line names a file (``# test_retry.py``) is written under that name and
run. A ``# conftest.py`` block is used by the test block right after it. A block marked
"fails on purpose" must fail with the output shown in the ``text`` block that follows it.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

import pytest

from tests.conftest import ROOT

pytest_plugins = ["pytester"]

DOCS = [ROOT / "README.md", ROOT / "docs" / "pytest.md"]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
NAMED = re.compile(r"^# ((?:test_\w+|conftest)\.py)")


@dataclass
class Example:
    where: str
    filename: str
    source: str
    conftest: str | None = None
    expected_output: str | None = None  # set for examples that fail on purpose


def examples() -> list[Example]:
    found: list[Example] = []
    for doc in DOCS:
        text = doc.read_text()
        conftest: str | None = None
        blocks = list(FENCE.finditer(text))
        for index, block in enumerate(blocks):
            named = NAMED.match(block.group(2)) if block.group(1) == "python" else None
            if named is None:
                continue
            if named.group(1) == "conftest.py":
                conftest = block.group(2)
                continue
            where = f"{doc.name}:{text[:block.start()].count(chr(10)) + 1}"
            example = Example(where, named.group(1), block.group(2), conftest)
            conftest = None
            if "fails on purpose" in block.group(2).splitlines()[0]:
                following = blocks[index + 1]
                assert following.group(1) == "text", f"{where}: no output block follows"
                example.expected_output = following.group(2)
            found.append(example)
    return found


EXAMPLES = examples()


def test_the_docs_show_the_examples_the_issue_asks_for() -> None:
    names = {e.filename for e in EXAMPLES}
    assert {"test_retry.py", "test_tenacity.py", "test_fast.py", "test_strict_failure.py",
            "test_background.py", "test_failover.py", "test_session_scenarios.py"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.where for e in EXAMPLES])
def test_doc_example_runs(example: Example, tester: pytest.Pytester) -> None:
    tester.path.joinpath(example.filename).write_text(example.source)
    if example.conftest is not None:
        tester.path.joinpath("conftest.py").write_text(example.conftest)
    result = tester.runpytest("-p", "no:cacheprovider")
    tests = len(re.findall(r"^(?:async )?def test_", example.source, re.M))
    if example.expected_output is None:
        result.assert_outcomes(passed=tests)
        return
    result.assert_outcomes(failed=tests)
    # timings differ from run to run: "+0.004s" in the doc matches any "+N.NNNs"
    patterns = [fnmatch.translate(re.sub(r"\+\d+\.\d{3}s", "+*s", line).replace("[", "[[]"))
                for line in example.expected_output.splitlines()]
    output = result.stdout.lines
    start = next((i for i, line in enumerate(output) if re.match(patterns[0], line)), None)
    assert start is not None, f"{example.where}: {example.expected_output.splitlines()[0]!r} not in output"
    for offset, pattern in enumerate(patterns):
        assert re.match(pattern, output[start + offset]), (
            f"{example.where}: line {offset + 1} of the documented output differs:\n"
            f"  doc: {example.expected_output.splitlines()[offset]}\n  got: {output[start + offset]}")
