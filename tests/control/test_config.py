"""ServerConfig: one table gives the CLI its options, reads MOCKSERVER_*, checks MockServer's keywords,
and is the settings table of docs/container.md."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from mockserver import MockServer
from mockserver.cli import _parser, main
from mockserver.config import SETTINGS, ConfigError, ServerConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("keywords", "message"), [
    ({"port": 70000}, "MockServer(port=...): found 70000; expected an integer from 0 to 65535 "
                      "(0 picks a free port)"),
    ({"port": "8080"}, "MockServer(port=...): found '8080' (str); expected an integer"),
    ({"public_health": 1}, "MockServer(public_health=...): found 1 (int); expected True or False"),
    ({"time_scale": 0}, "MockServer(time_scale=...): found 0; expected a number above 0 "
                        "(0.01 makes every delay 100 times shorter)"),
    ({"max_delay": float("nan")},
     "MockServer(max_delay=...): found nan; expected a number of seconds, 0 or more"),
    ({"admin_token": "a b"}, "MockServer(admin_token=...): found a value (not shown: it is a secret); "
                             "expected a token of visible ASCII characters, without spaces (it is sent as "
                             "'Authorization: Bearer TOKEN')"),
])
def test_a_bad_keyword_names_itself_what_was_found_and_what_is_valid(keywords: dict[str, object],
                                                                     message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        MockServer(**keywords)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_a_process_setting_is_no_mockserver_keyword() -> None:
    with pytest.raises(TypeError, match=r"^MockServer\(\) got an unexpected keyword argument 'quiet'$"):
        MockServer(quiet=True)  # type: ignore[call-arg]


def test_a_config_is_what_mockserver_takes_and_keywords_go_on_top() -> None:
    config = ServerConfig(seed=3, journal_size=5, admin_token="t")
    server = MockServer(config=config, journal_size=7)
    assert (server.seed, server.journal.maxlen, server.admin_token) == (3, 7, "t")
    assert server.config == ServerConfig(seed=3, journal_size=7, admin_token="t")
    assert "'t'" not in repr(server.config)  # the token is a secret
    assert MockServer(admin_token="").admin_token is None  # an empty token is no token, as before


def test_the_environment_is_read_through_the_table() -> None:
    config = ServerConfig.from_env({"MOCKSERVER_MAX_BODY": "0", "MOCKSERVER_TLS_NAMES": "a, b,",
                                    "MOCKSERVER_QUIET": ""}, host="0.0.0.0")
    assert (config.max_body_size, config.tls_name, config.quiet, config.host, config.port) == \
        (0, ("a", "b"), False, "0.0.0.0", 8080)  # 8080: the command line's default port
    with pytest.raises(ConfigError, match=r"^MOCKSERVER_MAX_URI: found '0'; expected a number of octets, "
                                          r"1 or more$"):
        ServerConfig.from_env({"MOCKSERVER_MAX_URI": "0"})


def test_every_setting_is_a_serve_option() -> None:
    _, table = _parser(io.StringIO(), io.StringIO())
    out = io.StringIO()
    assert main(["serve", "--help"], {}, out, io.StringIO()) == 0
    for setting in table.values():
        found = re.search(rf"{re.escape(setting.flag)}\b.*?\${setting.env}\b", out.getvalue(), re.S)
        assert found, setting.flag


def test_the_container_docs_table_is_the_settings_table() -> None:
    """Every row of docs/container.md's table names a setting's variable with its flag, and every setting
    has its row (MOCKSERVER_SCENARIOS is the positional PATH, not a setting)."""
    text = (ROOT / "docs/container.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `MOCKSERVER_")]
    documented: dict[str, str] = {}
    for row in rows:
        variables, flags = row.split("|")[1:3]
        for env, flag in zip(re.findall(r"`(MOCKSERVER_\w+)`", variables), re.findall(r"`([^`]+)`", flags),
                             strict=True):
            documented[env] = flag
    expected = {s.env: s.flag for s in SETTINGS.values()} | {"MOCKSERVER_SCENARIOS": "PATH ..."}
    assert documented == expected
