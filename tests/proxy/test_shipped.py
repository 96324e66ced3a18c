"""The shipped proxy example (scenarios/proxy/) does what its comments say, in front of httpbin."""

from __future__ import annotations

import requests

from mockserver import MockServer
from mockserver.scenario import BUILTIN_DIR
from tests.integration.test_builtin_scenarios import exercises
from tests.proxy.conftest import httpbin_url  # noqa: F401  (also collected from tests/integration)


@exercises("proxy/flaky-upstream.yaml")
def test_flaky_upstream_is_seeded_chaos_in_front_of_a_real_service(httpbin_url: str) -> None:  # noqa: F811
    def run() -> list[str]:
        with MockServer([BUILTIN_DIR / "proxy" / "flaky-upstream.yaml"], proxy_unmatched=httpbin_url,
                        time_scale=0.01) as server:
            out = []
            for _ in range(40):
                try:
                    answer = requests.get(server.url_for("/flaky/anything/x"), timeout=5)
                except requests.ConnectionError:
                    out.append("reset")
                    continue
                if answer.status_code == 200:
                    assert answer.json()["url"].endswith("/anything/x")  # httpbin's, prefix stripped
                out.append(str(answer.status_code))
            direct = requests.get(server.url_for("/status/418"), timeout=5)
            assert direct.status_code == 418  # everything else goes straight through
            return out

    first = run()
    assert first == run()
    assert {"200", "503", "reset"} <= set(first)
