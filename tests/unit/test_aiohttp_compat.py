"""aiohttp's internals are touched in one module, which checks the installed aiohttp at import."""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import pkgutil
import re
import tomllib
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web, web_protocol, web_request, web_server

import mockserver
from mockserver.wire import aiohttp_compat as compat

ROOT = Path(__file__).resolve().parents[2]
AIOHTTP_CLASSES: tuple[type, ...] = (web_protocol.RequestHandler, web_server.Server, web.StreamResponse,
                                     web_request.BaseRequest)


def test_the_tested_range_is_the_one_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [d for d in project["dependencies"] if re.match(r"aiohttp\b", d)]
    assert declared == [f"aiohttp>={compat.TESTED[0]},<{compat.TESTED[1]}"]
    compat.check(aiohttp.__version__)  # the installed one is in it


@pytest.mark.parametrize("version", ["3.13.5", "3.15.0", "4.0.0a1", "3.14.4"])
def test_a_version_outside_the_range_is_refused_by_name(version: str) -> None:
    with pytest.raises(compat.AiohttpMismatch) as caught:
        compat.check(version)
    assert str(caught.value) == (f"mockserver's wire layer was tested with aiohttp>=3.14.5,<3.15; "
                                 f"aiohttp {version} is installed: install a version in that range")


def test_a_missing_private_attribute_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compat, "REQUIRED", (*compat.REQUIRED,
                                             (web_server.Server, "_handlers", "a test of this check")))
    with pytest.raises(compat.AiohttpMismatch) as caught:
        compat.check("3.14.9")
    assert str(caught.value) == ("aiohttp 3.14.9 has no Server._handlers, which mockserver uses for a test "
                                 "of this check; install aiohttp>=3.14.5,<3.15")


def test_each_private_attribute_is_on_the_live_objects() -> None:
    """Not only named in aiohttp's source: set on real instances, as the wire layer reads them."""
    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response()

    async def scene() -> None:
        server = web_server.Server(handle)
        handler = server()
        response = web.StreamResponse()
        for cls, name, _why in compat.REQUIRED:
            obj = {web_protocol.RequestHandler: handler, web_server.Server: server,
                   web.StreamResponse: response}.get(cls)
            if obj is not None:
                assert hasattr(obj, name), f"{cls.__name__}.{name}"
        assert compat.open_connections(handler) == 0 and compat.requests_begun(handler) == 0
        assert compat.between_requests(handler) and compat.handler_loop(handler) is compat.server_loop(server)
        assert compat.server_settings(server) == {}

    asyncio.run(scene())


def test_a_made_response_is_finished_for_aiohttp() -> None:
    response = web.StreamResponse.__new__(web.StreamResponse)
    compat.made_response(response, 299, "Custom", keep_alive=False)
    assert (response.status, response.reason, response.keep_alive, compat.sent(response)) == (
        299, "Custom", False, False)
    compat.mark_sent(response)
    assert compat.sent(response) and response.prepared


def _private_names() -> set[str]:
    names = set()
    for cls in AIOHTTP_CLASSES:
        names |= {n for n in compat._names(cls) if n.startswith("_") and not n.startswith("__")}
    return names


def _touches(path: Path, module: object, private: set[str]) -> list[str]:
    """``obj._name`` with an aiohttp private name on an aiohttp object (any object but a ``self`` of a
    class that is not an aiohttp subclass), and imports of aiohttp names outside a module's __all__."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aiohttp."):
            exported = getattr(importlib.import_module(node.module or ""), "__all__", None)
            found += [f"{path.name}:{node.lineno}: from {node.module} import {alias.name}"
                      for alias in node.names if alias.name.startswith("_")
                      or (exported is not None and alias.name not in exported)]
        if not isinstance(node, ast.ClassDef):
            continue
        cls = getattr(module, node.name, None)
        subclass = inspect.isclass(cls) and issubclass(cls, AIOHTTP_CLASSES)
        for inner in ast.walk(node):
            if isinstance(inner, ast.Attribute) and inner.attr in private \
                    and isinstance(inner.value, ast.Name) and (inner.value.id != "self" or subclass):
                found.append(f"{path.name}:{inner.lineno}: {inner.value.id}.{inner.attr}")
    for node in ast.walk(tree):  # outside classes too: any non-self object
        if isinstance(node, ast.Attribute) and node.attr in private and isinstance(node.value, ast.Name) \
                and node.value.id not in {"self", "cls"}:
            found.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
    return sorted(set(found))


def test_no_other_module_touches_aiohttp_privates() -> None:
    private = _private_names()
    assert {"_cache", "_manager", "_eof_sent", "_connections", "_kwargs"} <= private  # the scan sees them
    found = []
    for info in pkgutil.walk_packages(mockserver.__path__, "mockserver."):
        if info.name in {compat.__name__, "mockserver.__main__"}:
            continue
        module = importlib.import_module(info.name)
        path = Path(module.__file__ or "")
        if "aiohttp" not in path.read_text():
            continue
        found += _touches(path, module, private)
    assert found == []


def test_the_scan_finds_a_private_touch(tmp_path: Path) -> None:
    """The scan itself can fail: a handler subclass reading _messages, a request's _cache."""
    source = tmp_path / "touchy.py"
    source.write_text("from aiohttp.helpers import rfc822_formatted_time\n"
                      "class H(RequestHandler):\n    def f(self):\n        return self._messages\n"
                      "def g(request):\n    request._cache['version'] = 1\n")

    class H(web_protocol.RequestHandler):
        pass

    module = type("M", (), {"H": H})
    assert _touches(source, module, _private_names()) == [
        "touchy.py:1: from aiohttp.helpers import rfc822_formatted_time",
        "touchy.py:4: self._messages", "touchy.py:6: request._cache"]
