"""The command line: ``mockserver serve | validate | schema``.

``main(argv, env)`` returns the exit code instead of exiting, so tests drive it directly. Flags
win over environment variables (``MOCKSERVER_*``), which the container uses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from .errors import ScenarioError

__all__ = ["main"]


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mockserver", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve scenario files (default: the built-in scenarios)")
    serve.add_argument("paths", nargs="*", metavar="PATH", help="scenario file or folder of them")
    serve.add_argument("--host", default=env.get("MOCKSERVER_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(env.get("MOCKSERVER_PORT", "8080")),
                       help="0 picks a free port (default 8080)")
    serve.add_argument("--seed", type=int, default=_int_or_none(env.get("MOCKSERVER_SEED")),
                       help="seed for delays and chaos draws (overrides the scenarios')")
    serve.add_argument("--max-delay", type=float, default=float(env.get("MOCKSERVER_MAX_DELAY", "600")),
                       help="cap on any delay, in seconds")
    serve.add_argument("--shutdown-timeout", type=float,
                       default=float(env.get("MOCKSERVER_SHUTDOWN_TIMEOUT", "2")),
                       help="seconds in-flight answers get to finish on SIGTERM")

    validate = sub.add_parser("validate", help="check scenario files; one line per problem")
    validate.add_argument("paths", nargs="+", metavar="PATH")

    sub.add_parser("schema", help="print the JSON Schema of scenario files")
    return parser


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    env = os.environ if env is None else env
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = _parser(env).parse_args(argv)
    if args.command == "schema":
        from .schema import ScenarioSpec

        schema = ScenarioSpec.model_json_schema(by_alias=True)
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
        print(json.dumps(schema, indent=2), file=out)
        return 0
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
    try:
        server = MockServer(paths, host=args.host, port=args.port, seed=args.seed,
                            max_delay=args.max_delay, shutdown_timeout=args.shutdown_timeout)
    except ScenarioError as exc:
        for problem in exc.problems:
            print(problem, file=err)
        print(f"mockserver: refusing to serve: {len(exc.problems)} problem(s) in the scenarios", file=err)
        return 1

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        rules = sum(len(s.rules) for s in server.scenarios)
        print(f"mockserver listening on {server.url} ({len(server.scenarios)} scenario(s), "
              f"{rules} rule(s))", file=out, flush=True)
        try:
            await stop.wait()
        finally:
            print("mockserver: shutting down", file=out, flush=True)
            await server.close()

    try:
        asyncio.run(run())
    except OSError as exc:
        print(f"mockserver: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=err)
        return 1
    return 0
