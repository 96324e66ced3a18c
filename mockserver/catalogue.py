"""The status-code catalogue: the CSS API's 42 codes, their reason phrases and what they mean.

Every answer with status N gets the catalogue's reason phrase for N (sent verbatim, so
``HTTP/1.1 504 ServerTimeout``), and for N >= 400 a Huawei-style JSON error body, unless the rule
says otherwise. The table is ``../shared/seed/status-codes.md``, transcribed; a test checks it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus

__all__ = ["CATALOGUE", "Code", "error_body", "error_code", "reason_phrase"]


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
