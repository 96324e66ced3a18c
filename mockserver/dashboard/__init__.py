"""The dashboard: a live page at ``/__mock/ui`` and an HTML traffic report of a journal.

Both draw the same log and timeline with the same script (static/dashboard.js); the page gets
entries pushed over server-sent events, the report has them inlined in one self-contained file.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

__all__ = ["FAVICON", "STATIC", "render_page"]

STATIC = Path(__file__).with_name("static")
# the page's own icon, inline, so that a browser never asks the mock for /favicon.ico
FAVICON = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
           "%3Crect width='16' height='16' rx='3' fill='%232563eb'/%3E%3Cpath d='M3 11h2V7h2v4h2V4h2v7h2' "
           "stroke='white' fill='none'/%3E%3C/svg%3E")


def render_page(*, title: str, head: str, scripts: str, config: dict[str, Any]) -> str:
    """page.html with its slots filled: *head* and *scripts* are HTML, the rest is escaped here."""
    text = (STATIC / "page.html").read_text("utf-8")
    for slot, value in (("{{TITLE}}", html.escape(title)), ("{{FAVICON}}", html.escape(FAVICON)),
                        ("{{CONFIG}}", html.escape(json.dumps(config))), ("{{HEAD}}", head),
                        ("{{SCRIPTS}}", scripts)):
        text = text.replace(slot, value)
    return text
