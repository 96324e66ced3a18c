"""Hot reload: watch scenario files and swap in what they say, atomically, or keep what works.

The watcher polls (size, mtime, inode) of every file under the served paths. Polling, not inotify:
it works the same on bind mounts into containers and on network file systems, and a few hundred
stat calls every half second cost nothing. A change is loaded once the files have stopped
changing for one interval (editors write in steps). Loading happens in a worker thread; the swap
is ``server.replace``, one reference assignment, so a request sees the old rules or the new ones,
never a mix, and requests in flight finish on the engine they started with.

An invalid file keeps every previous scenario in place; the problems go to the log and to
``server.reload_error`` (shown by ``GET /__mock/health``) until a reload succeeds. Scenarios
added over the control API under names no file uses stay loaded across reloads.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ScenarioError
from .scenario import load_paths

if TYPE_CHECKING:
    from .server import MockServer

__all__ = ["Reporter", "Watcher"]

# called with (ok, message, problems) after each reload attempt
Reporter = Callable[[bool, str, list[str]], None]
Snapshot = dict[str, tuple[int, int, int]]
MAX_FILES = 10_000  # a watched folder this big is a mistake (a home directory?); stop counting


class Watcher:
    """Reload *paths* into *server* when files under them change."""

    def __init__(self, server: MockServer, paths: Sequence[str | os.PathLike[str]], *,
                 interval: float = 0.5, report: Reporter | None = None) -> None:
        self.server = server
        self.paths = [Path(p) for p in paths]
        self.interval = interval
        self.report = report or (lambda ok, message, problems: None)
        self.names = {s.name for s in server.scenarios}  # the scenarios that came from the files
        self.snapshot = self.scan()

    def scan(self) -> Snapshot:
        """(size, mtime_ns, inode) of every file under the watched paths."""
        found: Snapshot = {}
        for path in self.paths:
            files = [path] if not path.is_dir() else sorted(
                Path(root) / name for root, _, names in os.walk(path) for name in names)
            for file in files[:MAX_FILES]:
                try:
                    st = file.stat()
                except OSError:
                    continue  # gone between listing and stat: the next scan sees it gone
                found[str(file)] = (st.st_size, st.st_mtime_ns, st.st_ino)
        return found

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            await self.poll()

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
