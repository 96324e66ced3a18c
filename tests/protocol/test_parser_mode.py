"""The wire suites run twice in CI: with aiohttp's C parser (llhttp) and, under
AIOHTTP_NO_EXTENSIONS=1 (.ci/run), with its pure-Python parser; this says which one a run used."""

from __future__ import annotations

import os

from aiohttp import http_parser


def test_the_parser_is_the_one_the_run_asked_for() -> None:
    python = http_parser.HttpRequestParser is http_parser.HttpRequestParserPy
    assert python == bool(os.environ.get("AIOHTTP_NO_EXTENSIONS"))
