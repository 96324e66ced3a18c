"""MockServer: the wire server (wire/server.py) plus the control plane mounted at /__mock.

The wire layer answers from scenarios and knows nothing of the control API; this class adds the
metrics, the watcher's status and the API's routes, and is what ``mockserver.MockServer`` names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..control.api import PREFIX, ControlApi, ControlSettings
from ..control.metrics import Metrics
from ..wire.server import Mount, ScenarioSource, WireServer

if TYPE_CHECKING:
    from ..dashboard.routes import Dashboard

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
