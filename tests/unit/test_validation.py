"""Scenario validation: every finding is one line, file:line:col: field: found ...; expected ...."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mockserver import ScenarioError, load_paths, load_scenario
from mockserver.cli import main
from mockserver.packs import BUILTIN_DIR
from mockserver.scenario.source import _parse, parse_document
from tests.conftest import DATA

INVALID = sorted((DATA / "invalid").glob("*.yaml"))


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_file_gives_pinned_lines(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each file under tests/data/invalid fails with exactly the lines in its .expected file."""
    monkeypatch.chdir(path.parent)
    with pytest.raises(ScenarioError) as info:
        load_paths([path.name])
    expected = path.with_suffix(".expected").read_text().splitlines()
    assert str(info.value).splitlines() == expected


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_validate_command_prints_the_same_lines(path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(path.parent)
    assert main(["validate", path.name]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == path.with_suffix(".expected").read_text().splitlines()
    assert "Traceback" not in out + err


def test_validate_reports_every_file_at_once(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(DATA / "invalid")
    assert main(["validate", "bad-then.yaml", "unknown-field.yaml"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["bad-then.yaml", "unknown-field.yaml"]


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "scenarios"]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_missing_path_is_a_problem_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "no/such/file.yaml"]) == 1
    assert capsys.readouterr().out == (
        "no/such/file.yaml: (file): found no such file or folder; expected a scenario file or folder, "
        "or a built-in name (`mockserver serve --help` lists them)\n")


def test_inline_dict_errors_name_the_field() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario({"name": "x", "rules": [{"respond": {"status": 99}}]})
    assert str(info.value) == (
        "<inline>: rules[0].respond.status: found 99; expected an HTTP status code, "
        "an integer from 100 to 599")


def test_duplicate_scenario_names_across_files(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text("name: same\nrules: [{match: {path: /x}}]\n")
    with pytest.raises(ScenarioError, match=r"b.yaml: name: found 'same' again \(also in .*a.yaml\); "
                                            r"expected scenario names that are unique"):
        load_paths([tmp_path])


def test_file_body_symlink_cannot_escape(tmp_path: Path) -> None:
    """A symlink inside the folder that points outside it is refused like ../."""
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "link.txt").symlink_to(outside)
    (folder / "s.yaml").write_text("name: s\nrules:\n  - respond: {file: link.txt}\n")
    with pytest.raises(ScenarioError, match="leads outside the scenario's folder"):
        load_paths([folder / "s.yaml"])


def test_file_body_inside_folder_is_read(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "c.json").write_text('{"id": 1}')
    (tmp_path / "s.yaml").write_text("name: s\nrules:\n  - respond: {file: data/c.json}\n")
    rule = load_paths([tmp_path / "s.yaml"])[0].rules[0]
    plan = rule.responder.pick(0)
    assert plan.body == b'{"id": 1}'
    assert ("Content-Type", "application/json") in plan.headers


def test_schema_command_prints_a_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["required"] == ["name"]
    assert schema["anyOf"] == [{"required": ["rules"]}, {"required": ["applies_to"]}]
    rule = schema["$defs"]["RuleSpec"]["properties"]
    assert {"match", "respond", "then", "when", "times", "deadline", "priority"} <= set(rule)
    assert schema["$defs"]["PlanSpec"]["additionalProperties"] is False


def test_schema_accepts_every_shipped_scenario() -> None:
    """The exported schema agrees with the loader on the built-in files (checked with jsonschema
    when it is installed; the loader itself is the reference)."""
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    from mockserver.scenario.schema import ScenarioSpec

    schema = ScenarioSpec.model_json_schema(by_alias=True)
    for path in sorted(BUILTIN_DIR.rglob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


_SHIPPED = sorted(BUILTIN_DIR.rglob("*.yaml"))


LIBYAML = pytest.mark.skipif(not getattr(yaml, "__with_libyaml__", False), reason="PyYAML without libyaml")


@LIBYAML
@pytest.mark.parametrize("path", _SHIPPED, ids=lambda p: p.name)
def test_libyaml_and_pyyaml_read_the_same_document(path: Path) -> None:
    """Valid files are parsed by libyaml (fast); both parsers give the same data and marks."""
    text = path.read_text()
    fast, slow = _parse(text, str(path), yaml.CSafeLoader), _parse(text, str(path), yaml.SafeLoader)
    assert (fast.data, fast.marks) == (slow.data, slow.marks)


@LIBYAML
def test_a_file_libyaml_refuses_gets_pyyamls_message(tmp_path: Path) -> None:
    """The error lines are PyYAML's whichever parser ran first (they are pinned elsewhere)."""
    bad = "name: x\nrules:\n  - match: {path: /a\n    respond: {status: 200}\n"
    with pytest.raises(ScenarioError) as fast:
        parse_document(bad, "bad.yaml")
    with pytest.raises(ScenarioError) as slow:
        _parse(bad, "bad.yaml", yaml.SafeLoader)
    assert [str(p) for p in fast.value.problems] == [str(p) for p in slow.value.problems]
    with pytest.raises(ScenarioError) as libyaml:
        _parse(bad, "bad.yaml", yaml.CSafeLoader)
    assert libyaml.value.problems != slow.value.problems  # libyaml words it otherwise
    assert str(fast.value.problems[0]).startswith("bad.yaml:4:12: (document): invalid YAML: while parsing")


WARNINGS = sorted((DATA / "warnings").glob("*.yaml"))


@pytest.mark.parametrize("path", WARNINGS, ids=[p.stem for p in WARNINGS])
def test_validate_prints_pinned_warnings_and_exits_0(path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """What can be legitimate is a warning (exit 0); quiet: [...] or quoting silences it."""
    monkeypatch.chdir(path.parent)
    assert main(["validate", path.name]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == path.with_suffix(".expected").read_text().splitlines()
    assert err == ""


def test_applies_to_warning_only_when_the_target_is_not_loaded_with_it(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: overlay\napplies_to: [target]\n"
                                     "mix: [{weight: 1, respond: {status: 503}}]\n")
    alone = load_paths([tmp_path / "a.yaml"])
    assert [str(w) for w in alone[0].warnings] == [
        f"{tmp_path / 'a.yaml'}:2:13: warning: applies_to: found 'target', not loaded (loaded: none); "
        "expected the name of a loaded scenario or *; quiet: [applies_to] silences this"]
    (tmp_path / "b.yaml").write_text("name: target\nrules: [{match: {path: /x}}]\n")
    assert [s.warnings for s in load_paths([tmp_path])] == [(), ()]
    assert load_scenario(tmp_path / "a.yaml").warnings == ()  # alone, the set of loaded ones is unknown


def test_shipped_scenarios_have_no_warnings() -> None:
    assert [w for path in _SHIPPED for w in load_scenario(path).warnings] == []


def test_standard_and_star_methods_load_silently() -> None:
    spec = {"name": "m", "rules": [{"match": {"method": m, "path": "/x"}} for m in
                                   ("GET", "CONNECT", "*", ["PATCH", "TRACE"])]}
    assert load_scenario(spec).warnings == ()
