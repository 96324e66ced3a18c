"""The traffic report: the dashboard's log and timeline for one journal, in one self-contained file.

It inlines the page's script, uPlot and the entries, so it opens from disk with no network (a CI
artifact, a failed test's story). The pytest plugin writes one per failed test with
``--mockserver-report DIR``; ``mockserver report JOURNAL.json --out FILE.html`` writes one from a
journal saved over the control API (``GET /__mock/journal``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from ..journal import json_safe
from . import STATIC, render_page

__all__ = ["ReportError", "load_journal", "render_report", "report_name", "write_report"]

#: fields every entry must have for the page to draw it
REQUIRED = {"seq": (int,), "method": (str,), "path": (str,), "arrived": (int, float)}


class ReportError(ValueError):
    """A journal file that cannot make a report: the message says where and what was expected."""


def render_report(entries: Sequence[Mapping[str, Any]], *, title: str,
                  state: Mapping[str, Any] | None = None) -> str:
    """The report's HTML: *entries* as GET /__mock/journal gives them, oldest first."""
    styles = "\n".join((STATIC / name).read_text("utf-8") for name in ("uPlot.min.css", "dashboard.css"))
    code = [(STATIC / name).read_text("utf-8") for name in ("uPlot.iife.min.js", "dashboard.js")]
    data = json.dumps(json_safe({"title": title, "entries": list(entries), "state": state}))
    # inside <script>, "<" could end the element: JSON strings may spell it \u003c instead
    data = data.replace("<", "\\u003c")
    scripts = (f'<script type="application/json" id="mock-data">{data}</script>\n'
               + "\n".join(f"<script>{_inline(c)}</script>" for c in code))
    return render_page(title=title, head=f"<style>{styles}</style>", scripts=scripts,
                       config={"mode": "report"})


def _inline(code: str) -> str:
    return code.replace("</script", "<\\/script")


def write_report(path: str | Path, entries: Sequence[Mapping[str, Any]], *, title: str,
                 state: Mapping[str, Any] | None = None) -> Path:
    """Write the report to *path* (its folder is made); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(entries, title=title, state=state), "utf-8")
    return target


def report_name(nodeid: str) -> str:
    """A file name for a test's report: its node id with what file systems dislike replaced."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", nodeid.replace("::", "--")).strip("-.")
    return (name[:180] or "test") + ".html"


def load_journal(path: str | Path) -> list[dict[str, Any]]:
    """The entries of a journal saved as GET /__mock/journal answers it (or a bare list of entries)."""
    source = Path(path)
    try:
        text = source.read_text("utf-8")
    except FileNotFoundError:
        raise ReportError(f"{source}: no such file; "
                          "expected a journal saved from GET /__mock/journal") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{source}: cannot be read ({exc}); expected a JSON journal") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{source}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg}); expected the JSON "
                          "that GET /__mock/journal answers") from None
    entries = data.get("entries") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        found = "an object without \"entries\"" if isinstance(data, dict) else f"JSON {type(data).__name__}"
        raise ReportError(f"{source}: found {found}; expected {{\"entries\": [...]}} as GET /__mock/journal "
                          "answers, or a list of entries")
    for index, entry in enumerate(entries):
        where = f"{source}: entries[{index}]"
        if not isinstance(entry, dict):
            raise ReportError(f"{where}: found JSON {type(entry).__name__}; expected an entry object")
        for name, types in REQUIRED.items():
            value = entry.get(name)
            if not isinstance(value, types) or isinstance(value, bool):
                shown = "nothing" if name not in entry else json.dumps(value)
                kind = "a number" if float in types else "an integer" if int in types else "a string"
                raise ReportError(f"{where}.{name}: found {shown}; expected {kind}")
    return entries


def run_cli(journal: str, out: str, title: str | None, stdout: TextIO, stderr: TextIO) -> int:
    """``mockserver report JOURNAL.json --out FILE.html``: 0 written, 1 a bad journal or target."""
    try:
        entries = load_journal(journal)
    except ReportError as exc:
        print(f"mockserver: {exc}", file=stderr)
        return 1
    try:
        target = write_report(out, entries, title=title or f"mockserver report: {Path(journal).name}")
    except OSError as exc:
        print(f"mockserver: --out {out}: cannot write ({exc.strerror or exc}); expected a writable file path",
              file=stderr)
        return 1
    print(f"wrote {target}: {len(entries)} request(s)", file=stdout)
    return 0


def write_test_reports(folder: str | Path, nodeid: str, handles: Sequence[Any]) -> list[str]:
    """One report per mockserver a failed test used (the plugin's ``--mockserver-report DIR``).

    Returns a line per report for the failure output; a journal that cannot be read (an
    external server gone) gets a line saying so instead, and never hides the test's failure.
    """
    from .routes import snapshot

    lines = []
    base = report_name(nodeid)
    for number, handle in enumerate(handles):
        name = base if not number else base.removesuffix(".html") + f"-{number + 1}.html"
        try:
            entries = [e.as_dict() for e in handle.journal.select()]
            state = snapshot(handle.server) if handle.server is not None else None
            target = write_report(Path(folder) / name, entries, title=f"{nodeid} ({handle.url})", state=state)
        except Exception as exc:
            lines.append(f"no report for {handle.url}: {type(exc).__name__}: {exc}")
            continue
        lines.append(f"{target.resolve()} ({len(entries)} request(s) to {handle.url})")
    return lines
