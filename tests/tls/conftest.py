"""A --tls MockServer with a TLS fault, and a helper that finds the exception under a client's own."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from mockserver import MockServer
from mockserver.wire.tls import authority, server_context

E = TypeVar("E", bound=BaseException)
HELLO: dict[str, Any] = {"name": "hello",
                         "rules": [{"match": {"path": "/hello"}, "respond": {"body": "hi\n"}}]}


@contextmanager
def tls_server(folder: Path, fault: str | None = None,
               scenario: Any = None) -> Iterator[tuple[MockServer, str]]:
    """A threaded HTTPS mock on 127.0.0.1 serving *fault*, and the CA file its clients trust."""
    made, ca = authority(folder)
    with MockServer([scenario or HELLO], ssl_context=server_context(made.cert, made.key),
                    tls_fault=fault, tls=ca) as server:
        yield server, str(made.ca)


TlsServer = Callable[..., Any]


@pytest.fixture
def tls(tmp_path: Path) -> TlsServer:
    """tls(fault=None, scenario=None) -> context manager of (server, ca file)."""
    count = iter(range(1000))
    return lambda fault=None, scenario=None: tls_server(tmp_path / f"pki{next(count)}", fault, scenario)


def cause(exc: BaseException, kind: type[E]) -> E:
    """The first *kind* in exc's chain (causes, contexts and exception arguments, as urllib3 nests them)."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        found = todo.pop(0)
        if not isinstance(found, BaseException) or id(found) in seen:
            continue
        seen.add(id(found))
        if isinstance(found, kind):
            return found
        todo.extend([found.__cause__, found.__context__, *found.args,
                     getattr(found, "reason", None), getattr(found, "certificate_error", None),
                     getattr(found, "os_error", None)])
    raise AssertionError(f"no {kind.__name__} under {exc!r}")


def verify_error(exc: BaseException) -> ssl.SSLCertVerificationError:
    return cause(exc, ssl.SSLCertVerificationError)
