"""Codes with a natural trigger: the trigger works, with real clients and on the wire."""

from __future__ import annotations

import asyncio
import email.utils
import json
import socket
import time
from collections.abc import Iterator

import aiohttp
import httpx
import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from mockserver import MockServer
from tests.conftest import raw_exchange

SCENARIO = {
    "name": "triggers",
    "rules": [
        {"name": "doc", "match": {"method": ["GET", "PUT"], "path": "/doc"},
         "respond": {"headers": {"Cache-Control": "max-age=60"}, "body": "abcdefghijklmnopqrstuvwxyz"}},
        {"name": "upload", "match": {"method": "POST", "path": "/upload"},
         "max_body": {"size": 1000, "retry_after": "30s"}, "require_length": True,
         "content_types": ["application/json"], "respond": {"status": 201}},
        {"name": "guarded", "match": {"method": "POST", "path": "/guarded"},
         "expect": {"status": 401, "headers": {"WWW-Authenticate": 'Bearer realm="x"'}},
         "respond": {"status": 201}},
        {"name": "busy", "match": {"path": "/busy"},
         "respond": [{"status": 503, "retry_after": 1, "repeat": 2}, {"status": 200}]},
        {"name": "throttled-date", "match": {"path": "/date"},
         "respond": [{"status": 429, "retry_after": {"date": "2s"}}, {"status": 200}]},
        {"name": "too-big", "match": {"path": "/big"},
         "respond": [{"status": 413, "retry_after": 1}, {"status": 200}]},
        {"name": "rude", "match": {"path": "/rude"},
         "respond": {"status": 204, "body": "forbidden", "break_protocol": True}},
        {"name": "bare-100", "match": {"path": "/bare100"},
         "respond": {"status": 100, "break_protocol": True}},
        {"name": "ws", "match": {"path": "/ws"},
         "websocket": [{"send": "hello"}, {"receive": True}, {"send_json": {"bye": True}}, {"close": 1000}]},
    ],
}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(SCENARIO, max_uri=2000, max_header=1000, body_timeout=0.5, header_timeout=0.5) as s:
        yield s


@pytest.fixture(autouse=True)
def fresh(server: MockServer) -> None:
    server.reset()


def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def head_of(data: bytes) -> tuple[bytes, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (ln.decode().partition(":") for ln in lines[1:])}
    return lines[0], fields, body


def test_options_gets_204_with_allow(server: MockServer) -> None:
    data, _ = raw_exchange(server.port, b"OPTIONS /doc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    line, fields, body = head_of(data)
    assert line == b"HTTP/1.1 204 NoContent"
    assert fields["allow"] == "GET, HEAD, OPTIONS, PUT"
    assert "content-length" not in fields and body == b""


def test_wrong_method_gets_405_with_allow(server: MockServer) -> None:
    r = session().delete(server.url_for("/doc"))
    assert (r.status_code, r.reason) == (405, "MethodNotAllowed")
    assert r.headers["Allow"] == "GET, HEAD, OPTIONS, PUT"
    assert r.json()["error_code"] == "CSS.0405"


def test_etag_and_conditional_get(server: MockServer) -> None:
    s = session()
    first = s.get(server.url_for("/doc"))
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.headers["Accept-Ranges"] == "bytes"
    r = s.get(server.url_for("/doc"), headers={"If-None-Match": etag})
    assert (r.status_code, r.content) == (304, b"")
    assert r.headers["ETag"] == etag and r.headers["Cache-Control"] == "max-age=60"
    assert "Content-Type" not in r.headers
    assert s.get(server.url_for("/doc"), headers={"If-None-Match": '"other"'}).status_code == 200
    assert s.get(server.url_for("/doc"), headers={"If-Modified-Since": modified}).status_code == 304
    r = s.put(server.url_for("/doc"), headers={"If-Match": '"stale"'}, data=b"x")
    assert (r.status_code, r.reason) == (412, "Precondition Failed")
    assert s.put(server.url_for("/doc"), headers={"If-Match": etag}, data=b"x").status_code == 200
    assert s.put(server.url_for("/doc"), headers={"If-None-Match": "*"}, data=b"x").status_code == 412


def test_range_gives_206_or_416(server: MockServer) -> None:
    s = session()
    r = s.get(server.url_for("/doc"), headers={"Range": "bytes=0-9"})
    assert (r.status_code, r.content, r.headers["Content-Range"]) == (206, b"abcdefghij", "bytes 0-9/26")
    r = s.get(server.url_for("/doc"), headers={"Range": "bytes=-3"})
    assert (r.status_code, r.content) == (206, b"xyz")
    r = s.get(server.url_for("/doc"), headers={"Range": "bytes=500-"})
    assert (r.status_code, r.reason, r.headers["Content-Range"]) == (416, "Requested range not satisfiable",
                                                                      "bytes */26")
    r = s.get(server.url_for("/doc"), headers={"Range": "bytes=0-1", "If-Range": '"old"'})
    assert r.status_code == 200 and len(r.content) == 26


def test_413_before_the_body_is_read_then_closed(server: MockServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=3)
    try:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 5000000\r\n\r\n")  # and not one byte of the body
        data = b""
        started = time.monotonic()
        while chunk := sock.recv(65536):
            data += chunk
        line, fields, _ = head_of(data)
        assert line == b"HTTP/1.1 413 Request Entity Too Large"
        assert fields["retry-after"] == "30" and fields["connection"] == "close"
        assert time.monotonic() - started < 2  # closed at once, no lingering read
    finally:
        sock.close()


def test_411_and_415(server: MockServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"a": 1}'

    json_type = {"Content-Type": "application/json"}
    r = session().post(server.url_for("/upload"), data=chunks(), headers=json_type)
    assert (r.status_code, r.reason) == (411, "Length Required")
    r = session().post(server.url_for("/upload"), data=b"<x/>", headers={"Content-Type": "application/xml"})
    assert (r.status_code, r.headers["Accept"]) == (415, "application/json")
    assert session().post(server.url_for("/upload"), json={"a": 1}).status_code == 201


def test_expect_100_continue_refused_before_the_body(server: MockServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=3)
    try:
        sock.sendall(b"POST /guarded HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        line, fields, _ = head_of(data)
        assert line == b"HTTP/1.1 401 Unauthorized" and fields["www-authenticate"] == 'Bearer realm="x"'
    finally:
        sock.close()


async def test_aiohttp_client_with_expect100(server: MockServer) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as client:
        async with client.post(server.url_for("/upload"), json={"a": 1}, expect100=True) as resp:
            assert resp.status == 201
        async with client.post(server.url_for("/guarded"), data=b"x", expect100=True) as resp:
            assert resp.status == 401


def test_417_for_other_expectations(server: MockServer) -> None:
    data, _ = raw_exchange(server.port, b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                        b"Expect: something-else\r\n\r\n")
    line, _, body = head_of(data)
    assert line == b"HTTP/1.1 417 Expectation Failed" and b'"CSS.0417"' in body


@pytest.mark.parametrize(
    ("request_bytes", "status_line"),
    [
        (b"GET /" + b"a" * 2100 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 414 Request-URI Too Large"),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 414 Request-URI Too Large"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n",
         b"HTTP/1.1 431 Request Header Fields Too Large"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(150)) + b"\r\n",
         b"HTTP/1.1 431 Request Header Fields Too Large"),
        (b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 501 Not Implemented"),
        (b"get /doc HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 501 Not Implemented"),
        (b"GET /doc HTTP/2.0\r\nHost: x\r\n\r\n", b"HTTP/1.1 505 HTTP Version not supported"),
        (b"GET /doc HTTP/3.0\r\nHost: x\r\n\r\n", b"HTTP/1.1 505 HTTP Version not supported"),
        (b"GET /doc HTTP/0.9\r\nHost: x\r\n\r\n", b"HTTP/1.1 505 HTTP Version not supported"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"HTTP/1.1 505 HTTP Version not supported"),
        (b"GET /doc HTTP/1.1\r\n\r\n", b"HTTP/1.1 400 BadRequest"),
        (b"G(E)T /doc HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 400 BadRequest"),
        (b"\x8fGET /doc HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 400 BadRequest"),
        (b"GET /doc HTTP/1.1 extra\r\nHost: x\r\n\r\n", b"HTTP/1.1 400 BadRequest"),
    ],
    ids=["414", "414-parser", "431-long", "431-many", "501", "501-lower", "505-h2", "505-h3", "505-h09",
         "505-pri", "400-no-host", "400-method-not-a-token", "400-method-byte-8f", "400-four-parts"],
)
def test_parser_level_errors_get_the_faithful_status(server: MockServer, request_bytes: bytes,
                                                     status_line: bytes) -> None:
    """aiohttp's parser answers these with HTTP/1.0 400; we answer what the RFCs say, as HTTP/1.1.
    This pins the private aiohttp hooks (handle_error, request._cache) against upgrades."""
    data, end = raw_exchange(server.port, request_bytes)
    line, fields, body = head_of(data)
    assert line == status_line
    assert fields["connection"] == "close" and end == "FIN"
    assert b'"error_code": "CSS.0' in body


@pytest.mark.parametrize(
    ("request_bytes", "error_msg"),
    [
        (b"G(E)T /doc HTTP/1.1\r\nHost: x\r\n\r\n",
         "The request line is malformed: the method 'G(E)T' is not a token "
         "(RFC 9110 9.1: letters, digits and !#$%&'*+-.^_`|~)."),
        (b"\x8f /doc HTTP/1.1\r\nHost: x\r\n\r\n",
         "The request line is malformed: the method '\\x8f' is not a token "
         "(RFC 9110 9.1: letters, digits and !#$%&'*+-.^_`|~)."),
        (b"GET /doc HTTP/1.1 extra\r\nHost: x\r\n\r\n",
         "The request line is malformed: expected 'method SP target SP HTTP/x.y'."),
        (b"GET /doc HTTP/1.x\r\nHost: x\r\n\r\n",
         "The request line is malformed: the version 'HTTP/1.x' is not HTTP/x.y."),
        (b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", "The method 'BREW' is not implemented here."),
        (b"get /doc HTTP/1.1\r\nHost: x\r\n\r\n", "The method 'get' is not implemented here."),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
         "TLS traffic reached the plain-HTTP port; use http://, or serve with --tls."),
    ],
    ids=["method-parens", "method-8f", "four-parts", "bad-version", "brew", "lower", "tls"],
)
def test_parser_error_bodies_say_what_was_wrong(server: MockServer, request_bytes: bytes,
                                                error_msg: str) -> None:
    """The same words from aiohttp's C (llhttp) and pure-Python parsers: decided from the bytes
    and the exception type, not from the parser's message."""
    data, _ = raw_exchange(server.port, request_bytes)
    body = json.loads(head_of(data)[2])
    assert body["error_msg"] == error_msg


@pytest.mark.parametrize("request_bytes", [
    b"GET /doc HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
    b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nab\r\n0\r\n\r\n",
    b"GET /doc HTTP/1.1\r\n\r\n",
])
def test_other_400s_name_the_parser_reason(server: MockServer, request_bytes: bytes) -> None:
    data, _ = raw_exchange(server.port, request_bytes)
    line, _, raw = head_of(data)
    body = json.loads(raw)
    assert line == b"HTTP/1.1 400 BadRequest" and body["error_code"] == "CSS.0400"
    assert body["error_msg"].startswith("The request could not be parsed: ")
    reason = body["error_msg"].removeprefix("The request could not be parsed: ")
    assert len(reason) > 5 and "message:" not in reason


def test_408_when_the_body_stalls(server: MockServer) -> None:
    started = time.monotonic()
    stalled = (b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 10\r\n\r\n{\"a\"")
    data, end = raw_exchange(server.port, stalled, timeout=5)
    line, fields, _ = head_of(data)
    assert line == b"HTTP/1.1 408 Request Time-out" and fields["connection"] == "close"
    assert end == "FIN" and time.monotonic() - started < 3


def test_408_when_the_headers_stall(server: MockServer) -> None:
    """A slowloris client that never finishes its headers gets 408, then the close."""
    started = time.monotonic()
    data, end = raw_exchange(server.port, b"GET /doc HTTP/1.1\r\nHost: x\r\nX-Slow: ", timeout=5)
    line, fields, body = head_of(data)
    assert line == b"HTTP/1.1 408 Request Time-out" and fields["connection"] == "close"
    assert b'"CSS.0408"' in body and end == "FIN"
    assert 0.4 <= time.monotonic() - started < 3


def test_keep_alive_requests_are_not_timed_out(server: MockServer) -> None:
    """The header timer only runs while headers are incomplete, not between requests."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=3)
    try:
        for _ in range(2):
            sock.sendall(b"GET /doc HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
            time.sleep(0.7)  # idle longer than header_timeout between requests
    finally:
        sock.close()


def test_retry_after_seconds_and_date_are_honoured_by_urllib3(server: MockServer) -> None:
    s = session()
    s.mount("http://", HTTPAdapter(max_retries=Retry(total=3, backoff_factor=0)))
    started = time.monotonic()
    assert s.get(server.url_for("/busy")).status_code == 200  # 503, 503 with Retry-After: 1, then 200
    assert time.monotonic() - started >= 1.9
    r = session().get(server.url_for("/date"))
    assert r.status_code == 429
    when = email.utils.parsedate_to_datetime(r.headers["Retry-After"]).timestamp()
    assert 0 < when - time.time() <= 2.5
    started = time.monotonic()
    assert s.get(server.url_for("/big")).status_code == 200  # 413 + Retry-After is retried too
    assert time.monotonic() - started >= 0.9


def test_break_protocol_sends_what_http_forbids(server: MockServer) -> None:
    data, end = raw_exchange(server.port, b"GET /rude HTTP/1.1\r\nHost: x\r\n\r\n")
    line, fields, body = head_of(data)
    assert (line, fields["content-length"]) == (b"HTTP/1.1 204 NoContent", "9")
    assert (body, end) == (b"forbidden", "FIN")
    data, end = raw_exchange(server.port, b"GET /bare100 HTTP/1.1\r\nHost: x\r\n\r\n", timeout=0.5)
    assert data.startswith(b"HTTP/1.1 100 Continue\r\n") and end == "open"  # no final answer follows
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(server.url_for("/bare100"), timeout=httpx.Timeout(5, read=0.3))


def test_head_gets_no_body(server: MockServer) -> None:
    r = httpx.head(server.url_for("/doc"))
    assert r.status_code == 200 and r.content == b"" and r.headers["Content-Length"] == "26"


async def test_websocket_scripted_exchange(server: MockServer) -> None:
    async with aiohttp.ClientSession() as client, client.ws_connect(server.url_for("/ws")) as ws:
        assert (await ws.receive_str(timeout=5)) == "hello"
        await ws.send_str("hi")
        assert (await ws.receive_json(timeout=5)) == {"bye": True}
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
    entry = server.journal.entries()[-1]
    assert entry.status == 101 and "websocket received TEXT: 'hi'" in entry.decisions


class _Wire(asyncio.Transport):
    """A transport that keeps what is written: two reads can be handed to the connection back
    to back, before its handler task runs, as uvloop often does with a head over 64 kB."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = bytearray()
        self.closed = asyncio.Event()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.sent += data

    def is_closing(self) -> bool:
        return self.closed.is_set()

    def close(self) -> None:
        self.closed.set()

    def abort(self) -> None:
        self.closed.set()

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


async def test_the_rest_of_a_refused_head_does_not_change_its_answer() -> None:
    """The parser refuses the first read of a 70 kB request line; the second read (its tail) must not
    be parsed as another head, or the answer explains that tail (400, not 414). Seen on uvloop."""
    from mockserver.wire.connection import faithful_runner

    async def handle(request: object) -> aiohttp.web.Response:
        return aiohttp.web.Response()

    runner = faithful_runner(handle, max_body_size=1024, max_line_size=2048 + 64)  # type: ignore[arg-type]
    await runner.setup()
    try:
        assert runner.server is not None
        connection = runner.server()
        wire = _Wire()
        connection.connection_made(wire)
        line = b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        connection.data_received(line[:8000])  # over the limit already: refused
        connection.data_received(line[8000:])
        await asyncio.wait_for(wire.closed.wait(), 5)
        assert bytes(wire.sent).startswith(b"HTTP/1.1 414 Request-URI Too Large\r\n"), bytes(wire.sent[:200])
        connection.connection_lost(None)
    finally:
        await runner.cleanup()
