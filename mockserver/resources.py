"""Stateful resources: collections of items that rules create, list, show, update and delete.

Why: an API double that forgets what it was sent contradicts itself (a created cluster missing
from the list). A scenario declares collections with seed items; a rule names one operation on
one collection. Items live in the session's state (``X-Mock-Session``), so sessions see separate
worlds and a reset brings the seed back. A lifecycle ("creating for 30 s, then available") is
stored as transition times and applied when the item is read, on the server's clock, so the
test clock and fast mode apply and nothing runs in the background. Pure: no I/O, no aiohttp.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .templating import JsonTemplate, Template

__all__ = ["ACTIONS", "Collection", "CollectionState", "Operation", "Paging", "ResourceResult", "Stage",
           "apply", "collection_items", "dump_collection", "load_collection", "merge", "seeded",
           "set_collection"]

ACTIONS = ("create", "list", "show", "update", "replace", "delete")

#: an item as stored: [the item, its pending transitions [[at, patch or None (gone)], ...]]
Stored = list[Any]


@dataclass(frozen=True, slots=True)
class Collection:
    """A declared collection: how ids are made, which fields must be unique, where new items go."""

    name: str
    id_field: str = "id"
    ids: str = "uuid"  # uuid | int: the shape of a generated id
    seed: tuple[Mapping[str, Any], ...] = ()
    unique: tuple[str, ...] = ()
    insert: str = "last"  # first | last: where a created item goes in the list order


@dataclass(frozen=True, slots=True)
class Stage:
    """One transition of a lifecycle: *after* seconds from the operation, merge *set* into the
    item, or remove it (*gone*)."""

    after: float
    set: JsonTemplate | Any = None
    gone: bool = False


@dataclass(frozen=True, slots=True)
class Paging:
    """Offset paging (start, limit) or page paging (page, size); *base* is the first one's number."""

    style: str  # offset | page
    start: Template | None
    size: Template | None
    base: int = 0
    default_size: int = 10
    max_size: int = 1000


@dataclass(frozen=True, slots=True)
class Operation:
    """What one rule does to a collection; templates are rendered per request."""

    collection: str
    action: str
    id: Template | None = None
    item: JsonTemplate | Any = None  # create/replace: the whole item; update: the merge patch
    filters: tuple[tuple[str, Template | Any], ...] = ()
    sort: Template | str | None = None
    paging: Paging | None = None
    lifecycle: tuple[Stage, ...] = ()
    missing: Any = None  # the Plan for a missing item (None: the catalogue's 404)
    conflict: Any = None  # the Plan for a conflict (None: the catalogue's 409)
    source: str = ""


@dataclass(slots=True)
class ResourceResult:
    """The outcome: ok, missing, conflict or invalid; the item and the listing templates see."""

    kind: str
    item: Any = None
    collection: Any = None
    change: str = ""
    message: str = ""


@dataclass(slots=True)
class CollectionState:
    """A collection in one session: the items in list order and the count behind generated ids."""

    items: dict[str, Stored] = field(default_factory=dict)
    made: int = 0


Render = Callable[[Any, Any], Any]  # (template or literal, the item templates see) -> value


def merge(target: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7396): objects merge, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def seeded(spec: Collection) -> CollectionState:
    """A fresh copy of the seed items (a session's first use of the collection, or after reset)."""
    state = CollectionState()
    for item in spec.seed:
        state.items[str(item[spec.id_field])] = [copy.deepcopy(dict(item)), []]
    return state


def settle(stored: Stored, now: float) -> bool:
    """Apply the transitions due by *now*; False when the item is gone."""
    pending = stored[1]
    while pending and pending[0][0] <= now:
        _, patch = pending.pop(0)
        if patch is None:
            return False
        stored[0] = merge(stored[0], patch)
    return True


def live(state: CollectionState, now: float) -> list[dict[str, Any]]:
    """The items as they are at *now*, in list order (gone ones dropped for good)."""
    out = []
    for key in list(state.items):
        stored = state.items[key]
        if stored[1] and not settle(stored, now):
            del state.items[key]
            continue
        out.append(stored[0])
    return out


def lookup(item: Any, dotted: str) -> Any:
    """A field by dotted path (``datastore.type``); None when absent."""
    for part in dotted.split("."):
        if isinstance(item, dict):
            item = item.get(part)
        elif isinstance(item, list) and part.isdigit() and int(part) < len(item):
            item = item[int(part)]
        else:
            return None
    return item


def new_id(spec: Collection, state: CollectionState, seed: int | None, session: str) -> str:
    """A generated id: reproducible under a seed (same seed, same session, same order: same ids)."""
    state.made += 1
    if spec.ids == "int":
        taken = {k for k in state.items}
        n = state.made
        while str(n) in taken:
            n += 1
        state.made = n
        return str(n)
    if seed is None:
        return str(uuid.uuid4())
    digest = hashlib.sha256(f"{seed}/{session}/{spec.name}/{state.made}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _conflicts(spec: Collection, state: CollectionState, item: Mapping[str, Any], own: str | None,
               now: float) -> str | None:
    for field_name in spec.unique:
        wanted = lookup(item, field_name)
        if wanted is None:
            continue
        for key, stored in state.items.items():
            if key != own and (not stored[1] or settle(stored, now)) \
                    and lookup(stored[0], field_name) == wanted:
                return f"{spec.name}: {field_name} {wanted!r} is taken by {key}"
    return None


def _number(raw: Any, name: str) -> int | str | None:
    """A paging number from the request: None when absent, a message when not a whole number."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return f"{name}: found {raw!r}; expected a whole number"
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return f"{name}: found {raw!r}; expected a whole number"


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (2, "")
    if isinstance(value, bool | int | float):
        return (0, value)
    return (1, str(value))


def _by(key: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    return lambda item: _sort_key(lookup(item, key))


def listing(op: Operation, items: list[dict[str, Any]], render: Render) -> ResourceResult:
    """Filter, sort and page the live items; the listing templates see as ``collection``."""
    for name, wanted_spec in op.filters:
        wanted = render(wanted_spec, None)
        if wanted is None or wanted in ("", []):
            continue
        allowed = {json.dumps(w) if not isinstance(w, str) else w
                   for w in (wanted if isinstance(wanted, list) else [wanted])}
        items = [i for i in items if (v := lookup(i, name)) is not None
                 and (v if isinstance(v, str) else json.dumps(v)) in allowed]
    order = render(op.sort, None) if op.sort is not None else None
    if isinstance(order, str) and order.strip():
        for spelled in reversed([k.strip() for k in order.split(",") if k.strip()]):
            descending = spelled.startswith("-")
            key = spelled.lstrip("-+")
            present = [i for i in items if lookup(i, key) is not None]
            absent = [i for i in items if lookup(i, key) is None]
            present.sort(key=_by(key), reverse=descending)
            items = present + absent
    total = len(items)
    view: dict[str, Any] = {"total": total}
    paging = op.paging
    if paging is None:
        view.update(items=items, start=0, limit=total, page=1, pages=1 if total else 0, more=False)
        return ResourceResult("ok", collection=view)
    start_raw = _number(render(paging.start, None) if paging.start is not None else None,
                        "offset" if paging.style == "offset" else "page")
    size_raw = _number(render(paging.size, None) if paging.size is not None else None,
                       "limit" if paging.style == "offset" else "size")
    for raw in (start_raw, size_raw):
        if isinstance(raw, str):
            return ResourceResult("invalid", message=raw)
    size = paging.default_size if size_raw is None else size_raw
    first = paging.base if start_raw is None else start_raw
    assert not isinstance(size, str)
    assert not isinstance(first, str)
    if size < 1 or size > paging.max_size:
        return ResourceResult("invalid", message=f"{'limit' if paging.style == 'offset' else 'size'}: "
                                                 f"found {size}; expected 1 to {paging.max_size}")
    if first < paging.base:
        return ResourceResult("invalid", message=f"{'offset' if paging.style == 'offset' else 'page'}: "
                                                 f"found {first}; expected {paging.base} or more")
    begin = (first - paging.base) if paging.style == "offset" else (first - paging.base) * size
    page_items = items[begin:begin + size]
    view.update(items=page_items, start=begin, limit=size, page=begin // size + paging.base,
                pages=math.ceil(total / size), more=begin + size < total)
    return ResourceResult("ok", collection=view)


def apply(op: Operation, spec: Collection, state: CollectionState, now: float, render: Render,
          request_json: Any, *, seed: int | None = None, session: str = "") -> ResourceResult:
    """Carry out *op* on the session's *state* at *now* (the caller holds the state's lock)."""
    if op.action == "list":
        return listing(op, live(state, now), render)
    wanted = render(op.id, None) if op.id is not None else None
    key = None if wanted is None or wanted == "" else str(wanted)
    if op.action == "create":
        if key is not None and key in state.items and settle(state.items[key], now):
            return ResourceResult("conflict", message=f"{spec.name}: {key} exists already")
        key = key if key is not None else new_id(spec, state, seed, session)
        body = render(op.item, {spec.id_field: key}) if op.item is not None else request_json
        if not isinstance(body, dict):
            return ResourceResult("invalid", message=f"{spec.name}: found {type(body).__name__} as the new "
                                                     "item; expected a JSON object")
        item = {spec.id_field: key, **{k: v for k, v in body.items() if k != spec.id_field}}
        problem = _conflicts(spec, state, item, None, now)
        if problem is not None:
            return ResourceResult("conflict", message=problem)
        stored: Stored = [item, _stages(op, item, now, render)]
        if spec.insert == "first":
            state.items = {key: stored, **state.items}
        else:
            state.items[key] = stored
        return ResourceResult("ok", item=item, change=f"resource {spec.name}: created {key}")
    found = state.items.get(key) if key is not None else None
    if found is None or not settle(found, now):
        if found is not None and key is not None:
            del state.items[key]
        return ResourceResult("missing", message=f"{spec.name}: no item {key}")
    assert key is not None
    if op.action == "show":
        return ResourceResult("ok", item=found[0])
    if op.action == "delete":
        del state.items[key]
        return ResourceResult("ok", item=found[0], change=f"resource {spec.name}: deleted {key}")
    if op.action == "replace":
        body = render(op.item, found[0]) if op.item is not None else request_json
    else:  # update: merge
        patch = render(op.item, found[0]) if op.item is not None else request_json
        body = merge(found[0], patch) if isinstance(patch, dict) else patch
    if not isinstance(body, dict):
        return ResourceResult("invalid", message=f"{spec.name}: found {type(body).__name__} as the "
                                                 "update; expected a JSON object")
    item = {**body, spec.id_field: key}
    problem = _conflicts(spec, state, item, key, now)
    if problem is not None:
        return ResourceResult("conflict", message=problem)
    found[0] = item
    if op.lifecycle:
        found[1] = sorted([*found[1], *_stages(op, item, now, render)], key=lambda s: s[0])
    return ResourceResult("ok", item=item, change=f"resource {spec.name}: updated {key}")


def _stages(op: Operation, item: Any, now: float, render: Render) -> list[list[Any]]:
    """The lifecycle as absolute times with its patches rendered now (they may read the request)."""
    return [[now + stage.after, None if stage.gone else render(stage.set, item)] for stage in op.lifecycle]


def collection_items(state: CollectionState, now: float) -> list[dict[str, Any]]:
    """The live items, copied (for the control API)."""
    return copy.deepcopy(live(state, now))


def set_collection(spec: Collection, items: list[Any]) -> CollectionState | str:
    """A collection set whole (the control API): each item a JSON object with a unique id."""
    state = CollectionState()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            return f"items[{index}]: found {type(item).__name__}; expected a JSON object"
        key = item.get(spec.id_field)
        if key is None or key == "":
            return f"items[{index}]: found no {spec.id_field!r}; expected every item to have one"
        if str(key) in state.items:
            return f"items[{index}]: found {spec.id_field} {key!r} again; expected unique ids"
        state.items[str(key)] = [copy.deepcopy(item), []]
    return state


def dump_collection(state: CollectionState) -> str:
    """The collection as one JSON text, for a shared backend: items in list order with their
    pending transitions, and ``made`` (so seeded ids stay reproducible across replicas)."""
    return json.dumps({"made": state.made, "items": [[key, stored[0], stored[1]]
                                                     for key, stored in state.items.items()]},
                      separators=(",", ":"))


def load_collection(text: str) -> CollectionState:
    """dump_collection read back."""
    raw = json.loads(text)
    return CollectionState({str(key): [item, pending] for key, item, pending in raw["items"]},
                           int(raw["made"]))
