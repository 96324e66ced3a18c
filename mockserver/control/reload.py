"""Hot reload: watch scenario files and swap in what they say, atomically, or keep what works.

The watcher polls (size, mtime, inode) of every file under the served paths, and of the body
files a single watched scenario file names. Polling, not inotify:
it works the same on bind mounts into containers and on network file systems, and a few hundred
stat calls every half second cost nothing. A change is loaded once the files have stopped
changing for one interval (editors write in steps). Loading happens in a worker thread; the swap
is ``server.replace``, one reference assignment, so a request sees the old rules or the new ones,
never a mix, and requests in flight finish on the engine they started with.

An invalid file keeps every previous scenario in place; the problems go to the log and to
``server.reload_error`` (shown by ``GET /__mock/health``) until a reload succeeds. So do errors
that are not in a file (the system, a bug), and the watcher keeps watching. Scenarios added over
the control API under names no file uses stay loaded across reloads.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml

from ..errors import ScenarioError
from ..scenario import Scenario, load_paths
from .metrics import Metrics

__all__ = ["Reporter", "Snapshot", "Watched", "Watcher", "body_files", "scan"]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# called with (ok, message, problems) after each reload attempt
Reporter = Callable[[bool, str, list[str]], None]
Snapshot = dict[str, tuple[int, int, int]]
MAX_FILES = 10_000  # a watched folder this big is a mistake (a home directory?); stop counting


class Watched(Protocol):
    """What the watcher needs of a server: its scenarios, replace, and where to say how it went."""

    reload_error: str | None  # shown by GET /__mock/health until a reload succeeds
    metrics: Metrics

    @property
    def scenarios(self) -> tuple[Scenario, ...]: ...
    def replace(self, *sources: Any) -> list[Any]: ...


class Watcher:
    """Reload *paths* into *server* when files under them change.

    *snapshot* is what the files looked like before the server loaded them (``scan(paths)``):
    a change made between that load and this watcher's start is then seen and loaded. Without
    it the files are looked at now, and a save that came after the load but before now is
    missed until the next one.
    """

    def __init__(self, server: Watched, paths: Sequence[str | os.PathLike[str]], *,
                 interval: float = 0.5, report: Reporter | None = None,
                 snapshot: Snapshot | None = None) -> None:
        self.server = server
        self.paths = [Path(p) for p in paths]
        self.interval = interval
        self.report = report or (lambda ok, message, problems: None)
        self.names = {s.name for s in server.scenarios}  # the scenarios that came from the files
        self.snapshot = self.scan() if snapshot is None else snapshot

    def scan(self) -> Snapshot:
        """(size, mtime_ns, inode) of every file under the watched paths and the body files they name."""
        return scan(self.paths)

    async def run(self) -> None:
        """Poll until cancelled. An unexpected error is reported (log and health) and watching goes on."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.poll()
            except Exception as exc:  # a watcher that dies silently is worse
                self._failed(f"{type(exc).__name__}: {exc}")

    async def poll(self) -> bool:
        """Reload if the files changed and have settled; True if a reload was attempted."""
        current = await asyncio.to_thread(self.scan)
        if current == self.snapshot:
            return False
        while True:  # wait until a whole interval passes without a change
            await asyncio.sleep(self.interval)
            settled = await asyncio.to_thread(self.scan)
            if settled == current:
                break
            current = settled
        self.snapshot = current
        await self.reload()
        return True

    async def reload(self) -> bool:
        try:
            scenarios = await asyncio.to_thread(load_paths, self.paths)
        except ScenarioError as exc:
            problems = [str(p) for p in exc.problems]
            self.server.reload_error = "\n".join(problems)
            self.server.metrics.reloaded(ok=False)
            self.report(False, f"reload failed, still serving the previous scenarios: "
                               f"{len(problems)} problem(s)", problems)
            return False
        except Exception as exc:  # not in a file: say what it was, keep serving
            self._failed(f"{type(exc).__name__}: {exc}")
            return False
        names = {s.name for s in scenarios}
        # no await from here on: what the control API added is read and kept in the same step
        others = [s for s in self.server.scenarios if s.name not in self.names and s.name not in names]
        self.server.replace(*scenarios, *others)
        self.names = names
        self.server.reload_error = None
        self.server.metrics.reloaded(ok=True)
        rules = sum(len(s.rules) for s in scenarios)
        self.report(True, f"reloaded {len(scenarios)} scenario(s), {rules} rule(s)", [])
        return True

    def _failed(self, what: str) -> None:
        """An error that is not a problem in a file (a bug, the system): the same treatment, and a
        message that says it is not the files' fault."""
        problem = f"the watcher failed: {what[:500]}; still serving the previous scenarios, still watching"
        self.server.reload_error = problem
        self.server.metrics.reloaded(ok=False)
        self.report(False, f"reload failed, still serving the previous scenarios: {what[:500]}", [])


def scan(paths: Sequence[Path]) -> Snapshot:
    """(size, mtime_ns, inode) of every file under *paths*, and of the body files (``file:``) that
    a watched single file names: those are read at load time, so their changes need a reload too.
    (A folder is walked whole, and body files must lie inside a scenario's folder.)"""
    found: Snapshot = {}
    for path in paths:
        if path.is_dir():
            files = sorted(Path(root) / name for root, _, names in os.walk(path) for name in names)
        else:
            files = [path, *body_files(path)]
        for file in files[:MAX_FILES]:
            try:
                st = file.stat()
            except OSError:
                continue  # gone between listing and stat: the next scan sees it gone
            found[str(file)] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return found


_body_files: dict[tuple[str, int, int, int], list[Path]] = {}  # by the scenario file's (path, stat)


def body_files(path: Path) -> list[Path]:
    """The files a scenario file's answers read (``file: NAME``), relative to its folder.

    Read from the YAML event stream, which neither builds the document nor follows aliases, and
    only again when the scenario file itself changed. Names that the loader would refuse (outside
    the folder) are left out: loading fails on them anyway.
    """
    try:
        st = path.stat()
    except OSError:
        return []
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    cached = _body_files.get(key)
    if cached is not None:
        return cached
    names: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
        stack: list[list[bool]] = []  # per open collection: [is a mapping, the next node is a key]
        take = False  # the previous node was the key "file": this value is a body file's name
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                stack.pop()
                continue
            if not isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.MappingStartEvent,
                                      yaml.SequenceStartEvent)):
                continue
            is_key = bool(stack) and stack[-1][0] and stack[-1][1]
            if stack and stack[-1][0]:
                stack[-1][1] = not stack[-1][1]  # keys and values alternate in a mapping
            if isinstance(event, yaml.ScalarEvent):
                if take and not is_key and event.value:
                    names.append(event.value)
                take = is_key and event.value == "file"
            else:
                take = False
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                stack.append([isinstance(event, yaml.MappingStartEvent), True])
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        names = []  # unreadable or not YAML: the reload reports it; the file itself is watched
    base = path.parent.resolve()
    files = []
    for name in dict.fromkeys(names):
        target = (path.parent / name).resolve()
        if not os.path.isabs(name) and target.is_relative_to(base):
            files.append(target)
    if len(_body_files) > 1_000:
        _body_files.clear()
    _body_files[key] = files
    return files
