"""YAML (and JSON) documents with the line and column of every node.

Validation errors are reported against the path of a field (``rules[0].respond.status``); this
module keeps a map from such paths to source positions so the message can say ``file:line:col``.
Only the safe loader is used: scenario files never construct Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import Problem, ScenarioError

__all__ = ["Document", "PathKey", "parse_document"]

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Document:
    """Parsed data plus where each node of it came from."""

    source: str
    data: Any
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: PathKey) -> tuple[int | None, int | None]:
        """Line and column (1-based) of the deepest known node on *path*."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(path[:end])
            if mark is not None:
                return mark
        return None, None

    def problem(self, path: PathKey, message: str) -> Problem:
        line, col = self.position(path)
        return Problem(self.source, line, col, format_path(path), message)


def format_path(path: PathKey) -> str:
    """``('rules', 0, 'respond')`` -> ``rules[0].respond``; the empty path is ``(document)``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


# libyaml when PyYAML was built with it: a 1,000-rule file parses in a tenth of the time
_FAST_LOADER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)


def parse_document(text: str, source: str) -> Document:
    """Parse one YAML document; syntax errors and duplicate keys become a ScenarioError.

    libyaml parses; a document it refuses is parsed again by PyYAML's own parser, whose messages
    (and marks) are the ones the error lines are made of, whichever parser the machine has.
    """
    if _FAST_LOADER is not None:
        try:
            return _parse(text, source, _FAST_LOADER)
        except ScenarioError as exc:  # _parse turns every YAML error into one
            if any(not problem.message.startswith("invalid YAML") for problem in exc.problems):
                raise  # duplicate keys, an empty file: found in the node tree, whichever parser
    return _parse(text, source, yaml.SafeLoader)


def _parse(text: str, source: str, loader_type: type[yaml.SafeLoader]) -> Document:
    try:
        loader = loader_type(text)
    except yaml.reader.ReaderError as exc:  # a control character, found before any parsing
        raise ScenarioError([Problem(source, None, None, "(document)",
                                     f"invalid YAML: {exc.reason} (character #x{exc.character:04x}); "
                                     "expected printable text")]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError([Problem(source, 1, 1, "(document)",
                                         "found an empty file; expected a mapping with name and rules")])
        marks: dict[PathKey, tuple[int, int]] = {}
        problems: list[Problem] = []
        _walk(node, (), marks, problems, source)
        if problems:
            raise ScenarioError(problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        what = " ".join(x for x in (exc.context, exc.problem) if x)
        raise ScenarioError([Problem(source, line, col, "(document)",
                                     f"invalid YAML: {what}; expected well-formed YAML or JSON")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem(source, None, None, "(document)",
                                     f"invalid YAML: {exc}; expected well-formed YAML or JSON")]) from None
    finally:
        loader.dispose()
    return Document(source, data, marks)


def _walk(node: yaml.Node, path: PathKey, marks: dict[PathKey, tuple[int, int]],
          problems: list[Problem], source: str) -> None:
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            if key in seen and key != "<<":
                problems.append(Problem(
                    source, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                    format_path((*path, key)),
                    f"found a duplicate key (first on line {seen[key]}); expected each key once"))
            seen.setdefault(key, key_node.start_mark.line + 1)
            _walk(value_node, (*path, key), marks, problems, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), marks, problems, source)
