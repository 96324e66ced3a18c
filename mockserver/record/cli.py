"""``mockserver import``: a HAR file or WireMock folder in, a redacted scenario (and side files) out."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from ..errors import ScenarioError
from ..scenario import load_paths
from .build import Recorder, RecordOptions
from .har import ImportRefused, import_har
from .wiremock import import_wiremock

__all__ = ["run_import"]


def run_import(source: str, out_path: str, name: str | None, keep_latency: bool, out: TextIO,
               err: TextIO) -> int:
    """Import *source* into *out_path*; 0 written (and it loads), 1 refused with a located reason."""
    target = Path(out_path)
    recorder = Recorder(RecordOptions(name=name or target.stem, keep_latency=keep_latency))
    path = Path(source)
    try:
        if path.is_dir():
            count = import_wiremock(path, recorder)
        elif path.is_file():
            count = import_har(path, recorder)
        else:
            print(f"mockserver: {source}: no such file or folder; expected a .har file or a WireMock "
                  "mappings folder", file=err)
            return 1
    except ImportRefused as exc:
        print(f"mockserver: {exc}", file=err)
        return 1
    for warning in recorder.warnings:
        print(f"warning: {warning}", file=err)
    try:
        written = recorder.write(target)
    except OSError as exc:
        print(f"mockserver: {out_path}: cannot write it ({exc.strerror})", file=err)
        return 1
    try:
        load_paths([str(target)])
    except ScenarioError as exc:  # a mapping whose values the format refuses: say where, keep the file
        for problem in exc.problems:
            print(problem, file=err)
        print(f"mockserver: {out_path} was written but does not load; fix the lines above", file=err)
        return 1
    sides = f" and {len(written) - 1} side file(s)" if len(written) > 1 else ""
    print(f"imported {count} item(s) from {source} into {out_path}{sides}", file=out)
    return 0
