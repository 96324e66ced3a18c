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
