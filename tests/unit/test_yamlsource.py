"""The YAML loader's expansion bounds, exactly at and just past each limit, with both parsers."""

from __future__ import annotations

import pytest
import yaml

from mockserver.errors import ScenarioError
from mockserver.scenario import source as yamlsource
from mockserver.scenario.source import MAX_ALIAS_NODES, MAX_ALIASES, MAX_DEPTH, parse_document

LOADERS = [pytest.param(yamlsource._BoundedSafeLoader, id="pyyaml")]
if getattr(yaml, "CSafeLoader", None) is not None:
    LOADERS.insert(0, pytest.param(yaml.CSafeLoader, id="libyaml"))


def messages(text: str, loader: type[yaml.SafeLoader]) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        yamlsource._parse(text, "t.yaml", loader)
    return [str(p) for p in caught.value.problems]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("loader", LOADERS)
def test_depth_at_the_limit_loads_and_one_more_is_refused(loader: type[yaml.SafeLoader]) -> None:
    assert yamlsource._parse(nested(MAX_DEPTH), "t.yaml", loader).data is not None
    assert messages(nested(MAX_DEPTH + 1), loader) == [
        "t.yaml:1:101: (document): found mappings and lists nested more than 100 deep; "
        "expected at most 100 levels"]


def test_very_deep_text_is_refused_without_reaching_pyyaml() -> None:
    """libyaml stops at its own bound (1,000) with a syntax error; the depth is reported, not a
    RecursionError from the fallback parser seconds later."""
    for text in (nested(5000), "[" * 5000 + "]" * 4999, "a: " + "{b: " * 3000):
        with pytest.raises(ScenarioError) as caught:
            parse_document(text, "t.yaml")
        assert "nested more than 100 deep" in str(caught.value)


@pytest.mark.parametrize("loader", LOADERS)
def test_alias_count(loader: type[yaml.SafeLoader]) -> None:
    def text(count: int) -> str:
        return "a: &a 1\nb: [" + ", ".join(["*a"] * count) + "]\n"

    assert len(yamlsource._parse(text(MAX_ALIASES), "t.yaml", loader).data["b"]) == MAX_ALIASES
    assert messages(text(MAX_ALIASES + 1), loader) == [
        "t.yaml:2:4: (document): found more than 10000 aliases; expected at most 10000 in one document"]


@pytest.mark.parametrize("loader", LOADERS)
def test_expanded_nodes(loader: type[yaml.SafeLoader]) -> None:
    """A list of 999 scalars is 1,000 nodes: 100 aliases of it bring in exactly the budget."""
    def text(aliases: int) -> str:
        return "a: &a [" + ", ".join(["x"] * 999) + "]\nb: [" + ", ".join(["*a"] * aliases) + "]\n"

    assert len(yamlsource._parse(text(MAX_ALIAS_NODES // 1000), "t.yaml", loader).data["b"]) == 100
    assert messages(text(MAX_ALIAS_NODES // 1000 + 1), loader) == [
        "t.yaml:2:4: (document): found aliases that expand to more than 100000 nodes (this one "
        "repeats 1000, defined on line 1); expected at most 100000 nodes brought in by aliases"]


@pytest.mark.parametrize("loader", LOADERS)
def test_merge_keys_count_as_aliases(loader: type[yaml.SafeLoader]) -> None:
    lines = ["m0: &m0 {" + ", ".join(f"k{i}: {i}" for i in range(40)) + "}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], z{i}: 1}}" for i in range(1, 12)]
    found = messages("\n".join(lines) + "\n", loader)
    assert len(found) == 1 and "found aliases that expand to more than 100000 nodes" in found[0]


@pytest.mark.parametrize("loader", LOADERS)
def test_recursive_alias(loader: type[yaml.SafeLoader]) -> None:
    assert messages("a: &a [1, *a]\n", loader) == [
        "t.yaml:1:4: (document): found an alias to a node that contains it (a recursive alias); "
        "expected aliases to nodes defined before and outside them"]


def test_shared_nodes_keep_positions_per_path() -> None:
    doc = parse_document("a: &x {k: 1}\nb: *x\n", "t.yaml")
    assert doc.data == {"a": {"k": 1}, "b": {"k": 1}}
    assert doc.position(("b", "k")) == (1, 11)  # an alias points back at its anchor
