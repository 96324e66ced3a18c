"""The fault family: the registry, the schema, header control and docs/chaos.md agree."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from mockserver.engine import HEADER_FAULTS
from mockserver.faults import FAULTS, Fault, fault_fields, fault_table_markdown
from mockserver.scenario.schema import FAULT_FIELDS, FaultSpec

ROOT = Path(__file__).resolve().parents[2]


def test_docs_table_is_the_registry() -> None:
    """docs/chaos.md lists exactly the registered faults, with the classes' own descriptions."""
    text = (ROOT / "docs" / "chaos.md").read_text()
    assert fault_table_markdown() in text
    documented = re.findall(r"^\| `(\w+)`", text.split("## Connection faults", 1)[1].split("```", 1)[0], re.M)
    assert documented == list(FAULTS)


def test_schema_reads_the_registry() -> None:
    """The spec's type names and per-type fields come from the fault classes."""
    assert get_args(FaultSpec.model_fields["type"].annotation) == tuple(FAULTS)
    assert FAULT_FIELDS == {"reset": ("after",), "close": ("after",), "hang": (), "drop": ("after",),
            "truncate": ("bytes", "fraction"), "malformed_chunk": (), "garbage": ("bytes",),
            "malformed_status": (), "slow_headers": ("delay", "interval", "chunk_size"),
            "drip": ("chunks", "over", "rate"), "keepalive_drop": ("requests",),
            "bandwidth": ("rate", "upstream"),
            "latency": ("delay", "jitter", "chunk_size"), "slicer": ("chunk_size", "variation", "interval"),
            "limit_data": ("bytes",), "slow_close": ("delay",), "timeout": ("after",), "keepalive_race": ()}
    spec_fields = set(FaultSpec.model_fields) - {"type"}
    for name in FAULTS:
        assert set(fault_fields(name)) <= spec_fields, name  # every fault field can be written


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_is_a_frozen_spec(name: str) -> None:
    cls = FAULTS[name]
    assert issubclass(cls, Fault) and cls.name == name and cls.__module__ == f"mockserver.faults.{name}"
    fault = cls()
    assert dataclasses.is_dataclass(fault) and fault.type == name
    for field in dataclasses.fields(fault):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(fault, field.name, None)


def test_header_control_offers_the_faults_that_need_no_count() -> None:
    assert HEADER_FAULTS == ("reset", "close", "hang", "drop", "truncate", "malformed_chunk", "garbage",
                             "malformed_status", "slow_headers")


def test_describe_names_the_spec() -> None:
    assert FAULTS["truncate"](bytes=3).describe() == "truncate (3 bytes)"
    assert FAULTS["drip"](chunks=5, over=1.0).describe() == "drip (5 chunks over 1s)"
    assert FAULTS["hang"]().describe() == "hang"


def test_faults_import_neither_aiohttp_nor_pydantic() -> None:
    """The family is written against Exchange: importing it loads no HTTP stack and no validator."""
    code = "import sys, mockserver.faults; print(sorted({'aiohttp', 'pydantic'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_the_spec_fields_are_the_classes_fields() -> None:
    """FaultSpec is generated: every field, its bounds and its description come from a fault class."""
    from mockserver.scenario import schema

    spec_fields = set(FaultSpec.model_fields) - {"type"}
    assert spec_fields == {f.name for cls in FAULTS.values() for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    assert FaultSpec.model_fields["bytes"].description == (
        "truncate: body bytes sent; garbage: how many (default 256); "
        "limit_data: bytes of the answer, head included, before FIN")
    assert [type(m).__name__ for m in FaultSpec.model_fields["fraction"].metadata] == ["Ge", "Lt"]
    assert tuple(FaultSpec.model_fields)[1:] == schema._FAULT_SPEC_FIELDS


def test_a_new_fault_class_is_all_the_schema_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    """One new class: its fields, bounds and docs become spec fields, its own check a spec error."""
    from mockserver.faults import spec
    from mockserver.scenario import schema

    @dataclasses.dataclass(frozen=True)
    class Wobble(Fault):
        name = "wobble"
        required = ("period", "period: how long one wobble lasts")
        period: float = spec(1.0, "how long one wobble lasts", duration=True)
        depth: int = spec(3, "how far it wobbles", ge=2)

    monkeypatch.setitem(FAULTS, "wobble", Wobble)
    fields = schema._fault_spec_fields()
    assert fields["depth"][1].description == "wobble: how far it wobbles"
    assert fields["depth"][1].metadata[0].ge == 2 and "wobble: how long" in fields["period"][1].description
    assert Wobble.spec_problem({}) == (None, "period: how long one wobble lasts")
    assert Wobble.spec_problem({"period": 2.0}) is None


def test_a_field_name_must_mean_the_same_in_every_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    from mockserver.faults import spec
    from mockserver.scenario import schema

    @dataclasses.dataclass(frozen=True)
    class Bytesy(Fault):
        name = "bytesy"
        bytes: int = spec(1, "at least one", ge=1)

    monkeypatch.setitem(FAULTS, "bytesy", Bytesy)
    with pytest.raises(TypeError) as caught:
        schema._fault_spec_fields()
    assert str(caught.value) == ("fault bytesy: field 'bytes' differs from the other faults' 'bytes' "
                                 "(type or bounds); give it another name")
