#!/usr/bin/env python3
"""Start compose.yaml's services with plain `podman run`, where no compose tool is installed.

`python deploy/compose.py up [--project NAME] [--build]` and `... down [--project NAME]`. It reads
the part of the compose format that compose.yaml uses (build context/target/args, image, command,
environment, ports, depends_on, `${VAR:-default}`), makes a network of the project's own (services
find each other by name, as under compose), and starts the services in dependency order. Anything
else in the file is refused by name rather than ignored.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SERVICE_KEYS = {"build", "image", "command", "environment", "ports", "depends_on"}
BUILD_KEYS = {"context", "target", "args", "dockerfile"}
VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


class ComposeError(Exception):
    """compose.yaml says something this runner does not do; the message says what and where."""


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """`${VAR:-default}` and `${VAR}` in every string, as compose does."""
    if isinstance(value, str):
        return VARIABLE.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    return value


def load(path: Path, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict) or set(doc) != {"services"} or not isinstance(doc["services"], dict):
        raise ComposeError(f"{path}: expected a mapping with only 'services'")
    services: dict[str, dict[str, Any]] = {}
    for name, spec in doc["services"].items():
        unknown = set(spec) - SERVICE_KEYS
        if unknown:
            raise ComposeError(f"{path}: services.{name}: {', '.join(sorted(unknown))} is not supported "
                               f"here; expected {', '.join(sorted(SERVICE_KEYS))}")
        build = spec.get("build")
        if isinstance(build, dict) and set(build) - BUILD_KEYS:
            raise ComposeError(f"{path}: services.{name}.build: {', '.join(sorted(set(build) - BUILD_KEYS))} "
                               "is not supported here")
        if "image" not in spec:
            raise ComposeError(f"{path}: services.{name}: give an image name (built or existing)")
        services[name] = interpolate(spec, env)
    return services


def order(services: dict[str, dict[str, Any]]) -> list[str]:
    """Dependencies first."""
    done: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in path:
            raise ComposeError(f"depends_on loops: {' -> '.join((*path, name))}")
        if name not in services:
            raise ComposeError(f"services.{path[-1]}.depends_on: no service {name!r}")
        for dep in services[name].get("depends_on", []):
            visit(dep, (*path, name))
        done.append(name)

    for name in services:
        visit(name, ())
    return done


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], check=check, text=True, capture_output=True)


def up(services: dict[str, dict[str, Any]], project: str, build: bool) -> None:
    network = f"{project}_default"
    if podman("network", "exists", network, check=False).returncode != 0:
        podman("network", "create", network)
    for name in order(services):
        spec = services[name]
        if build and "build" in spec:
            b = spec["build"]
            args = ["build", "--format", "docker", "-t", spec["image"]]
            if b.get("target"):
                args += ["--target", b["target"]]
            if b.get("dockerfile"):
                args += ["-f", str(ROOT / b.get("context", ".") / b["dockerfile"])]
            for key, value in (b.get("args") or {}).items():
                args += ["--build-arg", f"{key}={value}"]
            podman(*args, str(ROOT / b.get("context", ".")))
        run = ["run", "-d", "--name", f"{project}-{name}-1", "--network", network, "--network-alias", name]
        for key, value in (spec.get("environment") or {}).items():
            run += ["-e", f"{key}={value}"]
        for port in spec.get("ports") or []:
            run += ["-p", str(port)]
        command = spec.get("command") or []
        podman(*run, spec["image"], *([command] if isinstance(command, str) else command))
        print(f"started {project}-{name}-1", flush=True)


def down(services: dict[str, dict[str, Any]], project: str) -> None:
    for name in reversed(order(services)):
        podman("rm", "-f", "-t", "10", f"{project}-{name}-1", check=False)
    podman("network", "rm", "-f", f"{project}_default", check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--project", default="mockserver", help="names the network and containers")
    parser.add_argument("--file", default=str(ROOT / "compose.yaml"))
    parser.add_argument("--build", action="store_true", help="build the images that have a build section")
    args = parser.parse_args(argv)
    try:
        services = load(Path(args.file), dict(os.environ))
        if args.action == "up":
            up(services, args.project, args.build)
        else:
            down(services, args.project)
    except ComposeError as exc:
        print(f"compose: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"compose: {' '.join(exc.cmd)} failed ({exc.returncode}): {exc.stderr.strip()}",
              file=sys.stderr)
        if args.action == "up":
            down(services, args.project)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
