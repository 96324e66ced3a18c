"""The command line: ``mockserver serve | validate | schema | report``.

``main(argv, env)`` returns the exit code instead of exiting, so tests drive it directly. Flags
win over environment variables (``MOCKSERVER_*``), which the container uses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import json
import math
import os
import re
import signal
import ssl
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, cast

from .errors import ScenarioError

if TYPE_CHECKING:
    from .control.reload import Snapshot
    from .output import Output
    from .wire.server import MockServer
    from .wire.tls_faults import Authority

__all__ = ["main"]


TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
GC_THRESHOLD = 10_000  # young-generation allocations between collections when serving (tune_gc)


class EnvError(ValueError):
    """An environment variable holds something its flag would refuse."""


def _builtin_epilog() -> str:
    from .packs import builtin_names

    width, lines, line = 96, [], " "
    for name in builtin_names():
        if len(line) + len(name) + 1 > width:
            lines.append(line)
            line = " "
        line += " " + name
    lines.append(line)
    return ("built-in scenarios, served by name (a folder is a pack; a name after a pack is looked up\n"
            "in it first, so `serve css chaos/throttled` is the CSS pack with its throttling overlay);\n"
            "with no PATH, serve demo and status:\n" + "\n".join(lines))


class _Invalid(ValueError):
    """A value an option refuses; the message says what would be valid."""


class _Exit(Exception):
    """argparse wants to stop: with this exit code, its message already printed."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


Parse = Callable[[str], object]


def _integer(low: int | None = None, high: int | None = None, expected: str | None = None) -> Parse:
    """Whole numbers from *low* to *high* (either open)."""
    if expected is None:
        expected = ("an integer" if low is None else f"an integer from {low} to {high}" if high is not None
                    else f"an integer, {low} or more")

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise _Invalid(expected) from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise _Invalid(expected)
        return value

    return parse


def _number(low: float = 0.0, *, above: bool = True, expected: str | None = None) -> Parse:
    """Finite numbers above *low* (or from *low* when not *above*): nan and inf make no sense here."""
    if expected is None:
        expected = f"a number above {low:g}" if above else f"a number, {low:g} or more"

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise _Invalid(expected) from None
        if not math.isfinite(value) or value < low or (above and value == low):
            raise _Invalid(expected)
        return value

    return parse


def _text(expected: str) -> Parse:
    """Non-empty text without spaces or control characters (host names, paths of certificates)."""

    def parse(text: str) -> str:
        if not text or any(c.isspace() or not c.isprintable() for c in text):
            raise _Invalid(expected)
        return text

    return parse


def _token(text: str) -> str:
    """A bearer token: visible ASCII; a space or a newline in it could never be sent back."""
    if not text or not all("!" <= c <= "~" for c in text):
        raise _Invalid("a token of visible ASCII characters, without spaces (it is sent as "
                       "'Authorization: Bearer TOKEN')")
    return text


def _choice(*names: str) -> Parse:
    def parse(text: str) -> str:
        if text.strip() not in names:
            raise _Invalid(" or ".join(names))
        return text.strip()

    return parse


def _found(text: str, secret: bool = False) -> str:
    return "a value (not shown: it is a secret)" if secret else repr(text)


@dataclass(frozen=True)
class _Option:
    """A serve option that has an environment variable: flags win, then the variable, then *default*."""

    dest: str
    env: str
    parse: Parse | None  # None: a switch (store_true), read from the variable as a boolean
    default: object
    secret: bool = False


class _Options:
    """The serve options and how to read them from the environment (once flags are parsed)."""

    def __init__(self) -> None:
        self.all: list[_Option] = []

    def add(self, group: argparse._ActionsContainer, flag: str, env: str, default: object, what: str,
            parse: Parse | None = None, *, shown: str | None = None, secret: bool = False,
            **kwargs: Any) -> None:
        dest = flag.lstrip("-").replace("-", "_")
        shown = shown if shown is not None else (f"{default:,}" if isinstance(default, int)
                                                 and not isinstance(default, bool) else f"{default}")
        suffix = f"${env}" if parse is None or default is None else f"default {shown}; ${env}"
        if parse is None:
            group.add_argument(flag, action="store_true", default=None, help=f"{what} (${env})", **kwargs)
        else:
            group.add_argument(flag, type=_argtype(parse, secret), default=None,
                               help=f"{what} ({suffix})", **kwargs)
        self.all.append(_Option(dest, env, parse, default, secret))

    def resolve(self, args: argparse.Namespace, env: Mapping[str, str]) -> None:
        """Fill what no flag gave from the environment; every variable is checked, used or not."""
        for option in self.all:
            raw = env.get(option.env)
            value: object = None
            if raw is not None and raw.strip():
                if option.parse is None:
                    value = _env_bool(env, option.env)
                else:
                    try:
                        value = option.parse(raw)
                    except _Invalid as exc:
                        raise EnvError(f"{option.env}: found {_found(raw, option.secret)}; "
                                       f"expected {exc}") from None
            elif raw is not None and option.parse is None:
                value = False  # an empty variable is "off"
            if getattr(args, option.dest) is None:
                setattr(args, option.dest, option.default if value is None else value)


def _argtype(parse: Parse, secret: bool = False) -> Callable[[str], object]:
    def convert(text: str) -> object:
        try:
            return parse(text)
        except _Invalid as exc:
            raise argparse.ArgumentTypeError(f"found {_found(text, secret)}; expected {exc}") from None

    return convert


class _Parser(argparse.ArgumentParser):
    """argparse that writes to the streams main() was given and says a bad flag in one line."""

    def __init__(self, *args: Any, out: TextIO, err: TextIO, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.out, self.err = out, err

    def _print_message(self, message: str, file: Any = None) -> None:
        if message:
            (self.err if file is sys.stderr else self.out).write(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.err.write(message)
        raise _Exit(status)

    def error(self, message: str) -> NoReturn:
        # "argument --port: found ..." -> "--port: found ...": the flag, what was found, what is valid
        message = re.sub(r"^argument ([^:]+): ", lambda m: f"{m.group(1).split('/')[-1]}: ", message)
        hint = "" if "; expected " in message else f"; see '{self.prog} --help'"
        self.err.write(f"mockserver: {message}{hint}\n")
        raise _Exit(2)


def _version() -> str:
    try:
        return importlib.metadata.version("mockserver")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


def _parser(out: TextIO, err: TextIO) -> tuple[argparse.ArgumentParser, _Options]:
    parser = _Parser(prog="mockserver", description=__doc__.splitlines()[0], out=out, err=err)
    parser.add_argument("--version", action="version", version=f"mockserver {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    options = _Options()
    opt = options.add

    serve = sub.add_parser("serve", help="serve scenario files (default: the built-in scenarios)",
                           out=out, err=err, epilog=_builtin_epilog(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("paths", nargs="*", metavar="PATH",
                       help="scenario file or folder of them, or a built-in name (below)")
    opt(serve, "--host", "MOCKSERVER_HOST", "127.0.0.1", "address to listen on",
        _text("a host name or address such as 127.0.0.1 or 0.0.0.0"))
    opt(serve, "--port", "MOCKSERVER_PORT", 8080, "0 picks a free port",
        _integer(0, 65535, "an integer from 0 to 65535 (0 picks a free port)"), shown="8080")
    opt(serve, "--seed", "MOCKSERVER_SEED", None,
        "seed for delays and chaos draws (overrides the scenarios')", _integer())
    opt(serve, "--max-delay", "MOCKSERVER_MAX_DELAY", 600.0, "cap on any delay, in seconds",
        _number(above=False, expected="a number of seconds, 0 or more"))
    opt(serve, "--shutdown-timeout", "MOCKSERVER_SHUTDOWN_TIMEOUT", 2.0,
        "seconds in-flight answers get to finish on SIGTERM",
        _number(above=False, expected="a number of seconds, 0 or more"))

    limits = serve.add_argument_group("limits (hitting one gives the catalogue's answer, never a crash)")
    for flag, name, kind, default, what in (
        ("--max-body", "MOCKSERVER_MAX_BODY", int, 16 * 1024 * 1024, "request body bytes; above: 413"),
        ("--max-uri", "MOCKSERVER_MAX_URI", int, 8190, "request-target octets; above: 414"),
        ("--max-header", "MOCKSERVER_MAX_HEADER", int, 8190, "header line octets; above: 431"),
        ("--max-headers", "MOCKSERVER_MAX_HEADERS", int, 100, "header fields; above: 431"),
        ("--header-timeout", "MOCKSERVER_HEADER_TIMEOUT", float, 30.0,
         "seconds for the headers, from the connection's start; then 408 (a silent one: closed)"),
        ("--keepalive-timeout", "MOCKSERVER_KEEPALIVE_TIMEOUT", float, 75.0,
         "seconds an idle connection stays open between requests; then closed"),
        ("--body-timeout", "MOCKSERVER_BODY_TIMEOUT", float, 30.0, "seconds for the body; then 408"),
        ("--max-connections", "MOCKSERVER_MAX_CONNECTIONS", int, 20_000, "open connections; above: 503"),
        ("--journal-size", "MOCKSERVER_JOURNAL_SIZE", int, 10_000, "journal entries kept"),
    ):
        opt(limits, flag, name, default, what, LIMIT_RANGES.get(flag) or (
            _integer(1) if kind is int else _number(expected="a number of seconds above 0")))
    chaos = serve.add_argument_group("chaos")
    opt(chaos, "--header-control", "MOCKSERVER_HEADER_CONTROL", False,
        "let requests ask for a status, delay or fault by header (X-Mock-*, x-envoy-fault-*); off by default")
    opt(chaos, "--time-scale", "MOCKSERVER_TIME_SCALE", 1.0,
        "multiply every delay (and speed up timelines and buckets) by this",
        _number(expected="a number above 0 (0.01 makes every delay 100 times shorter)"))

    runtime = serve.add_argument_group("runtime")
    opt(runtime, "--gc-threshold", "MOCKSERVER_GC_THRESHOLD", GC_THRESHOLD,
        "allocations between young garbage collections; the start-up heap is frozen as well "
        "(0 leaves Python's GC as it is)",
        _integer(0, None, "0 (Python's default) or a positive number of allocations"), metavar="N")
    opt(runtime, "--loop", "MOCKSERVER_LOOP", "asyncio",
        "the event loop: asyncio's, or uvloop's (pip install 'mockserver[uvloop]')",
        _choice("asyncio", "uvloop"), metavar="{asyncio,uvloop}")

    control = serve.add_argument_group("control API (/__mock/...)")
    opt(control, "--admin-token", "MOCKSERVER_ADMIN_TOKEN", None,
        "require 'Authorization: Bearer TOKEN' on every control request "
        "(prefer the environment variable: flags show in process lists)", _token, metavar="TOKEN",
        secret=True)
    opt(control, "--public-health", "MOCKSERVER_PUBLIC_HEALTH", False,
        "with a token, leave GET /__mock/health open (for health probes)")

    logs = serve.add_argument_group("logs")
    opt(logs, "--log-json", "MOCKSERVER_LOG_JSON", False,
        "one JSON line per exchange (and per event) on stdout, instead of text")
    opt(logs, "--quiet", "MOCKSERVER_QUIET", False,
        "no line per exchange; start, reload and stop messages still show")

    watch = serve.add_argument_group("hot reload")
    opt(watch, "--watch", "MOCKSERVER_WATCH", False,
        "reload the scenario files (and the body files they name) when they change; "
        "a bad file keeps the last good one")
    opt(watch, "--watch-interval", "MOCKSERVER_WATCH_INTERVAL", 0.5, "how often to look for changes",
        _number(0.01, above=False, expected="a number of seconds, 0.01 or more"), metavar="SECONDS")

    tls = serve.add_argument_group("TLS")
    opt(tls, "--tls", "MOCKSERVER_TLS", False,
        "serve HTTPS with a certificate made at start (its CA is written to --cert-out)")
    opt(tls, "--cert-out", "MOCKSERVER_CERT_OUT", None,
        "where to write the CA certificate clients trust (default: a temporary folder)",
        _text("a file path"), metavar="PATH")
    tls.add_argument("--tls-name", action="append", metavar="NAME", type=_argtype(_text("a host name")),
                     help="another host name or address for the certificate (repeatable; "
                          "$MOCKSERVER_TLS_NAMES, comma-separated)")
    opt(tls, "--cert", "MOCKSERVER_TLS_CERT", None,
        "serve HTTPS with this certificate (chain) instead; needs --key", _text("a file path"), metavar="PEM")
    opt(tls, "--key", "MOCKSERVER_TLS_KEY", None, "the private key of --cert", _text("a file path"),
        metavar="PEM")
    from .wire.tls_faults import TLS_FAULTS

    opt(tls, "--tls-fault", "MOCKSERVER_TLS_FAULT", None,
        "a TLS fault for every handshake (with --tls; docs/tls.md): " + ", ".join(TLS_FAULTS),
        _choice(*TLS_FAULTS), metavar="NAME")

    validate = sub.add_parser("validate", help="check scenario files; one line per problem", out=out, err=err)
    validate.add_argument("paths", nargs="+", metavar="PATH")

    sub.add_parser("schema", help="print the JSON Schema of scenario files", out=out, err=err)

    report = sub.add_parser("report", out=out, err=err,
                            help="write an HTML traffic report of a journal saved from GET /__mock/journal "
                                 "(docs/dashboard.md)")
    report.add_argument("journal", metavar="JOURNAL.json")
    report.add_argument("--out", required=True, metavar="FILE.html", help="where to write the report")
    report.add_argument("--title", default=None, help="the report's title (default: from the file name)")
    return parser, options


# the limits whose valid range is not the usual one (integers from 1, seconds above 0)
LIMIT_RANGES: dict[str, Parse] = {
    "--max-body": _integer(0, None, "a number of bytes, 0 or more (0 refuses every request body)"),
    "--max-uri": _integer(1, None, "a number of octets, 1 or more"),
    "--max-header": _integer(1, None, "a number of octets, 1 or more"),
    "--max-headers": _integer(1, None, "a number of header fields, 1 or more"),
    "--max-connections": _integer(1, None, "a number of connections, 1 or more"),
    "--journal-size": _integer(0, None, "a number of entries, 0 or more (0 keeps none)"),
}


def _env_bool(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in TRUE or value in FALSE:
        return value in TRUE
    raise EnvError(f"{name}: found {env[name]!r}; expected one of 1, 0, true, false, yes, no, on, off")


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the command; the exit code is returned: 0 done, 1 refused (files, TLS), 2 a bad option."""
    env = os.environ if env is None else env
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        return _main(argv, env, out, err)
    except BrokenPipeError:  # `mockserver schema | head`: the reader left; nothing to say to anyone
        _silence(out)
        return 1


def _silence(stream: TextIO) -> None:
    """Point a closed pipe's descriptor at /dev/null, so Python's flush at exit finds nowhere to fail."""
    if stream is sys.stdout or stream is sys.stderr:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)


def _main(argv: Sequence[str] | None, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    parser, options = _parser(out, err)
    try:
        args = parser.parse_args(argv)
    except _Exit as exc:
        out.flush()
        return exc.code
    if args.command == "schema":
        from .scenario.schema import ScenarioSpec

        schema = ScenarioSpec.model_json_schema(by_alias=True)
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
        print(json.dumps(schema, indent=2), file=out)
        out.flush()  # a closed pipe shows here, not in Python's flush at exit
        return 0
    if args.command == "report":
        from .dashboard.report import run_cli

        return run_cli(args.journal, args.out, args.title, out, err)
    if args.command == "validate":
        from .scenario import load_paths

        try:
            scenarios = load_paths(args.paths)
        except ScenarioError as exc:
            for problem in exc.problems:
                print(problem, file=out)
            return 1
        for problem in (w for s in scenarios for w in s.warnings):
            print(problem, file=out)
        rules = sum(len(s.rules) for s in scenarios)
        print(f"ok: {len(scenarios)} scenario(s), {rules} rule(s)", file=out)
        return 0
    try:
        options.resolve(args, env)
    except EnvError as exc:
        print(f"mockserver: {exc}", file=err)
        return 2
    if args.tls_name is None:
        args.tls_name = [n.strip() for n in env.get("MOCKSERVER_TLS_NAMES", "").split(",") if n.strip()]
    return _serve(args, env, out, err)


def _serve(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    from .scenario import BUILTIN_DIR
    from .wire.server import MockServer

    paths = args.paths or [p for p in env.get("MOCKSERVER_SCENARIOS", "").split(os.pathsep) if p] \
        or [str(BUILTIN_DIR)]
    try:
        loop_factory = _loop_factory(args.loop)
    except _Refusal as exc:
        print(f"mockserver: {exc}", file=err)
        return 1
    with contextlib.ExitStack() as cleanup:
        try:
            ssl_context, ca, authority = _tls(args, cleanup)
        except _Refusal as exc:
            print(f"mockserver: {exc}", file=err)
            return 1
        # what the files looked like before they were loaded: a save between the load and the
        # watcher's start is then a change like any other (taken after, it was never seen)
        baseline = _scan(paths) if args.watch else None
        try:
            server = MockServer(paths, host=args.host, port=args.port, seed=args.seed,
                                max_delay=args.max_delay, shutdown_timeout=args.shutdown_timeout,
                                admin_token=args.admin_token, public_health=args.public_health,
                                ssl_context=ssl_context, max_body_size=args.max_body,
                                max_uri=args.max_uri, max_header=args.max_header,
                                max_headers=args.max_headers, header_timeout=args.header_timeout,
                                keepalive_timeout=args.keepalive_timeout,
                                body_timeout=args.body_timeout, max_connections=args.max_connections,
                                journal_size=args.journal_size, header_control=args.header_control,
                                time_scale=args.time_scale, tls_fault=args.tls_fault, tls=authority)
        except ScenarioError as exc:
            for problem in exc.problems:
                print(problem, file=err)
            print(f"mockserver: refusing to serve: {len(exc.problems)} problem(s) in the scenarios", file=err)
            return 1
        from .output import Output, describe_exchange

        output = Output(out, err)
        cleanup.callback(output.close)
        log = _Log(output, json_lines=args.log_json)
        if args.quiet:
            pass
        elif args.log_json:
            from .control.metrics import JsonLog

            server.exchange_hooks.append(JsonLog(cast(TextIO, output)))
        else:
            server.exchange_hooks.append(lambda entry: output.line(describe_exchange(entry)))
        tune_gc(args.gc_threshold)
        try:
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                runner.run(_run(server, args, paths, ca, log, baseline))
        except OSError as exc:
            output.close()
            print(f"mockserver: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=err)
            return 1
    return 0


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop to serve on: None for asyncio's own, or uvloop's when asked for."""
    if name == "asyncio":
        return None
    if name != "uvloop":
        raise _Refusal(f"--loop: found {name!r}; expected asyncio or uvloop")
    try:
        import uvloop
    except ImportError:
        raise _Refusal("--loop uvloop: uvloop is not installed; pip install 'mockserver[uvloop]'") from None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def tune_gc(threshold: int) -> None:
    """The standalone server owns its process, so it sets the collector for serving: Python's
    default (a young collection every 700 net allocations) promotes every delayed request's
    objects to the old generations and pays for full collections of the journal every few
    seconds, which cost a fifth of the CPU and ~100 ms pauses at 1,000 delayed connections
    (docs/performance.md). Frozen start-up objects (modules, compiled scenarios) are never
    scanned again. In-process servers (the pytest fixture) leave the host's collector alone."""
    if threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)


class _Refusal(Exception):
    """A setting that cannot work; the message says which and why."""


def _tls(args: argparse.Namespace, cleanup: contextlib.ExitStack
         ) -> tuple[ssl.SSLContext | None, str | None, Authority | None]:
    """The server's TLS context, the CA file clients should trust and the CA for TLS faults
    (both None when not generated).

    Generated keys live in a temporary folder, removed at exit (so is the CA, unless --cert-out).
    """
    from .wire.tls import authority, server_context

    if (args.cert is None) != (args.key is None):
        raise _Refusal("--cert and --key go together; give both or neither")
    if args.tls_fault is not None and not args.tls:
        raise _Refusal(f"--tls-fault {args.tls_fault} makes its certificates from the CA that --tls "
                       "generates: add --tls (and not --cert/--key)")
    try:
        if args.cert is not None:
            return server_context(args.cert, args.key), None, None
        if args.tls:
            folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="mockserver-tls-"))
            made, ca = authority(folder, args.tls_name + ([args.host] if args.host else []),
                                 ca_path=args.cert_out)
            return server_context(made.cert, made.key), str(made.ca), ca
    except ImportError:
        raise _Refusal("--tls makes its certificate with the cryptography package: "
                       "pip install 'mockserver[tls]' (or give --cert and --key)") from None
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise _Refusal(f"cannot set up TLS: {exc}") from None
    return None, None, None


class _Log:
    """Startup, reload and shutdown messages: text lines, or JSON lines with --log-json."""

    def __init__(self, output: Output, *, json_lines: bool) -> None:
        self.output, self.json_lines = output, json_lines

    def event(self, event: str, message: str, *, error: bool = False, problems: Sequence[str] = (),
              **fields: object) -> None:
        if self.json_lines:
            from .control.metrics import JsonLog

            extra = {"problems": list(problems)} if problems else {}
            JsonLog(cast(TextIO, self.output)).event({"event": event, "message": message, **fields, **extra})
            return
        self.output.line(message, error=error)
        for line in problems:
            self.output.line(f"  {line}", error=error)


def _scan(paths: Sequence[str]) -> Snapshot:
    from pathlib import Path

    from .control.reload import scan

    return scan([Path(p) for p in paths])


async def _run(server: MockServer, args: argparse.Namespace, paths: list[str], ca: str | None,
               log: _Log, baseline: Snapshot | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    if ca is not None:  # before "listening": whoever waits for that line can trust the CA already
        log.event("tls", f"mockserver: clients trust the CA certificate {ca}", ca=ca)
    for problem in (w for s in server.scenarios for w in s.warnings):
        log.event("warning", f"mockserver: {problem}", error=True)
    rules = sum(len(s.rules) for s in server.scenarios)
    log.event("listening", f"mockserver listening on {server.url} ({len(server.scenarios)} scenario(s), "
                           f"{rules} rule(s))", url=server.url)
    if server.admin_token is not None:
        scope = "except /__mock/health" if server.public_health else "health included"
        log.event("control", f"mockserver: the control API requires a bearer token ({scope})")
    watcher_task: asyncio.Task[None] | None = None
    if args.watch:
        from .control.reload import Watcher

        def report(ok: bool, message: str, problems: list[str]) -> None:
            log.event("reload", f"mockserver: {message}", error=not ok, ok=ok, problems=problems)

        watcher = Watcher(server, paths, interval=args.watch_interval, report=report, snapshot=baseline)
        watcher_task = asyncio.create_task(watcher.run())
        log.event("watching", f"mockserver: watching {', '.join(paths)} for changes")
    try:
        await stop.wait()
    finally:
        log.event("stopping", "mockserver: shutting down")
        if watcher_task is not None:
            watcher_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher_task
        # aiohttp waits shutdown_timeout for answers in flight, then as long again once it has
        # cancelled them; the bound we promise is one shutdown_timeout, so it is enforced here
        try:
            await asyncio.wait_for(server.close(), args.shutdown_timeout)
        except TimeoutError:
            log.event("stopped", f"mockserver: {server.in_flight} answer(s) still in flight after "
                                 f"{args.shutdown_timeout:g}s; their connections are closed")
