"""The status-code catalogue: the CSS API's 42 codes, their reason phrases and what they mean.

Every answer with status N gets the catalogue's reason phrase for N (sent verbatim, so
``HTTP/1.1 504 ServerTimeout``), and for N >= 400 a Huawei-style JSON error body, unless the rule
says otherwise. The table is ``../shared/seed/status-codes.md``, transcribed; a test checks it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus

__all__ = [
    "CATALOGUE",
    "NO_BODY",
    "REQUIRED_HEADERS",
    "TRIGGERS",
    "Code",
    "error_body",
    "error_code",
    "reason_phrase",
    "required_headers",
    "status_codes_markdown",
]


@dataclass(frozen=True, slots=True)
class Code:
    """One catalogue entry: the status, the API's own reason phrase and its description."""

    status: int
    phrase: str
    description: str

    @property
    def summary(self) -> str:
        """The description's first sentence, used as the default error_msg."""
        return self.description.split(". ")[0].rstrip(".") + "."


CODES: tuple[Code, ...] = (
    Code(100, 'Continue',
         'The client should continue sending the request. This interim response is used to inform '
         'the client that the initial part of the request has been received and has not yet been '
         'rejected by the server.'),
    Code(101, 'Switching Protocols',
         'Switching protocols. The target protocol must be later than the source protocol. For '
         'example, the current HTTPS protocol is switched to a later version.'),
    Code(200, 'OK',
         'The request is processed successfully.'),
    Code(201, 'Created',
         'The request for creating a resource has been fulfilled.'),
    Code(202, 'Accepted',
         'The request has been accepted, but the processing has not been completed.'),
    Code(203, 'Non-Authoritative Information',
         'Unauthorized information. The request is successful.'),
    Code(204, 'NoContent',
         'The server has successfully processed the request, but has not returned any content. The'
         ' status code is returned in response to an HTTPS OPTIONS request.'),
    Code(205, 'Reset Content',
         'The server has fulfilled the request, but the requester is required to reset the '
         'content.'),
    Code(206, 'Partial Content',
         'The server has successfully processed a part of the GET request.'),
    Code(300, 'Multiple Choices',
         'There are multiple options for the location of the requested resource. The response '
         'contains a list of resource characteristics and addresses from which the user or user '
         'agent (such as a browser) can choose the most appropriate one.'),
    Code(301, 'Moved Permanently',
         'The requested resource has been assigned a new permanent URI, and the new URI is '
         'contained in the response.'),
    Code(302, 'Found',
         'The requested resource was temporarily moved.'),
    Code(303, 'See Other',
         'Retrieve a location. The response to the request can be found under a different URI, and'
         ' should be retrieved using a GET or POST method.'),
    Code(304, 'Not Modified',
         'The requested resource has not been modified. In such case, there is no need to '
         'retransmit the resource since the client still has a previously-downloaded copy.'),
    Code(305, 'Use Proxy',
         'The requested resource must be accessed through a proxy.'),
    Code(306, 'Unused',
         'The HTTPS status code is no longer used.'),
    Code(400, 'BadRequest',
         'Invalid request. The client should not repeat the request without modifications.'),
    Code(401, 'Unauthorized',
         'The status code is returned after the client provides the authentication information, '
         'indicating that the authentication information provided by the client is incorrect or '
         'invalid.'),
    Code(402, 'Payment Required',
         'Reserved for future use.'),
    Code(403, 'Forbidden',
         'The request has been rejected. The server has received and understood the request; yet '
         'it refused to respond, because the request is set to deny access. Do not retry the '
         'request before modification.'),
    Code(404, 'NotFound',
         'The requested resource cannot be found. The client should not repeat the request without'
         ' modifications.'),
    Code(405, 'MethodNotAllowed',
         'The method specified in the request is not supported for the requested resource. The '
         'client should not repeat the request without modifications.'),
    Code(406, 'Not Acceptable',
         'The server cannot fulfill the request according to the content characteristics of the '
         'request.'),
    Code(407, 'Proxy Authentication Required',
         'This status code is similar to 401, but indicates that the client must first '
         'authenticate itself with the proxy.'),
    Code(408, 'Request Time-out',
         'The request timed out. The client may repeat the request without modifications at any '
         'time later.'),
    Code(409, 'Conflict',
         'The request could not be processed due to a conflict. This status code indicates that '
         'the resource that the client attempts to create already exits, or the request fails to '
         'be processed because of the update of the conflict request.'),
    Code(410, 'Gone',
         'The requested resource is no longer available. The status code indicates that the '
         'requested resource has been deleted.'),
    Code(411, 'Length Required',
         'The server refuses to process the request without a defined Content-Length .'),
    Code(412, 'Precondition Failed',
         'The server does not meet one of the preconditions that the requester puts on the '
         'request.'),
    Code(413, 'Request Entity Too Large',
         'The server is refusing to process a request because the request entity is too large for '
         'the server to process. The server may disable the connection to prevent the client from '
         'sending requests consecutively. If the server is only temporarily unable to process the '
         'request, the response will contain a Retry-After header field.'),
    Code(414, 'Request-URI Too Large',
         'The URI provided was too long for the server to process.'),
    Code(415, 'Unsupported Media Type',
         'The server does not support the media type in the request.'),
    Code(416, 'Requested range not satisfiable',
         'The requested range is invalid.'),
    Code(417, 'Expectation Failed',
         'The server fails to meet the requirements of the Expect request-header field.'),
    Code(422, 'UnprocessableEntity',
         'The request is well-formed but is unable to be processed due to semantic errors.'),
    Code(429, 'TooManyRequests',
         'The client has sent more requests than its rate limit is allowed within a given amount '
         'of time, or the server has received more requests than it is able to process within a '
         'given amount of time. In this case, the client should resend the request after the time '
         'specified in the Retry-After header of the response has elapsed.'),
    Code(500, 'InternalServerError',
         'The server is able to receive but unable to understand the request.'),
    Code(501, 'Not Implemented',
         'The server does not support the requested function.'),
    Code(502, 'Bad Gateway',
         'The server is acting as a gateway or proxy and receives an invalid request from a remote'
         ' server.'),
    Code(503, 'ServiceUnavailable',
         'The requested service is invalid. The client should not repeat the request without '
         'modifications.'),
    Code(504, 'ServerTimeout',
         'The request cannot be fulfilled within a given time. This status code is returned to the'
         ' client only when the Timeout parameter is specified in the request.'),
    Code(505, 'HTTP Version not supported',
         'The server does not support the HTTPS protocol version used in the request.'),
)

CATALOGUE: dict[int, Code] = {code.status: code for code in CODES}


def reason_phrase(status: int) -> str:
    """The catalogue's phrase, else Python's, else a class-generic one (never empty)."""
    code = CATALOGUE.get(status)
    if code is not None:
        return code.phrase
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return {1: "Informational", 2: "Success", 3: "Redirection", 4: "Client Error"}.get(
            status // 100, "Server Error")


def error_code(status: int) -> str:
    """The Huawei-style error_code the mock uses for a status it answers on its own."""
    return f"CSS.{status:04d}"


def error_body(status: int, message: str | None = None) -> bytes:
    """``{"error_code": ..., "error_msg": ...}``, the body the Huawei SDK parses into exceptions."""
    code = CATALOGUE.get(status)
    msg = message or (code.summary if code is not None else reason_phrase(status))
    return json.dumps({"error_code": error_code(status), "error_msg": msg}).encode()


# Statuses whose answers carry no content (RFC 9110 15.2, 15.3.5, 15.3.6, 15.4.5).
NO_BODY = frozenset({100, 101, 102, 103, 204, 205, 304})

# What a code requires (MUST) or what clients rely on (SHOULD), added unless the rule sets it.
# Dynamic ones are added by the server where the request is known: Allow (405, OPTIONS 204),
# Content-Range (206, 416), ETag/Last-Modified (200, 304), Upgrade (101, 426).
REQUIRED_HEADERS: dict[int, tuple[tuple[str, str], ...]] = {
    300: (("Location", "/"),),
    301: (("Location", "/"),),
    302: (("Location", "/"),),
    303: (("Location", "/"),),
    305: (("Location", "http://127.0.0.1:3128/"),),
    307: (("Location", "/"),),
    308: (("Location", "/"),),
    401: (("WWW-Authenticate", 'SDK-HMAC-SHA256 realm="mockserver"'),),
    407: (("Proxy-Authenticate", 'Basic realm="mockserver"'),),
    408: (("Connection", "close"),),
    413: (("Connection", "close"),),
    416: (("Content-Range", "bytes */0"),),
    426: (("Upgrade", "websocket"), ("Connection", "Upgrade")),
}

# What naturally produces each code in mockserver (the docs' "trigger" column).
TRIGGERS: dict[int, str] = {
    100: "`Expect: 100-continue` on HTTP/1.1: interim `100 Continue` before the body is read",
    101: "a WebSocket upgrade on a rule with `websocket:` (a scripted exchange follows)",
    200: "the default answer",
    204: "OPTIONS on any path that rules serve (with `Allow`)",
    206: "`Range: bytes=a-b` on a 200 answer with a body (`Content-Range`)",
    304: "`If-None-Match` matching the 200's `ETag`, or `If-Modified-Since` not older than it",
    400: "a request the HTTP parser rejects (bad framing, missing Host, bad chunk)",
    404: "no rule matches (the body names the nearest rules)",
    405: "a path that rules serve, with a method none of them accepts (`Allow` lists the methods)",
    408: "the request body stalls past `--body-timeout`; then the connection is closed",
    411: "a chunked body (no Content-Length) on a rule with `require_length: true`",
    412: "`If-Match` that fails, or `If-None-Match` that matches on an unsafe method",
    413: "Content-Length above `--max-body` or a rule's `max_body`, before the body is read",
    414: "a request target longer than `--max-uri` (default 8190 octets)",
    415: "a Content-Type outside a rule's `content_types` (`Accept` names what is accepted)",
    416: "an unsatisfiable `Range` (`Content-Range: bytes */length`)",
    417: "an `Expect` other than 100-continue, or a rule's `expect:` refusal",
    429: "an empty `rate_limit` bucket (`Retry-After` from the refill time)",
    431: "a header line longer than `--max-header` or more than 100 headers",
    501: "a method the parser does not know (`BREW`, lower-case `get`)",
    503: "a full `concurrency` cap, or an outage phase of a `timeline`",
    504: "a request whose `Timeout` passes before the planned answer is due",
    505: "a request line with HTTP/2.0, HTTP/3.0, HTTP/0.9 or the h2 preface (answered as HTTP/1.1)",
}


def required_headers(status: int) -> tuple[tuple[str, str], ...]:
    return REQUIRED_HEADERS.get(status, ())


def status_codes_markdown() -> str:
    """docs/status-codes.md, generated from this table (a test keeps the file in step)."""
    lines = [
        "# Status codes",
        "",
        "Generated from `mockserver/catalogue.py` by `python -m mockserver.catalogue`; a test checks",
        "that this file matches. Every answer with a status below gets its reason phrase verbatim,",
        "the headers listed, and for 4xx/5xx a Huawei-style body",
        '`{"error_code": "CSS.0NNN", "error_msg": "..."}`, unless the rule says otherwise. Every',
        "answer carries `X-Request-Id`.",
        "",
        "| code | reason phrase | natural trigger | headers added | body |",
        "|---|---|---|---|---|",
    ]
    for code in CODES:
        headers = ", ".join(f"`{name}: {value}`" for name, value in required_headers(code.status))
        dynamic = {101: "`Upgrade`, `Connection`", 204: "`Allow` (OPTIONS)", 206: "`Content-Range`",
                   200: "`ETag`, `Last-Modified`, `Accept-Ranges`", 304: "`ETag`, `Last-Modified`",
                   405: "`Allow`", 416: "`Content-Range: bytes */len`", 415: "`Accept`"}.get(code.status)
        headers = ", ".join(x for x in (headers, dynamic) if x) or "-"
        body = ("none" if code.status in NO_BODY
                else "error JSON" if code.status >= 400 else "as the rule says")
        trigger = TRIGGERS.get(code.status, "a rule's `status:`")
        lines.append(f"| {code.status} | {code.phrase} | {trigger} | {headers} | {body} |")
    lines += [
        "",
        "Codes outside the table can be chosen by a rule too; they get Python's phrase (or a",
        "class-generic one) and, from 400 up, the error body. 431 is produced by the parser limits.",
        "A rule that wants to break the protocol says so with `break_protocol: true` (a body on a",
        "204, a bare 1xx as the final answer); otherwise the catalogue never sends a malformed",
        "answer.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(status_codes_markdown(), end="")
