"""The command line: ``mockserver serve | validate | schema | report``.

``main(argv, env)`` returns the exit code instead of exiting, so tests drive it directly. Flags
win over environment variables (``MOCKSERVER_*``), which the container uses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import ssl
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

from .errors import ScenarioError

if TYPE_CHECKING:
    from .server import MockServer

__all__ = ["main"]


TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
GC_THRESHOLD = 10_000  # young-generation allocations between collections when serving (tune_gc)


class EnvError(ValueError):
    """An environment variable holds something its flag would refuse."""


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mockserver", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve scenario files (default: the built-in scenarios)")
    serve.add_argument("paths", nargs="*", metavar="PATH", help="scenario file or folder of them")
    serve.add_argument("--host", default=env.get("MOCKSERVER_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=_env_int(env, "MOCKSERVER_PORT", 8080),
                       help="0 picks a free port (default 8080)")
    serve.add_argument("--seed", type=int, default=_env_int(env, "MOCKSERVER_SEED", None),
                       help="seed for delays and chaos draws (overrides the scenarios')")
    serve.add_argument("--max-delay", type=float, default=_env_float(env, "MOCKSERVER_MAX_DELAY", 600),
                       help="cap on any delay, in seconds")
    serve.add_argument("--shutdown-timeout", type=float,
                       default=_env_float(env, "MOCKSERVER_SHUTDOWN_TIMEOUT", 2),
                       help="seconds in-flight answers get to finish on SIGTERM")

    limits = serve.add_argument_group("limits (hitting one gives the catalogue's answer, never a crash)")
    for flag, name, kind, default, what in (
        ("--max-body", "MOCKSERVER_MAX_BODY", int, 16 * 1024 * 1024, "request body bytes; above: 413"),
        ("--max-uri", "MOCKSERVER_MAX_URI", int, 8190, "request-target octets; above: 414"),
        ("--max-header", "MOCKSERVER_MAX_HEADER", int, 8190, "header line octets; above: 431"),
        ("--max-headers", "MOCKSERVER_MAX_HEADERS", int, 100, "header fields; above: 431"),
        ("--header-timeout", "MOCKSERVER_HEADER_TIMEOUT", float, 30.0, "seconds for the headers; then 408"),
        ("--body-timeout", "MOCKSERVER_BODY_TIMEOUT", float, 30.0, "seconds for the body; then 408"),
        ("--max-connections", "MOCKSERVER_MAX_CONNECTIONS", int, 20_000, "open connections; above: 503"),
        ("--journal-size", "MOCKSERVER_JOURNAL_SIZE", int, 10_000, "journal entries kept"),
    ):
        value = _env_float(env, name, default) if kind is float else _env_int(env, name, int(default))
        limits.add_argument(flag, type=kind, default=value, help=f"{what} (default {default}; ${name})")
    chaos = serve.add_argument_group("chaos")
    chaos.add_argument("--header-control", action="store_true",
                       default=_env_bool(env, "MOCKSERVER_HEADER_CONTROL"),
                       help="let requests ask for a status, delay or fault by header "
                            "(X-Mock-*, x-envoy-fault-*); off by default")
    chaos.add_argument("--time-scale", type=float, default=_env_float(env, "MOCKSERVER_TIME_SCALE", 1.0),
                       help="multiply every delay (and speed up timelines and buckets) by this")

    runtime = serve.add_argument_group("runtime")
    runtime.add_argument("--gc-threshold", type=int, metavar="N",
                         default=_env_int(env, "MOCKSERVER_GC_THRESHOLD", GC_THRESHOLD),
                         help="allocations between young garbage collections; the start-up heap is "
                              f"frozen as well (default {GC_THRESHOLD:,}; 0 leaves Python's GC as it is; "
                              "$MOCKSERVER_GC_THRESHOLD)")

    runtime.add_argument("--loop", default=env.get("MOCKSERVER_LOOP", "asyncio").strip() or "asyncio",
                         metavar="{asyncio,uvloop}",
                         help="the event loop: asyncio's, or uvloop's (pip install 'mockserver[uvloop]'; "
                              "$MOCKSERVER_LOOP)")

    control = serve.add_argument_group("control API (/__mock/...)")
    control.add_argument("--admin-token", default=env.get("MOCKSERVER_ADMIN_TOKEN") or None,
                         metavar="TOKEN",
                         help="require 'Authorization: Bearer TOKEN' on every control request "
                              "(prefer the environment variable: flags show in process lists)")
    control.add_argument("--public-health", action="store_true",
                         default=_env_bool(env, "MOCKSERVER_PUBLIC_HEALTH"),
                         help="with a token, leave GET /__mock/health open (for health probes)")
    control.add_argument("--log-json", action="store_true", default=_env_bool(env, "MOCKSERVER_LOG_JSON"),
                         help="one JSON line per exchange (and per event) on stdout")

    watch = serve.add_argument_group("hot reload")
    watch.add_argument("--watch", action="store_true", default=_env_bool(env, "MOCKSERVER_WATCH"),
                       help="reload the scenario files when they change; a bad file keeps the last good one")
    watch.add_argument("--watch-interval", type=float, metavar="SECONDS",
                       default=_env_float(env, "MOCKSERVER_WATCH_INTERVAL", 0.5),
                       help="how often to look for changes (default 0.5)")

    tls = serve.add_argument_group("TLS")
    tls.add_argument("--tls", action="store_true", default=_env_bool(env, "MOCKSERVER_TLS"),
                     help="serve HTTPS with a certificate made at start (its CA is written to --cert-out)")
    tls.add_argument("--cert-out", metavar="PATH", default=env.get("MOCKSERVER_CERT_OUT") or None,
                     help="where to write the CA certificate clients trust (default: a temporary folder)")
    tls.add_argument("--tls-name", action="append", metavar="NAME",
                     default=[n for n in env.get("MOCKSERVER_TLS_NAMES", "").split(",") if n.strip()],
                     help="another host name or address for the certificate (repeatable)")
    tls.add_argument("--cert", metavar="PEM", default=env.get("MOCKSERVER_TLS_CERT") or None,
                     help="serve HTTPS with this certificate (chain) instead; needs --key")
    tls.add_argument("--key", metavar="PEM", default=env.get("MOCKSERVER_TLS_KEY") or None,
                     help="the private key of --cert")

    validate = sub.add_parser("validate", help="check scenario files; one line per problem")
    validate.add_argument("paths", nargs="+", metavar="PATH")

    sub.add_parser("schema", help="print the JSON Schema of scenario files")

    report = sub.add_parser("report", help="write an HTML traffic report of a journal saved from "
                                           "GET /__mock/journal (docs/dashboard.md)")
    report.add_argument("journal", metavar="JOURNAL.json")
    report.add_argument("--out", required=True, metavar="FILE.html", help="where to write the report")
    report.add_argument("--title", default=None, help="the report's title (default: from the file name)")
    return parser


def _env_int(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    value = env.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        raise EnvError(f"{name}: found {value!r}; expected an integer") from None


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name, "").strip()
    try:
        return float(value) if value else default
    except ValueError:
        raise EnvError(f"{name}: found {value!r}; expected a number") from None


def _env_bool(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in TRUE or value in FALSE:
        return value in TRUE
    raise EnvError(f"{name}: found {env[name]!r}; expected one of 1, 0, true, false, yes, no, on, off")


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    env = os.environ if env is None else env
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        parser = _parser(env)
    except EnvError as exc:
        print(f"mockserver: {exc}", file=err)
        return 2
    args = parser.parse_args(argv)
    if args.command == "schema":
        from .schema import ScenarioSpec

        schema = ScenarioSpec.model_json_schema(by_alias=True)
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
        print(json.dumps(schema, indent=2), file=out)
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
        rules = sum(len(s.rules) for s in scenarios)
        print(f"ok: {len(scenarios)} scenario(s), {rules} rule(s)", file=out)
        return 0
    return _serve(args, env, out, err)


def _serve(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    from .scenario import BUILTIN_DIR
    from .server import MockServer

    paths = args.paths or [p for p in env.get("MOCKSERVER_SCENARIOS", "").split(os.pathsep) if p] \
        or [str(BUILTIN_DIR)]
    if args.gc_threshold < 0:
        print(f"mockserver: --gc-threshold: found {args.gc_threshold}; expected 0 (Python's default) "
              "or a positive number of allocations", file=err)
        return 1
    try:
        loop_factory = _loop_factory(args.loop)
    except _Refusal as exc:
        print(f"mockserver: {exc}", file=err)
        return 1
    log = _Log(out, err, json_lines=args.log_json)
    with contextlib.ExitStack() as cleanup:
        try:
            ssl_context, ca = _tls(args, cleanup)
        except _Refusal as exc:
            print(f"mockserver: {exc}", file=err)
            return 1
        try:
            server = MockServer(paths, host=args.host, port=args.port, seed=args.seed,
                                max_delay=args.max_delay, shutdown_timeout=args.shutdown_timeout,
                                admin_token=args.admin_token, public_health=args.public_health,
                                ssl_context=ssl_context, max_body_size=args.max_body,
                                max_uri=args.max_uri, max_header=args.max_header,
                                max_headers=args.max_headers, header_timeout=args.header_timeout,
                                body_timeout=args.body_timeout, max_connections=args.max_connections,
                                journal_size=args.journal_size, header_control=args.header_control,
                                time_scale=args.time_scale)
        except ScenarioError as exc:
            for problem in exc.problems:
                print(problem, file=err)
            print(f"mockserver: refusing to serve: {len(exc.problems)} problem(s) in the scenarios", file=err)
            return 1
        if args.log_json:
            from .metrics import JsonLog

            server.exchange_hooks.append(JsonLog(out))
        tune_gc(args.gc_threshold)
        try:
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                runner.run(_run(server, args, paths, ca, log))
        except OSError as exc:
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


def _tls(args: argparse.Namespace, cleanup: contextlib.ExitStack) -> tuple[ssl.SSLContext | None, str | None]:
    """The server's TLS context and the CA file clients should trust (None when not generated).

    Generated keys live in a temporary folder, removed at exit (so is the CA, unless --cert-out).
    """
    from .tls import self_signed, server_context

    if (args.cert is None) != (args.key is None):
        raise _Refusal("--cert and --key go together; give both or neither")
    try:
        if args.cert is not None:
            return server_context(args.cert, args.key), None
        if args.tls:
            folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="mockserver-tls-"))
            made = self_signed(folder, args.tls_name + ([args.host] if args.host else []),
                               ca_path=args.cert_out)
            return server_context(made.cert, made.key), str(made.ca)
    except ImportError:
        raise _Refusal("--tls makes its certificate with the cryptography package: "
                       "pip install 'mockserver[tls]' (or give --cert and --key)") from None
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise _Refusal(f"cannot set up TLS: {exc}") from None
    return None, None


class _Log:
    """Startup, reload and shutdown messages: text lines, or JSON lines with --log-json."""

    def __init__(self, out: TextIO, err: TextIO, *, json_lines: bool) -> None:
        self.out, self.err, self.json_lines = out, err, json_lines

    def event(self, event: str, message: str, *, error: bool = False, problems: Sequence[str] = (),
              **fields: object) -> None:
        if self.json_lines:
            from .metrics import JsonLog

            extra = {"problems": list(problems)} if problems else {}
            JsonLog(self.out).event({"event": event, "message": message, **fields, **extra})
            return
        stream = self.err if error else self.out
        print(message, file=stream, flush=True)
        for line in problems:
            print(f"  {line}", file=stream, flush=True)


async def _run(server: MockServer, args: argparse.Namespace, paths: list[str], ca: str | None,
               log: _Log) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    if ca is not None:  # before "listening": whoever waits for that line can trust the CA already
        log.event("tls", f"mockserver: clients trust the CA certificate {ca}", ca=ca)
    rules = sum(len(s.rules) for s in server.scenarios)
    log.event("listening", f"mockserver listening on {server.url} ({len(server.scenarios)} scenario(s), "
                           f"{rules} rule(s))", url=server.url)
    if server.admin_token is not None:
        scope = "except /__mock/health" if server.public_health else "health included"
        log.event("control", f"mockserver: the control API requires a bearer token ({scope})")
    watcher_task: asyncio.Task[None] | None = None
    if args.watch:
        from .reload import Watcher

        def report(ok: bool, message: str, problems: list[str]) -> None:
            log.event("reload", f"mockserver: {message}", error=not ok, ok=ok, problems=problems)

        watcher = Watcher(server, paths, interval=args.watch_interval, report=report)
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
