"""One journal for every replica on one Redis: each ships its finished entries to a capped stream
and mirrors the stream, so any replica's journal holds every replica's requests, each once.

Shipping is off the request path: ``record`` appends to a bounded queue that a background task
sends in pipelined batches (``XADD P:journal MAXLEN ~ size``); a reader task follows the stream
(``XREAD BLOCK``) into a mirror, keyed by request id (a later entry for the same request, such as
an answer that became ``client_gone``, replaces the earlier one in place). Reads stay local and
synchronous: the mirror plus this replica's own entries not yet seen in the stream (in-flight
snapshots, a batch not yet sent, everything while Redis is down). A clear is a marker in the
stream: every replica drops what came before it, and the stream is trimmed to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections import OrderedDict, deque
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..journal import Entry, Journal, Outcome, json_safe
from . import background

__all__ = ["SharedJournal"]

#: seconds between attempts while Redis cannot be reached (shipping and reading)
RETRY = 0.5
#: entries sent in one pipeline
BATCH = 500


def _stream_id(value: str) -> tuple[int, int]:
    """A stream entry's id ("1700000000000-3") as a number pair, to order two of them."""
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


class SharedJournal(Journal):
    """A Journal whose entries are every replica's, through the stream ``<prefix>:journal``."""

    def __init__(self, maxlen: int, url: str, prefix: str, *, timeout: float = 2.0) -> None:
        super().__init__(maxlen)
        self.stream = f"{prefix}:journal"
        self.replica = secrets.token_hex(4)
        self.timeout = timeout
        self._url = url
        self._redis: aioredis.Redis | None = None
        self._reader: aioredis.Redis | None = None
        # what is still to send, oldest first; full, the oldest unsent entry is dropped (counted)
        self._queue: deque[dict[str, str]] = deque()
        self.dropped = 0
        self.last_error: str | None = None
        self._mirror: OrderedDict[str, Entry] = OrderedDict()
        self._mirror_seq = 0
        self._shipped: OrderedDict[str, str] = OrderedDict()  # this replica's entries: their stream ids
        self._last_id = "0"
        self._wanted = asyncio.Event()
        self._sent = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False  # the loops end by themselves too: a cancellation can be lost
        self._clears_unseen = 0  # this replica's clear markers sent but not yet read back

    # --- writing ---------------------------------------------------------------------------------

    def _key(self, entry: Entry) -> str:
        return entry.request_id or f"{self.replica}-{entry.seq}"

    def _ship(self, fields: dict[str, str]) -> None:
        if len(self._queue) >= self.maxlen:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(fields)
        self._sent.clear()
        self._wanted.set()

    def _ship_entry(self, entry: Entry) -> None:
        if entry.outcome != Outcome.PENDING:  # a snapshot is shown locally; its finished entry is shipped
            self._ship({"k": self._key(entry), "e": json.dumps(json_safe(entry.as_dict()))})

    def record(self, entry: Entry) -> Entry:
        entry = super().record(entry)
        self._ship_entry(entry)
        return entry

    def begin(self, snapshot: Entry) -> Entry:
        return super().record(snapshot)

    def finish(self, snapshot: Entry, entry: Entry) -> Entry:
        entry = super().finish(snapshot, entry)
        with self._lock:  # a snapshot that was cleared meanwhile is not journaled: nor shared
            held = any(e is entry for e in reversed(self._entries))
        if held:
            self._ship_entry(entry)
        return entry

    def clear(self) -> None:
        """Forget every entry here at once, and (through a marker in the stream) on every replica."""
        super().clear()
        with self._lock:
            self._mirror.clear()
            self._mirror_seq = 0
        self._queue.clear()
        with self._lock:  # what the stream holds before this marker is gone: not read back meanwhile
            self._clears_unseen += 1
        self._ship({"clear": self.replica})

    # --- reading ---------------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        with self._lock:
            mirror = self._mirror
            found = list(mirror.values())
            # this replica's own entries the mirror does not hold yet (in flight, unsent, Redis down),
            # but not those a full mirror has already let go of
            cutoff = found[0].arrived if len(found) >= self.maxlen else 0.0
            found += [e for e in self._entries if e.arrived >= cutoff and self._key(e) not in mirror]
        found.sort(key=lambda e: e.arrived)  # arrival order, whichever replica served it
        return found

    def __len__(self) -> int:
        return len(self.entries())

    def _ingest(self, items: list[tuple[str, dict[str, str]]]) -> None:
        with self._lock:
            mirror = self._mirror
            for stream_id, fields in items:
                self._last_id = stream_id
                if self._clears_unseen and "clear" not in fields:
                    continue  # older than this replica's own clear, whose marker is still to come
                if "clear" in fields:  # this replica's entries sent before the marker are gone too
                    if fields["clear"] == self.replica and self._clears_unseen:
                        self._clears_unseen -= 1
                    cut, shipped = _stream_id(stream_id), self._shipped
                    kept = [e for e in self._entries
                            if (sent := shipped.get(self._key(e))) is None or _stream_id(sent) > cut]
                    if len(kept) < len(self._entries):
                        self._entries.clear()
                        self._entries.extend(kept)
                    mirror.clear()
                    self._mirror_seq = 0
                    self.clears += 1
                    continue
                try:
                    entry = Entry.from_dict(json.loads(fields["e"]))
                except (KeyError, ValueError, TypeError):
                    continue  # not one of ours: a stream entry nobody can read is skipped, not fatal
                key = fields.get("k", stream_id)
                held = mirror.get(key)
                if held is None:
                    self._mirror_seq += 1
                    object.__setattr__(entry, "seq", self._mirror_seq)  # not yet visible to any reader
                    mirror[key] = entry
                    if len(mirror) > self.maxlen:
                        mirror.popitem(last=False)
                else:
                    object.__setattr__(entry, "seq", held.seq)
                    mirror[key] = entry
        self._wake()

    # --- the background tasks --------------------------------------------------------------------

    async def open(self) -> None:
        """Start shipping and following (the server's start calls this on its loop)."""
        common: dict[str, Any] = {"socket_connect_timeout": self.timeout, "decode_responses": True}
        self._redis = aioredis.Redis.from_url(self._url, socket_timeout=self.timeout, **common)
        # the reader blocks in XREAD for up to a second: its own connection, a longer timeout
        self._reader = aioredis.Redis.from_url(self._url, socket_timeout=self.timeout + 1.0, **common)
        loop = asyncio.get_running_loop()
        self._wanted = asyncio.Event()
        self._sent = asyncio.Event()
        if self._queue:
            self._wanted.set()
        else:
            self._sent.set()
        self._stopping = False
        self._tasks = [loop.create_task(self._shipper(), name="journal shipper"),
                       loop.create_task(self._follower(), name="journal follower")]

    async def _shipper(self) -> None:
        assert self._redis is not None
        while not self._stopping:
            await self._wanted.wait()
            self._wanted.clear()
            while self._queue:
                # taken out of the queue while in flight: a clear meanwhile empties the queue, not this
                # batch, and what came before its marker is still sent before it
                batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
                try:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for fields in batch:
                            pipe.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)  # type: ignore[arg-type]
                        ids = await pipe.execute()
                    with self._lock:
                        for fields, stream_id in zip(batch, ids, strict=True):
                            if "k" in fields:
                                self._shipped[fields["k"]] = stream_id
                                self._shipped.move_to_end(fields["k"])
                        while len(self._shipped) > 2 * self.maxlen:
                            self._shipped.popitem(last=False)
                    for fields, stream_id in zip(batch, ids, strict=True):
                        if "clear" in fields:  # what came before the marker is gone for everyone
                            await self._redis.xtrim(self.stream, minid=stream_id)
                except (RedisError, OSError) as exc:
                    # kept and sent again later; a batch that half-arrived is sent again in full,
                    # and the readers' request-id keys make each entry count once
                    self.last_error = f"journal stream {self.stream}: {type(exc).__name__}: {exc}"
                    self._queue.extendleft(reversed(batch))
                    while len(self._queue) > self.maxlen:  # still bounded: the oldest go first
                        self._queue.popleft()
                        self.dropped += 1
                    await asyncio.sleep(RETRY)
                    continue
                self.last_error = None
            self._sent.set()

    async def _follower(self) -> None:
        assert self._reader is not None
        while not self._stopping:
            try:
                found: Any = await self._reader.xread({self.stream: self._last_id}, count=BATCH, block=1000)
            except (RedisError, OSError) as exc:
                self.last_error = f"journal stream {self.stream}: {type(exc).__name__}: {exc}"
                await asyncio.sleep(RETRY)
                continue
            for _stream, items in found or []:  # [[stream, [(id, fields), ...]]]
                self._ingest(items)

    async def settle(self, timeout: float | None = None) -> bool:
        """Wait until everything recorded so far has reached Redis; False if it did not in time."""
        if not self._tasks:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._sent.wait(), self.timeout if timeout is None else timeout)
            return True
        return False

    async def close(self) -> None:
        """Send what is queued (within the timeout), then stop."""
        if self._tasks:
            await self.settle()
        self._stopping = True
        await background.stop(self._tasks)
        self._tasks = []
        for client in (self._redis, self._reader):
            if client is not None:
                await client.aclose()
        self._redis = self._reader = None
