"""YAML (and JSON) documents with the line and column of every node.

Validation errors are reported against the path of a field (``rules[0].respond.status``); this
module keeps a map from such paths to source positions so the message can say ``file:line:col``.
Only the safe loader is used: scenario files never construct Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import Problem, ScenarioError

__all__ = ["MAX_ALIASES", "MAX_ALIAS_NODES", "MAX_DEPTH", "Document", "PathKey", "parse_document"]

PathKey = tuple[str | int, ...]

# Anchors and aliases share one node in the composed graph, but everything after composition
# (positions, validation, compiling) walks the expanded tree: a 1 KB "billion laughs" document
# would cost gigabytes. These bounds are checked on the graph, in time linear in what was written.
MAX_ALIASES = 10_000
"""At most this many aliases (``*name``, merge keys included) in one document."""
MAX_ALIAS_NODES = 100_000
"""At most this many nodes brought in through aliases, counting what nested aliases bring in."""
MAX_DEPTH = 100
"""At most this many levels of nested mappings and lists."""


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
            _refuse_deep_events(text, source, _FAST_LOADER)  # PyYAML's scanner is slow on those
    return _parse(text, source, _BoundedSafeLoader)


def _refuse_deep_events(text: str, source: str, loader_type: type[yaml.SafeLoader]) -> None:
    """Raise the depth error when the events before the syntax error already nest too deep."""
    def too_deep(mark: Any) -> ScenarioError:  # yaml.Mark, or libyaml's own Mark type
        return ScenarioError([Problem(source, mark.line + 1, mark.column + 1, "(document)",
                                      f"found mappings and lists nested more than {MAX_DEPTH} deep; "
                                      f"expected at most {MAX_DEPTH} levels")])

    loader = loader_type(text)
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()  # type: ignore[no-untyped-call]
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise too_deep(event.start_mark)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as exc:  # libyaml's own nesting bound (1,000) is past ours
        if exc.problem_mark is not None and "nesting depth" in (exc.problem or ""):
            raise too_deep(exc.problem_mark) from None
    except yaml.YAMLError:
        return
    finally:
        loader.dispose()


class _BoundedSafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a depth bound in its (recursive) composer: a deeply nested
    document is refused at MAX_DEPTH instead of exhausting Python's stack after seconds."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ScenarioError([Problem(
                    self._source, mark.line + 1, mark.column + 1, "(document)",
                    f"found mappings and lists nested more than {MAX_DEPTH} deep; "
                    f"expected at most {MAX_DEPTH} levels")])
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    _source = "<text>"


def _parse(text: str, source: str, loader_type: type[yaml.SafeLoader]) -> Document:
    try:
        loader = loader_type(text)
        if isinstance(loader, _BoundedSafeLoader):
            loader._source = source
    except yaml.reader.ReaderError as exc:  # a control character, found before any parsing
        raise ScenarioError([Problem(source, None, None, "(document)",
                                     f"invalid YAML: {exc.reason} (character #x{exc.character:04x}); "
                                     "expected printable text")]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError([Problem(source, 1, 1, "(document)",
                                         "found an empty file; expected a mapping with name and rules")])
        _check_expansion(node, source)
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


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node, source: str) -> None:
    """Refuse a graph whose expansion exceeds the bounds, before anything expands it.

    One depth-first pass over the composed graph: a node met again is an alias, and adds its
    expanded size (already known, since it was finished first) to the budget.
    """
    def refuse(node: yaml.Node, message: str) -> ScenarioError:
        return ScenarioError([Problem(source, node.start_mark.line + 1, node.start_mark.column + 1,
                                      "(document)", message)])

    sizes: dict[int, int] = {}
    open_ids = {id(root)}
    stack: list[tuple[yaml.Node, list[yaml.Node], int]] = [(root, _children(root), 0)]
    aliases = alias_nodes = 0
    while stack:
        node, kids, index = stack[-1]
        if index == len(kids):
            stack.pop()
            open_ids.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(kid)] for kid in kids)
            continue
        stack[-1] = (node, kids, index + 1)
        kid = kids[index]
        if id(kid) in open_ids:
            raise refuse(node, "found an alias to a node that contains it (a recursive alias); "
                               "expected aliases to nodes defined before and outside them")
        size = sizes.get(id(kid))
        if size is not None:  # met before: this edge is an alias
            aliases += 1
            alias_nodes += size
            if aliases > MAX_ALIASES:
                raise refuse(node, f"found more than {MAX_ALIASES} aliases; expected at most "
                                   f"{MAX_ALIASES} in one document")
            if alias_nodes > MAX_ALIAS_NODES:
                raise refuse(node, f"found aliases that expand to more than {MAX_ALIAS_NODES} nodes "
                                   f"(this one repeats {size}, defined on line {kid.start_mark.line + 1}); "
                                   f"expected at most {MAX_ALIAS_NODES} nodes brought in by aliases")
            continue
        if isinstance(kid, yaml.ScalarNode):  # most nodes: finished at once, no stack frame
            sizes[id(kid)] = 1
            continue
        if len(stack) >= MAX_DEPTH:
            raise refuse(kid, f"found mappings and lists nested more than {MAX_DEPTH} deep; "
                              f"expected at most {MAX_DEPTH} levels")
        open_ids.add(id(kid))
        stack.append((kid, _children(kid), 0))


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
