"""MockServer: the wire server (wire/server.py) plus the control plane mounted at /__mock.

The wire layer answers from scenarios and knows nothing of the control API; this class adds the
metrics, the watcher's status and the API's routes, and is what ``mockserver.MockServer`` names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..control.api import PREFIX, ControlApi, ControlSettings
from ..control.metrics import Metrics
from ..wire.server import Mount, ScenarioSource, WireServer

if TYPE_CHECKING:
    from ..dashboard.routes import Dashboard
    from ..record.build import RecordOptions
    from ..record.live import LiveRecording

__all__ = ["MockServer", "ScenarioSource"]


class MockServer(WireServer):
    """An HTTP server that answers from scenarios, with the control API at /__mock.

    ``MockServer(["scenarios/css"], port=0)`` picks a free port; ``url`` tells which. Reads
    of the journal and state are thread-safe, so a sync test can inspect a threaded server.
    It implements ``mockserver.controls.Controls``, as RemoteMockServer does.
    """

    __test__ = False

    def _attach(self) -> None:
        """Count every exchange for /__mock/metrics from the first request on."""
        self.reload_error: str | None = None  # set by the file watcher (reload.py), shown in health
        self.metrics = Metrics()
        self.exchange_hooks.append(self.metrics.observe)
        self._control: ControlApi | None = None
        self.recording: LiveRecording | None = None  # start_recording(); GET /__mock/recording

    def start_recording(self, out: str | Path, options: RecordOptions | None = None,
                        keep: Sequence[dict[str, Any]] = ()) -> LiveRecording:
        """Record every proxied exchange into a scenario written to *out* (``recording.save()``,
        or ``POST /__mock/recording/save``); from now on the journal keeps requests redacted."""
        from ..record.live import LiveRecording

        recording = LiveRecording(out, options, keep)
        self.add_proxy_observer(recording.observe)
        self.journal.scrub = recording.scrub
        self.recording = recording
        return recording

    def now(self) -> float:
        """The mock clock's reading (what POST /__mock/clock/advance answers)."""
        return self.clock.now()

    def metrics_text(self) -> str:
        scenarios = self.scenarios
        return self.metrics.render(in_flight=self.in_flight, scenarios=len(scenarios),
                                   rules=sum(len(s.rules) for s in scenarios))

    def control_api(self) -> tuple[ControlApi, Dashboard]:
        """The control API over this server, with the dashboard's pages, as this server's settings say."""
        from ..dashboard.routes import Dashboard  # the page at /__mock/ui (docs/dashboard.md)

        dashboard = Dashboard(self, PREFIX)
        settings = ControlSettings(admin_token=self.admin_token, public_health=self.public_health,
                                   max_body_size=self.max_body_size)
        return ControlApi(self, settings, dashboard.routes()), dashboard

    def _mount(self) -> Mount:
        self._control, dashboard = self.control_api()
        return PREFIX, self._control.dispatch, dashboard.close
