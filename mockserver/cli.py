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
import os
import re
import signal
import ssl
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, cast

from .config import _UNSET, SETTINGS, ConfigError, Invalid, Parse, ServerConfig, Setting, found, upstream
from .errors import ScenarioError

if TYPE_CHECKING:
    from .app.server import MockServer
    from .control.reload import Snapshot
    from .output import Output
    from .record.live import LiveRecording
    from .wire.tls_faults import Authority

__all__ = ["main"]




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


class _Exit(Exception):
    """argparse wants to stop: with this exit code, its message already printed."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _argtype(parse: Parse, secret: bool = False) -> Callable[[str], object]:
    def convert(text: str) -> object:
        try:
            return parse(text)
        except Invalid as exc:
            raise argparse.ArgumentTypeError(f"found {found(text, secret)}; expected {exc}") from None

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


def _parser(out: TextIO, err: TextIO) -> tuple[argparse.ArgumentParser, dict[str, Setting]]:
    parser = _Parser(prog="mockserver", description=__doc__.splitlines()[0], out=out, err=err)
    parser.add_argument("--version", action="version", version=f"mockserver {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = sub.add_parser("serve", help="serve scenario files (default: the built-in scenarios)",
                           out=out, err=err, epilog=_builtin_epilog(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("paths", nargs="*", metavar="PATH",
                       help="scenario file or folder of them, or a built-in name (below)")
    _add_settings(serve)

    validate = sub.add_parser("validate", help="check scenario files; one line per problem", out=out, err=err)
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.add_argument("--strict", action="store_true",
                          help="refuse (exit 1) a scenario that has warnings, such as a value that "
                               "looks like a secret")

    sub.add_parser("schema", help="print the JSON Schema of scenario files", out=out, err=err)

    report = sub.add_parser("report", out=out, err=err,
                            help="write an HTML traffic report of a journal saved from GET /__mock/journal "
                                 "(docs/dashboard.md)")
    report.add_argument("journal", metavar="JOURNAL.json")
    report.add_argument("--out", required=True, metavar="FILE.html", help="where to write the report")
    report.add_argument("--title", default=None, help="the report's title (default: from the file name)")

    importer = sub.add_parser("import", out=out, err=err,
                              help="turn a HAR file or a WireMock mappings folder into a redacted "
                                   "scenario (docs/recording.md)")
    importer.add_argument("source", metavar="FILE", help="a .har file, or a folder with mappings/*.json")
    importer.add_argument("--out", required=True, metavar="FILE.yaml", help="where to write the scenario")
    importer.add_argument("--name", default=None, help="the scenario's name (default: from --out)")
    importer.add_argument("--no-latency", action="store_true",
                          help="do not keep the recorded latency as each rule's delay")

    recorder = sub.add_parser("record", out=out, err=err,
                              help="serve as a reverse proxy to --target and record what goes through "
                                   "into a redacted scenario, written on SIGINT/SIGTERM or POST "
                                   "/__mock/recording/save (docs/recording.md)")
    recorder.add_argument("--target", required=True, metavar="URL", type=_argtype(upstream),
                          help="the real API's base URL: every request is forwarded there")
    recorder.add_argument("--out", required=True, metavar="FILE.yaml",
                          help="where the scenario goes (side files in FILE.files/ next to it)")
    recorder.add_argument("--name", default=None, help="the scenario's name (default: from --out)")
    recorder.add_argument("--no-latency", action="store_true",
                          help="do not keep the recorded latency as each rule's delay")
    _add_settings(recorder)
    return parser, SETTINGS


def _add_settings(serve: argparse.ArgumentParser) -> None:
    """The serve options, one per ServerConfig field (config.py): flag, variable, range, help."""
    groups: dict[str, argparse._ActionsContainer] = {"": serve}
    for name, setting in SETTINGS.items():
        group = groups.get(setting.group)
        if group is None:
            group = groups[setting.group] = serve.add_argument_group(setting.group)
        default = (setting.cli_default if setting.cli_default is not _UNSET
                   else ServerConfig.__dataclass_fields__[name].default)
        shown = setting.shown if setting.shown is not None else (
            f"{default:,}" if isinstance(default, int) and not isinstance(default, bool) else f"{default}")
        metavar = setting.metavar or setting.dest.upper()
        env = setting.env
        if setting.parse is None:
            group.add_argument(setting.flag, dest=setting.dest, action="store_true", default=None,
                               help=f"{setting.help} (${env})")
        elif setting.many:
            group.add_argument(setting.flag, dest=setting.dest, action="append", metavar=metavar,
                               type=_argtype(setting.parse),
                               help=f"{setting.help} (repeatable; ${env}, comma-separated)")
        else:
            suffix = f"${env}" if default is None else f"default {shown}; ${env}"
            group.add_argument(setting.flag, dest=setting.dest, type=_argtype(setting.parse, setting.secret),
                               default=None, metavar=metavar, help=f"{setting.help} ({suffix})")


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
    parser, _ = _parser(out, err)
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
    if args.command == "import":
        from .record.cli import run_import

        return run_import(args.source, args.out, args.name, not args.no_latency, out, err)
    if args.command == "validate":
        from .scenario import load_paths

        try:
            scenarios = load_paths(args.paths)
        except ScenarioError as exc:
            for problem in exc.problems:
                print(problem, file=out)
            return 1
        warnings = [w for s in scenarios for w in s.warnings]
        for problem in warnings:
            print(problem, file=out)
        if args.strict and warnings:
            print(f"refused: {len(warnings)} warning(s) and --strict", file=out)
            return 1
        rules = sum(len(s.rules) for s in scenarios)
        print(f"ok: {len(scenarios)} scenario(s), {rules} rule(s)", file=out)
        return 0
    if args.command == "record":  # serve's settings, with every request forwarded to --target
        if args.proxy_unmatched is not None:
            print("mockserver: record: --proxy-unmatched: found a second upstream; expected only "
                  "--target, which every request is forwarded to", file=err)
            return 2
        args.proxy_unmatched = args.target
        args.paths = []
    try:  # flags win, then MOCKSERVER_*, then the defaults; every variable is checked, used or not
        config = ServerConfig.from_env(env, **{name: getattr(args, s.dest) for name, s in SETTINGS.items()})
    except ConfigError as exc:
        print(f"mockserver: {exc}", file=err)
        return 2
    for name, setting in SETTINGS.items():
        setattr(args, setting.dest, getattr(config, name))
    args.tls_name = list(config.tls_name)
    args.config = config
    if config.workers > 1:
        return _supervise(args, list(sys.argv[1:] if argv is None else argv)[1:], env, out, err)
    return _serve(args, env, out, err)


def _supervise(args: argparse.Namespace, argv: list[str], env: Mapping[str, str], out: TextIO,
               err: TextIO) -> int:
    """--workers N: check what every worker would refuse once, then run them (mockserver/workers.py)."""
    from .output import Output
    from .scenario import BUILTIN_DIR, load_paths
    from .workers import Supervisor, WorkerError

    config = args.config
    refusal = None
    if args.tls and args.cert is None:
        refusal = "--tls makes a CA per process; give the workers one certificate with --cert and --key"
    for flag, value in (("--refuse-port", config.refuse_port), ("--silent-port", config.silent_port),
                        ("--blackhole-port", config.blackhole_port)):
        if value is not None:
            refusal = f"{flag} is one port per process; serve fault ports with --workers 1"
    if refusal is not None:
        print(f"mockserver: --workers {config.workers}: {refusal}", file=err)
        return 1
    paths = args.paths or [p for p in env.get("MOCKSERVER_SCENARIOS", "").split(os.pathsep) if p] \
        or [str(BUILTIN_DIR)]
    try:
        load_paths(paths)  # refused here once, not by every worker
    except ScenarioError as exc:
        return _refuse_scenarios(exc, err)
    output = Output(out, err)
    log = _Log(output, json_lines=args.log_json)
    try:
        return Supervisor(config.workers, argv, env, config.host, config.port, config.state,
                          config.shutdown_timeout, log.event, out, err).run()
    except WorkerError as exc:
        print(f"mockserver: {exc}", file=err)
        return 1
    finally:
        output.close()


def _refuse_scenarios(exc: ScenarioError, err: TextIO) -> int:
    """Each problem on its own line (file:line:col first), then the refusal; exit status 1."""
    for problem in exc.problems:
        print(problem, file=err)
    print(f"mockserver: refusing to serve: {len(exc.problems)} problem(s) in the scenarios", file=err)
    return 1


def _serve(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    from .app.server import MockServer
    from .scenario import BUILTIN_DIR

    recording = args.command == "record"
    paths = [] if recording else args.paths or [
        p for p in env.get("MOCKSERVER_SCENARIOS", "").split(os.pathsep) if p] or [str(BUILTIN_DIR)]
    if recording and not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        print(f"mockserver: --out {args.out}: found no folder {os.path.dirname(os.path.abspath(args.out))}; "
              "expected a file in an existing folder", file=err)
        return 1
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
            server = MockServer(paths, config=args.config, ssl_context=ssl_context, tls=authority)
        except ScenarioError as exc:
            return _refuse_scenarios(exc, err)
        from .output import Output, describe_exchange

        output = Output(out, err)
        cleanup.callback(output.close)
        log = _Log(output, json_lines=args.log_json)
        live = _start_recording(server, args, log) if recording else None
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
            where = exc.filename if isinstance(exc.filename, str) else f"{args.host}:{args.port}"
            print(f"mockserver: cannot listen on {where}: {exc.strerror or exc}", file=err)
            return 1
        if live is not None:  # the server is closed: every exchange in flight has been observed
            return _save_recording(live, args, log, err)
    return 0


def _start_recording(server: MockServer, args: argparse.Namespace, log: _Log) -> LiveRecording:
    """``mockserver record``: before any hook or log line can see a request, so the journal is redacted."""
    from pathlib import Path

    from .record.build import RecordOptions

    live = server.start_recording(args.out, RecordOptions(
        name=args.name or Path(args.out).stem, keep_latency=not args.no_latency))
    log.event("recording", f"mockserver: recording what goes to {args.target} into {args.out}",
              target=args.target, out=args.out)
    return live


def _save_recording(live: LiveRecording, args: argparse.Namespace, log: _Log, err: TextIO) -> int:
    try:
        written = live.save()
    except OSError as exc:
        print(f"mockserver: {args.out}: cannot write the recording ({exc.strerror or exc})", file=err)
        return 1
    sides = f" and {len(written) - 1} side file(s)" if len(written) > 1 else ""
    log.event("recorded", f"mockserver: recorded {live.captured} exchange(s) into {args.out}{sides}",
              out=args.out, exchanges=live.captured)
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

    #: events a worker of --workers N leaves to its supervisor, which says them once for all
    ONCE = frozenset({"tls", "warning", "fault_port", "listening", "control", "watching", "stopping"})

    def __init__(self, output: Output, *, json_lines: bool) -> None:
        self.output, self.json_lines = output, json_lines
        self.once = True  # False in a worker: the ONCE events are not its to say

    def event(self, event: str, message: str, *, error: bool = False, problems: Sequence[str] = (),
              **fields: object) -> None:
        if not self.once and event in self.ONCE:
            return
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
    from .workers import worker_ready

    ready = worker_ready(os.environ)
    if ready is not None:  # one of --workers N: the supervisor says what the whole says, once
        server.reuse_port = True
        log.once = False
    await server.start()
    if ca is not None:  # before "listening": whoever waits for that line can trust the CA already
        log.event("tls", f"mockserver: clients trust the CA certificate {ca}", ca=ca)
    for problem in (w for s in server.scenarios for w in s.warnings):
        log.event("warning", f"mockserver: {problem}", error=True)
    listeners = server.fault_listeners
    for port, what in ((listeners.refuse_port, "refuses connections"), (listeners.silent_port,
                       "accepts and never answers"), (listeners.blackhole_port, "never completes a connect")):
        if port is not None:  # before "listening", like the CA: a waiter can trust the ports are up
            log.event("fault_port", f"mockserver: port {port} {what}", port=port)
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
    if ready is not None:
        ready()
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
