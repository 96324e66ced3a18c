"""The pytest plugin's record modes: ``@pytest.mark.mockserver_record`` with VCR-style modes.

In the style of pytest-recording: by default a test replays its recording (``none``); ``once``
records it when the file is missing, ``new_episodes`` keeps what is recorded and adds the
exchanges that matched nothing, ``all`` records it again. Recording needs an upstream (the
marker's ``upstream=``, ``--mockserver-upstream`` or ``$MOCKSERVER_UPSTREAM``); the test then
gets its own server forwarding there, and the file is written when the test ends. Secrets are
redacted before the file or the journal sees them (docs/recording.md).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .pytest_plugin import MarkerOptions, MockServerFixture

__all__ = ["MODES", "MODE_ENV", "RECORD_HELP", "UPSTREAM_ENV", "RecordPlan"]

MODES = ("none", "once", "new_episodes", "all")
MODE_ENV = "MOCKSERVER_RECORD_MODE"
UPSTREAM_ENV = "MOCKSERVER_UPSTREAM"
RECORD_HELP = (
    "mockserver_record(path=None, upstream=None, mode=None): replay this test's recording (default "
    "recordings/<module>/<test>.yaml next to the test file), or record it from upstream as "
    "--mockserver-record-mode says (none, once, new_episodes, all)")
_ARGS = ("path", "upstream", "mode")


@dataclass(frozen=True, slots=True)
class RecordPlan:
    """What one test does with its recording: replay it, or record from the upstream."""

    nodeid: str
    path: Path
    mode: str
    upstream: str | None

    @classmethod
    def of(cls, item: pytest.Item, env: dict[str, str] | Any) -> RecordPlan:
        """The test's marker, the command line and the environment, checked (UsageError if wrong)."""
        marker = item.get_closest_marker("mockserver_record")
        assert marker is not None
        kwargs = dict(marker.kwargs)
        unknown = sorted(set(kwargs) - set(_ARGS))
        if unknown or len(marker.args) > 1 or (marker.args and "path" in kwargs):
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.mockserver_record: found "
                f"{', '.join(repr(k) for k in unknown) or f'{len(marker.args)} positional argument(s)'}; "
                "expected mockserver_record([path], upstream=URL, mode=none|once|new_episodes|all)")
        path = Path(marker.args[0] if marker.args else kwargs.get("path") or _default_path(item))
        if not path.is_absolute():
            path = item.path.parent / path
        mode = kwargs.get("mode") or item.config.getoption("mockserver_record_mode") \
            or env.get(MODE_ENV) or "none"
        if mode not in MODES:
            raise pytest.UsageError(f"{item.nodeid}: record mode: found {mode!r}; expected one of "
                                    f"{', '.join(MODES)}")
        upstream = kwargs.get("upstream") or item.config.getoption("mockserver_upstream") \
            or env.get(UPSTREAM_ENV) or None
        if upstream is not None:
            from .config import Invalid
            from .config import upstream as check_upstream

            try:
                upstream = check_upstream(str(upstream))
            except Invalid as exc:
                raise pytest.UsageError(f"{item.nodeid}: upstream: found {upstream!r}; expected {exc}") \
                    from None
        return cls(item.nodeid, path, mode, upstream)

    @property
    def records(self) -> bool:
        """Whether this run records (else it replays the file as it is)."""
        return self.mode in ("all", "new_episodes") or (self.mode == "once" and not self.path.exists())

    def replay_options(self, options: MarkerOptions) -> MarkerOptions:
        """The marker's options with the recording served too (it must exist)."""
        if not self.path.exists():
            raise pytest.UsageError(
                f"{self.nodeid}: no recording at {self.path}; record it with "
                "--mockserver-record-mode=once (and an upstream: the marker's upstream=, "
                f"--mockserver-upstream URL or ${UPSTREAM_ENV})")
        return replace(options, scenarios=[*options.scenarios, self.path])

    def need_upstream(self) -> str:
        """The upstream to record from; a UsageError that says where to give one if none is."""
        if self.upstream is None:
            raise pytest.UsageError(
                f"{self.nodeid}: record mode {self.mode} needs an upstream to record from: "
                f"upstream= in the marker, --mockserver-upstream URL or ${UPSTREAM_ENV}")
        return self.upstream

    @contextlib.contextmanager
    def record(self, options: MarkerOptions, time_scale: float | None) -> Iterator[MockServerFixture]:
        """A server of the test's own, forwarding to the upstream; the recording is written after."""
        from .app.server import MockServer
        from .pytest_plugin import MockServerFixture
        from .record.build import RecordOptions

        keep: list[dict[str, Any]] = []
        sources = list(options.scenarios)
        if self.mode == "new_episodes" and self.path.exists():  # what matches the file is answered from it
            keep = _rules(self.path)
            sources.append(self.path)
        server = MockServer(sources, proxy_unmatched=self.need_upstream(),
                            time_scale=1.0 if time_scale is None else time_scale)
        if options.seed is not None:
            server.set_seed(options.seed)
        recording = server.start_recording(self.path, RecordOptions(name=_name(self.path)), keep)
        server.start_in_thread()
        try:
            yield MockServerFixture(server)
        finally:
            server.stop_thread()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            recording.save()


def _default_path(item: pytest.Item) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name).strip("_") or "test"
    return Path("recordings") / item.path.stem / f"{name}.yaml"


def _name(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-") or "recording"


def _rules(path: Path) -> list[dict[str, Any]]:
    """The rules of an earlier recording, as written (new_episodes keeps them)."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rules = data.get("rules") if isinstance(data, dict) else None
    return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []
