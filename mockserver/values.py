"""``@value_class``: a dataclass that the type checker holds frozen and that is cheap to build.

Entries and answers are made once per request. A ``frozen=True`` dataclass's ``__init__`` sets
each field through ``object.__setattr__``: building an Entry measured 27 us against 10 us for a
plain slotted one (timeit, same loaded machine). So at runtime these are plain slotted
dataclasses, and ``mypy --strict`` (in CI) rejects any assignment to their fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, dataclass_transform

__all__ = ["value_class"]

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def value_class(cls: type[T]) -> type[T]:
    """Make *cls* a slotted dataclass, frozen for the type checker (see the module docstring)."""
    return dataclass(slots=True)(cls)
