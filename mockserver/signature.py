"""Huawei Cloud ``SDK-HMAC-SHA256`` request signatures, checked the way the SDK computes them.

The algorithm is the SDK's ``signer.Signer.sign`` (see the research notes, real-clients.md 1.5):
a canonical request of method, path with a trailing slash, sorted query, the signed headers and
the body's SHA-256; then HMAC-SHA256 with the secret key over the date and its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, unquote

from .request import RequestSnapshot

__all__ = ["SignatureMatcher", "expand_env", "verify_sdk_hmac_sha256"]

_AUTH = re.compile(
    r"SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(text: str, env: Mapping[str, str] | None = None) -> str | None:
    """``${NAME}`` references replaced from the environment; None when one is unset or empty."""
    env = os.environ if env is None else env
    missing = False

    def one(m: re.Match[str]) -> str:
        nonlocal missing
        value = env.get(m.group(1), "")
        missing = missing or not value
        return value

    out = _ENV.sub(one, text)
    return None if missing else out


def verify_sdk_hmac_sha256(method: str, path: str, query_string: str, headers: Mapping[str, str],
                           body: bytes, credentials: Mapping[str, str]) -> str | None:
    """None when the request is correctly signed by a known access key, else why not."""
    authorization = headers.get("Authorization", "")
    m = _AUTH.fullmatch(authorization.strip())
    if m is None:
        return "missing" if not authorization else "not an SDK-HMAC-SHA256 Authorization header"
    access, signed, signature = m.groups()
    secret = credentials.get(access)
    if secret is None:
        return f"unknown access key {access!r}"
    date = headers.get("X-Sdk-Date")
    if date is None:
        return "no X-Sdk-Date header"
    names = signed.split(";")
    uri = "/".join(quote(seg, safe="~") for seg in unquote(path).split("/"))
    uri = uri if uri.endswith("/") else uri + "/"
    query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}"
                     for k, v in sorted(parse_qsl(query_string, keep_blank_values=True)))
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in names)
    canonical = "\n".join([method.upper(), uri, query, canonical_headers, signed,
                           hashlib.sha256(body).hexdigest()])
    to_sign = f"SDK-HMAC-SHA256\n{date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(expected, signature) else "signature does not match"


class SignatureMatcher:
    """Matches correctly signed requests (valid=True) or missing/wrong signatures (valid=False).

    With no credentials configured the check is off: valid=True matches everything and
    valid=False nothing, so a pack can ship the 401 rule and enable it by environment.
    """

    __slots__ = ("credentials", "valid")

    def __init__(self, credentials: Mapping[str, str], valid: bool) -> None:
        self.credentials = dict(credentials)
        self.valid = valid

    def problem(self, request: RequestSnapshot) -> str | None:
        """Why the request does not match, or None when it does."""
        if not self.credentials:
            return None if self.valid else "signature: check is off (no credentials configured)"
        why = verify_sdk_hmac_sha256(request.method, request.path, request.raw_path.partition("?")[2],
                                     request.headers, request.body, self.credentials)
        if self.valid:
            return None if why is None else f"signature: expected a valid SDK-HMAC-SHA256 signature, {why}"
        return "signature: expected a missing or wrong signature, it is valid" if why is None else None
