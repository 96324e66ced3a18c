"""ServerConfig: every setting in one typed table, read by the CLI, the environment and MockServer.

Each field carries its flag, its environment variable, its parser (the type and the range), its
default and its help, so ``mockserver serve --help``, ``MOCKSERVER_*`` and ``MockServer(port=...)``
cannot drift apart; docs/container.md's table is checked against it (tests/control/test_config.py).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast

from .errors import MockServerError
from .tls_catalogue import TLS_FAULTS

__all__ = ["SETTINGS", "ConfigError", "Invalid", "ServerConfig", "ServerKeywords", "Setting", "env_bool",
           "found"]

TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
GC_THRESHOLD = 10_000  # young-generation allocations between collections when serving (cli.tune_gc)


class Invalid(ValueError):
    """A value a setting refuses; the message says what would be valid."""


class ConfigError(MockServerError, ValueError):
    """A setting with a bad value: the message names the flag, variable or keyword, what was found
    and what is valid."""


Parse = Callable[[str], object]


def integer(low: int | None = None, high: int | None = None, expected: str | None = None) -> Parse:
    """Whole numbers from *low* to *high* (either open)."""
    if expected is None:
        expected = ("an integer" if low is None else f"an integer from {low} to {high}" if high is not None
                    else f"an integer, {low} or more")

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise Invalid(expected) from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise Invalid(expected)
        return value

    return parse


def number(low: float = 0.0, *, above: bool = True, expected: str | None = None) -> Parse:
    """Finite numbers above *low* (or from *low* when not *above*): nan and inf make no sense here."""
    if expected is None:
        expected = f"a number above {low:g}" if above else f"a number, {low:g} or more"

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise Invalid(expected) from None
        if not math.isfinite(value) or value < low or (above and value == low):
            raise Invalid(expected)
        return value

    return parse


def text(expected: str) -> Parse:
    """Non-empty text without spaces or control characters (host names, paths of certificates)."""

    def parse(value: str) -> str:
        if not value or any(c.isspace() or not c.isprintable() for c in value):
            raise Invalid(expected)
        return value

    return parse


def token(value: str) -> str:
    """A bearer token: visible ASCII; a space or a newline in it could never be sent back."""
    if not value or not all("!" <= c <= "~" for c in value):
        raise Invalid("a token of visible ASCII characters, without spaces (it is sent as "
                      "'Authorization: Bearer TOKEN')")
    return value


def upstream(value: str) -> str:
    """An upstream base URL for --proxy-unmatched: http or https, no query or fragment."""
    if not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", value.strip()):
        raise Invalid("an http:// or https:// URL without query or fragment, such as http://127.0.0.1:8000")
    return value.strip().rstrip("/")


def ca_file(value: str) -> str:
    """A PEM CA bundle that exists (checked now: a typo must not surface as 502s later)."""
    if not value or not os.path.isfile(value):
        raise Invalid("an existing PEM file of CA certificates")
    return value


def state_url(value: str) -> str:
    """memory, or a Redis URL (redis://, rediss://, unix://)."""
    if value == "memory" or (value.startswith(("redis://", "rediss://", "unix://")) and len(value) > 10
                             and not any(c.isspace() for c in value)):
        if value != "memory" and not _has_redis_py():
            raise Invalid("memory, or a Redis URL with redis-py installed (pip install 'mockserver[redis]')")
        return value
    raise Invalid("memory or redis://HOST:PORT/DB (rediss:// for TLS, unix:///path/to/socket)")


def _has_redis_py() -> bool:
    """The Redis backend's client, the optional extra mockserver[redis], is importable."""
    try:
        return importlib.util.find_spec("redis.asyncio") is not None
    except (ImportError, ValueError):  # a parent missing, or hidden (sys.modules["redis"] = None)
        return False


def choice(*names: str) -> Parse:
    def parse(value: str) -> str:
        if value.strip() not in names:
            raise Invalid(" or ".join(names))
        return value.strip()

    return parse


def env_bool(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in TRUE or value in FALSE:
        return value in TRUE
    raise ConfigError(f"{name}: found {env[name]!r}; expected one of 1, 0, true, false, yes, no, on, off")


def found(value: object, secret: bool = False) -> str:
    return "a value (not shown: it is a secret)" if secret else repr(value)


_UNSET = object()  # no default of its own on the command line
PORT = integer(0, 65535, "an integer from 0 to 65535 (0 picks a free port)")
SECONDS = number(above=False, expected="a number of seconds, 0 or more")
POSITIVE_SECONDS = number(expected="a number of seconds above 0")


@dataclass(frozen=True, slots=True)
class Setting:
    """One row of the table: how a setting is spelled on the command line and in the environment."""

    flag: str
    env: str
    help: str
    group: str  # the --help section
    parse: Parse | None = None  # None: a switch (store_true), a boolean in the environment
    shown: str | None = None  # the default as --help shows it (default: the field's default)
    metavar: str | None = None
    secret: bool = False  # never echo the value in an error
    cli_default: object = _UNSET  # the command line's default, when not the field's
    many: bool = False  # repeatable flag; a comma-separated variable
    server: bool = True  # a MockServer keyword (False: the standalone process's own, e.g. logs, TLS files)

    @property
    def dest(self) -> str:
        """The flag's argparse name: --max-body is args.max_body."""
        return self.flag.lstrip("-").replace("-", "_")


def _s(default: object, flag: str, env: str, group: str, help: str, parse: Parse | None = None,
       **kwargs: Any) -> Any:
    setting = Setting(flag, env, help, group, parse, **kwargs)
    return field(default=default, repr=not setting.secret, metadata={"setting": setting})


class ServerKeywords(TypedDict, total=False):
    """MockServer's keyword arguments: the ServerConfig fields a server in a test may set."""

    host: str
    port: int
    seed: int | None
    journal_size: int
    max_delay: float
    shutdown_timeout: float
    max_body_size: int
    max_uri: int
    max_header: int
    max_headers: int
    body_timeout: float
    header_timeout: float
    keepalive_timeout: float
    max_connections: int
    backlog: int
    journal_body_limit: int
    time_scale: float
    admin_token: str | None
    public_health: bool
    header_control: bool
    proxy_unmatched: str | None
    proxy_timeout: float
    proxy_ca: str | None
    refuse_port: int | None
    silent_port: int | None
    blackhole_port: int | None
    state: str
    state_prefix: str
    state_timeout: float
    state_lease: float
    tls_fault: str | None


CONTROL = "control API (/__mock/...)"
PROXY = "proxy (docs/proxy.md)"
STATE = "state (docs/scale-out.md)"
LIMITS = "limits (hitting one gives the catalogue's answer, never a crash)"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What a server is told at start; frozen, and every value checked against its Setting."""

    host: str = _s("127.0.0.1", "--host", "MOCKSERVER_HOST", "", "address to listen on",
                   text("a host name or address such as 127.0.0.1 or 0.0.0.0"))
    port: int = _s(0, "--port", "MOCKSERVER_PORT", "", "0 picks a free port",
                   integer(0, 65535, "an integer from 0 to 65535 (0 picks a free port)"), shown="8080",
                   cli_default=8080)
    seed: int | None = _s(None, "--seed", "MOCKSERVER_SEED", "",
                          "seed for delays and chaos draws (overrides the scenarios')", integer())
    max_delay: float = _s(600.0, "--max-delay", "MOCKSERVER_MAX_DELAY", "", "cap on any delay, in seconds",
                          SECONDS)
    shutdown_timeout: float = _s(2.0, "--shutdown-timeout", "MOCKSERVER_SHUTDOWN_TIMEOUT", "",
                                 "seconds in-flight answers get to finish on SIGTERM", SECONDS)
    max_body_size: int = _s(16 * 1024 * 1024, "--max-body", "MOCKSERVER_MAX_BODY", LIMITS,
                            "request body bytes; above: 413",
                            integer(0, None, "a number of bytes, 0 or more (0 refuses every request body)"))
    max_uri: int = _s(8190, "--max-uri", "MOCKSERVER_MAX_URI", LIMITS, "request-target octets; above: 414",
                      integer(1, None, "a number of octets, 1 or more"))
    max_header: int = _s(8190, "--max-header", "MOCKSERVER_MAX_HEADER", LIMITS,
                         "header line octets; above: 431", integer(1, None, "a number of octets, 1 or more"))
    max_headers: int = _s(100, "--max-headers", "MOCKSERVER_MAX_HEADERS", LIMITS, "header fields; above: 431",
                          integer(1, None, "a number of header fields, 1 or more"))
    header_timeout: float = _s(30.0, "--header-timeout", "MOCKSERVER_HEADER_TIMEOUT", LIMITS,
                               "seconds for the headers, from the connection's start; then 408 "
                               "(a silent one: closed)", POSITIVE_SECONDS)
    keepalive_timeout: float = _s(75.0, "--keepalive-timeout", "MOCKSERVER_KEEPALIVE_TIMEOUT", LIMITS,
                                  "seconds an idle connection stays open between requests; then closed",
                                  POSITIVE_SECONDS)
    body_timeout: float = _s(30.0, "--body-timeout", "MOCKSERVER_BODY_TIMEOUT", LIMITS,
                             "seconds for the body; then 408", POSITIVE_SECONDS)
    max_connections: int = _s(20_000, "--max-connections", "MOCKSERVER_MAX_CONNECTIONS", LIMITS,
                              "open connections; above: 503",
                              integer(1, None, "a number of connections, 1 or more"))
    backlog: int = _s(2048, "--backlog", "MOCKSERVER_BACKLOG", LIMITS,
                      "connections the kernel queues before they are accepted (capped by "
                      "net.core.somaxconn); a burst beyond it waits for SYN retries, seconds",
                      integer(1, None, "a number of connections, 1 or more"))
    journal_size: int = _s(10_000, "--journal-size", "MOCKSERVER_JOURNAL_SIZE", LIMITS,
                           "journal entries kept",
                           integer(0, None, "a number of entries, 0 or more (0 keeps none)"))
    header_control: bool = _s(False, "--header-control", "MOCKSERVER_HEADER_CONTROL", "chaos",
                              "let requests ask for a status, delay or fault by header "
                              "(X-Mock-*, x-envoy-fault-*); off by default")
    time_scale: float = _s(1.0, "--time-scale", "MOCKSERVER_TIME_SCALE", "chaos",
                           "multiply every delay (and speed up timelines and buckets) by this",
                           number(expected="a number above 0 (0.01 makes every delay 100 times shorter)"))
    refuse_port: int | None = _s(None, "--refuse-port", "MOCKSERVER_REFUSE_PORT", "chaos",
                                 "also hold this port closed: connects get ECONNREFUSED; 0 picks a free one",
                                 PORT, metavar="PORT")
    silent_port: int | None = _s(None, "--silent-port", "MOCKSERVER_SILENT_PORT", "chaos",
                                 "also accept on this port and never send a byte (read timeouts); "
                                 "0 picks a free one", PORT, metavar="PORT")
    blackhole_port: int | None = _s(None, "--blackhole-port", "MOCKSERVER_BLACKHOLE_PORT", "chaos",
                                    "also hold this port with connects that never complete (connect "
                                    "timeouts); 0 picks a free one", PORT, metavar="PORT")
    proxy_unmatched: str | None = _s(None, "--proxy-unmatched", "MOCKSERVER_PROXY_UNMATCHED", PROXY,
                                     "forward every request that matches no rule to this upstream base URL",
                                     upstream, metavar="URL")
    proxy_timeout: float = _s(30.0, "--proxy-timeout", "MOCKSERVER_PROXY_TIMEOUT", PROXY,
                              "seconds to wait for the upstream (to connect, or between bytes); then 504",
                              POSITIVE_SECONDS)
    proxy_ca: str | None = _s(None, "--proxy-ca", "MOCKSERVER_PROXY_CA", PROXY,
                              "PEM CA bundle that https upstreams are checked against "
                              "(default: the system's)",
                              ca_file, metavar="FILE")
    state: str = _s("memory", "--state", "MOCKSERVER_STATE", STATE,
                    "where counters, states, buckets and slots live: memory, or redis://HOST:PORT/DB shared "
                    "by replicas", state_url, metavar="memory|redis://HOST:PORT/DB")
    state_prefix: str = _s("mockserver", "--state-prefix", "MOCKSERVER_STATE_PREFIX", STATE,
                           "the prefix of this mock's keys in the state backend (one per logical mock)",
                           text("a key prefix without spaces, such as mockserver or ci-job-42"),
                           metavar="PREFIX")
    state_timeout: float = _s(2.0, "--state-timeout", "MOCKSERVER_STATE_TIMEOUT", STATE,
                              "seconds to wait for the state backend before answering 503 (a claim older "
                              "than half of it is not applied)",
                              number(expected="a number of seconds above 0, such as 2"))
    state_lease: float = _s(60.0, "--state-lease", "MOCKSERVER_STATE_LEASE", STATE,
                            "seconds a concurrency slot stays taken when the replica that holds it dies "
                            "(keep it above the slowest answer's time)",
                            number(expected="a number of seconds above 0, such as 60"))
    gc_threshold: int = _s(GC_THRESHOLD, "--gc-threshold", "MOCKSERVER_GC_THRESHOLD", "runtime",
                           "allocations between young garbage collections; the start-up heap is frozen as "
                           "well (0 leaves Python's GC as it is)",
                           integer(0, None, "0 (Python's default) or a positive number of allocations"),
                           metavar="N", server=False)
    loop: str = _s("asyncio", "--loop", "MOCKSERVER_LOOP", "runtime",
                   "the event loop: asyncio's, or uvloop's (pip install 'mockserver[uvloop]')",
                   choice("asyncio", "uvloop"), metavar="{asyncio,uvloop}", server=False)
    workers: int = _s(1, "--workers", "MOCKSERVER_WORKERS", "runtime",
                      "serve with N processes on one port sharing one state (docs/scale-out.md): "
                      "--state, else a private redis-server started for the run",
                      integer(1, 64, "an integer from 1 to 64"), metavar="N", server=False)
    admin_token: str | None = _s(None, "--admin-token", "MOCKSERVER_ADMIN_TOKEN", CONTROL,
                                 "require 'Authorization: Bearer TOKEN' on every control request "
                                 "(prefer the environment variable: flags show in process lists)", token,
                                 metavar="TOKEN", secret=True)
    public_health: bool = _s(False, "--public-health", "MOCKSERVER_PUBLIC_HEALTH", CONTROL,
                             "with a token, leave GET /__mock/health open (for health probes)")
    log_json: bool = _s(False, "--log-json", "MOCKSERVER_LOG_JSON", "logs",
                        "one JSON line per exchange (and per event) on stdout, instead of text", server=False)
    quiet: bool = _s(False, "--quiet", "MOCKSERVER_QUIET", "logs",
                     "no line per exchange; start, reload and stop messages still show", server=False)
    watch: bool = _s(False, "--watch", "MOCKSERVER_WATCH", "hot reload",
                     "reload the scenario files (and the body files they name) when they change; "
                     "a bad file keeps the last good one", server=False)
    watch_interval: float = _s(0.5, "--watch-interval", "MOCKSERVER_WATCH_INTERVAL", "hot reload",
                               "how often to look for changes",
                               number(0.01, above=False, expected="a number of seconds, 0.01 or more"),
                               metavar="SECONDS", server=False)
    tls: bool = _s(False, "--tls", "MOCKSERVER_TLS", "TLS",
                   "serve HTTPS with a certificate made at start (its CA is written to --cert-out)",
                   server=False)
    cert_out: str | None = _s(None, "--cert-out", "MOCKSERVER_CERT_OUT", "TLS",
                              "where to write the CA certificate clients trust (default: a temporary folder)",
                              text("a file path"), metavar="PATH", server=False)
    tls_name: tuple[str, ...] = _s((), "--tls-name", "MOCKSERVER_TLS_NAMES", "TLS",
                                   "another host name or address for the certificate", text("a host name"),
                                   metavar="NAME", many=True, server=False)
    cert: str | None = _s(None, "--cert", "MOCKSERVER_TLS_CERT", "TLS",
                          "serve HTTPS with this certificate (chain) instead; needs --key",
                          text("a file path"),
                          metavar="PEM", server=False)
    key: str | None = _s(None, "--key", "MOCKSERVER_TLS_KEY", "TLS", "the private key of --cert",
                         text("a file path"), metavar="PEM", server=False)
    tls_fault: str | None = _s(None, "--tls-fault", "MOCKSERVER_TLS_FAULT", "TLS",
                               "a TLS fault for every handshake (with --tls; docs/tls.md): "
                               + ", ".join(TLS_FAULTS), choice(*TLS_FAULTS), metavar="NAME")
    # no flag: only MockServer(journal_body_limit=...) sets it
    journal_body_limit: int = field(default=64 * 1024)

    def __post_init__(self) -> None:
        for name, setting in SETTINGS.items():
            _check(setting, name, getattr(self, name), "ServerConfig")
        if isinstance(self.journal_body_limit, bool) or not isinstance(self.journal_body_limit, int) \
                or self.journal_body_limit < 0:
            raise ConfigError(f"ServerConfig(journal_body_limit=...): found {self.journal_body_limit!r}; "
                              "expected a number of bytes, 0 or more")

    @classmethod
    def server_keywords(cls, config: ServerConfig | None = None, **keywords: object) -> ServerConfig:
        """*config* (or the defaults) with MockServer's keyword arguments on top, each checked:
        ``MockServer(port=...): found 70000; expected an integer from 0 to 65535 (0 picks a free port)``."""
        for name, value in keywords.items():
            setting = SETTINGS.get(name)
            if name != "journal_body_limit" and (setting is None or not setting.server):
                raise TypeError(f"MockServer() got an unexpected keyword argument {name!r}")
            if name == "admin_token" and value == "":
                keywords[name] = None  # an empty token is no token, as before
            elif setting is not None:
                _check(setting, name, value, "MockServer")
        return dataclasses.replace(config or cls(), **keywords)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str], **given: object) -> ServerConfig:
        """*given* (flags, already parsed) win; then ``MOCKSERVER_*``; then the command line's defaults.
        Every variable is checked, used or not."""
        values: dict[str, object] = {}
        for name, setting in SETTINGS.items():
            raw = env.get(setting.env)
            value: object = None
            if setting.many:
                value = tuple(n.strip() for n in (raw or "").split(",") if n.strip()) or None
            elif raw is not None and raw.strip():
                if setting.parse is None:
                    value = env_bool(env, setting.env)
                else:
                    try:
                        value = setting.parse(raw)
                    except Invalid as exc:
                        raise ConfigError(f"{setting.env}: found {found(raw, setting.secret)}; "
                                          f"expected {exc}") from None
            elif raw is not None and setting.parse is None:
                value = False  # an empty variable is "off"
            flag_value = given.get(name)
            if flag_value is not None:
                values[name] = tuple(cast(list[str], flag_value)) if setting.many else flag_value
            elif value is not None:
                values[name] = value
            elif setting.cli_default is not _UNSET:
                values[name] = setting.cli_default
        return cls(**values)  # type: ignore[arg-type]


_WANTED = {"bool": "True or False", "int": "an integer", "float": "a number", "str": "text"}


def _check(setting: Setting, name: str, value: object, caller: str) -> None:
    """The flag's own parser, on a Python value: first its type, then its range."""
    declared = str(ServerConfig.__dataclass_fields__[name].type)
    if value is None and declared.endswith("| None"):
        return
    where = f"{caller}({name}=...)"
    shown = found(value, setting.secret)
    if setting.many:
        if not isinstance(value, tuple | list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: found {shown}; expected a list of host names")
        for item in value:
            _parsed(setting, where, item)
        return
    kind = declared.split(" |", maxsplit=1)[0]
    ok = {"bool": isinstance(value, bool),
          "int": isinstance(value, int) and not isinstance(value, bool),
          "float": isinstance(value, int | float) and not isinstance(value, bool),
          "str": isinstance(value, str)}[kind]
    if not ok:
        raise ConfigError(f"{where}: found {shown} ({type(value).__name__}); expected {_WANTED[kind]}")
    _parsed(setting, where, value)


def _parsed(setting: Setting, where: str, value: object) -> None:
    if setting.parse is None:
        return
    try:
        setting.parse(str(value))
    except Invalid as exc:
        raise ConfigError(f"{where}: found {found(value, setting.secret)}; expected {exc}") from None


#: field name -> Setting, in the table's order (the order of --help)
SETTINGS: dict[str, Setting] = {
    f.name: f.metadata["setting"] for f in dataclasses.fields(ServerConfig) if "setting" in f.metadata}
