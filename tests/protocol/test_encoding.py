"""http1.encode against aiohttp's own Response: the same bytes on the wire, byte for byte.

mockserver writes its answers itself (mockserver/http1.py) because aiohttp's Response cost more
CPU than the scenario engine. These tests serve every combination of status, body, headers,
method, HTTP version and keep-alive both ways from one aiohttp server and compare what a raw
socket receives, the Date header aside.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE, HttpVersion10, HttpVersion11

from mockserver.responses import Plan
from mockserver.wire.http1 import Sent, encode, encode_verbatim
from tests.conftest import raw_exchange

STATUSES = [(200, "OK"), (201, "Created"), (204, "No Content"), (304, "Not Modified"),
            (404, "NotFound"), (503, "ServiceUnavailable")]
BODIES = [b"", b'{"error_code":"CSS.0001","error_msg":"Service unavailable"}']
HEADER_SETS: list[list[tuple[str, str]]] = [
    [],
    [("Content-Type", "application/json"), ("Retry-After", "1"), ("X-Request-Id", "abc")],
    [("server", "huawei"), ("Date", "Thu, 01 Jan 1970 00:00:00 GMT"), ("X-A", "1"), ("X-A", "2")],
]
CASES = list(itertools.product(STATUSES, BODIES, range(len(HEADER_SETS))))
REQUESTS = [
    ("GET", "HTTP/1.1", ""),
    ("GET", "HTTP/1.1", "Connection: close\r\n"),
    ("HEAD", "HTTP/1.1", ""),
    ("POST", "HTTP/1.1", "Content-Length: 2\r\n"),  # the body follows
    ("GET", "HTTP/1.0", ""),
    ("GET", "HTTP/1.0", "Connection: keep-alive\r\n"),
    ("HEAD", "HTTP/1.0", "Connection: keep-alive\r\n"),
]


async def _handle(request: web.BaseRequest) -> web.StreamResponse:
    if request.path == "/bye":
        return web.Response(text="bye")
    index, how = request.path.split("/")[1:]
    if index == "closing":
        (status, reason), body, headers = (200, "OK"), b"x", [("Connection", "close")]
    else:
        (status, reason), body, headers_at = CASES[int(index)]
        headers = HEADER_SETS[headers_at]
    await request.read()
    if how == "aiohttp":
        return web.Response(status=status, reason=reason, headers=headers, body=body or None)
    encoded = encode(request.version, status, reason, headers, body, request.method, request.keep_alive)
    assert encoded is not None
    sent = Sent(status, reason, *encoded)
    await sent.send(request)
    return sent


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    loop = asyncio.new_event_loop()

    async def start() -> web.ServerRunner:
        runner = web.ServerRunner(web.Server(_handle, access_log=None))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    runner = loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield runner.addresses[0][1]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def _keeps_alive(version: str, extra: str) -> bool:
    return "keep-alive" in extra if version == "HTTP/1.0" else "close" not in extra


def _exchange(port: int, target: str, method: str, version: str, extra: str) -> tuple[bytes, str]:
    """The request, then (on a kept-alive connection) a pipelined closing one."""
    body = "{}" if method == "POST" else ""
    request = f"{method} {target} {version}\r\nHost: x\r\n{extra}\r\n{body}"
    if _keeps_alive(version, extra):
        request += "GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data, end = raw_exchange(port, request.encode())
    return re.sub(rb"Date: [^\r]*\r\n", b"Date: -\r\n", data), end


@pytest.mark.parametrize("case", range(len(CASES)),
                         ids=[f"{s[0]}-{'body' if b else 'empty'}-h{h}" for s, b, h in CASES])
def test_same_bytes_as_aiohttp(port: int, case: int) -> None:
    status = CASES[case][0][0]
    for method, version, extra in REQUESTS:
        ours = _exchange(port, f"/{case}/sent", method, version, extra)
        theirs = _exchange(port, f"/{case}/aiohttp", method, version, extra)
        assert ours == theirs, (method, version, extra)
        assert ours[0].startswith(f"{version} {status} ".encode()), ours  # the case, not an error
        assert ours[1] == "FIN"
        assert ours[0].endswith(b"bye") is _keeps_alive(version, extra), ours


def test_a_closing_answer_closes_the_connection(port: int) -> None:
    """Unlike aiohttp's Response, a rule's own `Connection: close` is honoured: the pipelined
    request after it gets no answer, and the connection ends."""
    encoded = encode(HttpVersion11, 200, "OK", [("Connection", "close")], b"x", "GET", True)
    assert encoded is not None
    data, keep_alive = encoded
    assert keep_alive is False
    assert data.startswith(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n"
                           b"Content-Type: application/octet-stream\r\nDate: ")
    assert data.endswith(b"\r\n\r\nx")
    received, end = _exchange(port, "/closing/sent", "GET", "HTTP/1.1", "")
    assert received.startswith(b"HTTP/1.1 200 OK\r\nConnection: close\r\n")
    assert received.endswith(b"\r\n\r\nx") and b"bye" not in received
    assert end == "FIN"


def test_the_bytes_of_a_static_answer() -> None:
    encoded = encode(HttpVersion10, 503, "ServiceUnavailable",
                     [("Retry-After", "1"), ("Content-Type", "application/json")], b"{}", "GET", True)
    assert encoded is not None
    data, keep_alive = encoded
    head = re.sub(rb"Date: [^\r]*", b"Date: -", data)
    assert head == (b"HTTP/1.0 503 ServiceUnavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 2\r\nDate: -\r\nServer: " + SERVER_SOFTWARE.encode()
                    + b"\r\nConnection: keep-alive\r\n\r\n{}")
    assert keep_alive is True


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: x=1", "a\nb", "a\rb"])
def test_a_newline_in_a_header_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="Newline or carriage return character detected in an HTTP header"):
        encode(HttpVersion11, 200, "OK", [("X-Echo", value)], b"", "GET", True)
    with pytest.raises(ValueError, match="Newline or carriage return character detected in an HTTP header"):
        encode(HttpVersion11, 200, value, [], b"", "GET", True)


@pytest.mark.parametrize(("headers", "declared"), [
    ([("Content-Type", "a/b")], False), ([("content-length", "3")], True),
    ([("Transfer-Encoding", "chunked")], True), ([("X-Content-Length", "3")], False), ([], False)])
def test_declared_framing_goes_through_aiohttp(headers: list[tuple[str, str]], declared: bool) -> None:
    """A rule's own Content-Length (a lie, for a truncation test) is framed by aiohttp as before."""
    assert (encode(HttpVersion11, 200, "OK", headers, b"abc", "GET", True) is None) is declared


VALIDATORS = (("ETag", '"abc"'), ("Accept-Ranges", "bytes"))
PLANS = [Plan(status, reason, tuple(HEADER_SETS[at]), body, validators=VALIDATORS if status == 200 else ())
         for (status, reason), body, at in CASES]
PLANS += [Plan(200, "OK", (("Content-Length", "3"),), b"abc"),  # declared framing: aiohttp's
          Plan(200, "OK", (("X-Odd", "\x00id\x00"),), b"x")]  # a marker in a header: no template


@pytest.mark.parametrize("plan", PLANS, ids=range(len(PLANS)))
def test_a_verbatim_answer_has_the_bytes_encode_makes(plan: Plan) -> None:
    """encode_verbatim reuses a template per plan; every version, method, keep-alive and request
    id gives what encode gives for the same headers (Date aside when the second turns)."""
    for version, method, keep_alive in itertools.product((HttpVersion10, HttpVersion11),
                                                          ("GET", "HEAD", "POST"), (True, False)):
        for request_id in ("first0000000000000001", "second"):
            headers = [*plan.headers, ("X-Request-Id", request_id), *plan.validators]
            made = encode_verbatim(plan, request_id, version, method, keep_alive)
            want = encode(version, plan.status, plan.reason, headers, plan.body, method, keep_alive)
            if made is not None and want is not None:
                undated = [(re.sub(rb"Date: [^\r]*", b"Date: -", data), alive)
                           for data, alive in (made, want)]
                assert undated[0] == undated[1], (version, method, keep_alive)
            else:
                assert made is want is None
    assert len(plan.encoded) == 8  # one template per version, HEAD or not, and keep-alive

