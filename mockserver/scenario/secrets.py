"""Warnings for scenario files that look like they hold a secret, so CI can refuse them.

Recordings are redacted, but a hand edit or an import can bring a credential back; this looks for
what credentials look like (a literal Authorization, a bearer token, an AK/SK pair, a long random
token) and says where. Placeholders (``<redacted:...>``), templates and ``${ENV}`` references pass.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

__all__ = ["find_secrets"]

PathKey = tuple[str | int, ...]
_BEARER = re.compile(r"\b(Bearer|Basic|Token)\s+([A-Za-z0-9._~+/=-]{8,})", re.I)
_TOKEN = re.compile(r"[A-Za-z0-9+/_.-]{20,}={0,2}")
_AK = re.compile(r"[A-Z0-9]{20}")
_SK = re.compile(r"[A-Za-z0-9]{40}")
_SAFE = re.compile(r"<redacted:[^>]*>|\{\{.*?\}\}|\$\{[^}]*\}", re.S)
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-auth-token", "x-api-key",
                                 "x-security-token", "x-subject-token", "cookie", "api-key"})
MIN_ENTROPY = 4.3
"""Bits per character above which a 20+ character token looks random (hex ids and UUIDs stay below)."""


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_random(token: str) -> bool:
    classes = sum(bool(re.search(p, token)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    return classes == 3 and _entropy(token) >= MIN_ENTROPY


def _walk(node: Any, path: PathKey) -> Iterator[tuple[PathKey, Any, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key), key, value
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*path, index), index, value
            yield from _walk(value, (*path, index))


def find_secrets(data: Any) -> list[tuple[PathKey, str]]:
    """(where, what it looks like) for each value of the scenario that looks like a credential."""
    found: list[tuple[PathKey, str]] = []
    pairs: set[PathKey] = set()
    for path, _, value in [((), None, data), *_walk(data, ())]:
        # an access key next to a secret key (two fields of one mapping): Huawei's AK/SK shape
        if isinstance(value, dict):
            strings = [(k, v) for k, v in value.items() if isinstance(v, str)]
            ak = next((k for k, v in strings if _AK.fullmatch(v)), None)
            sk = next((k for k, v in strings if _SK.fullmatch(v) and _looks_random(v)), None)
            if ak is not None and sk is not None:
                found.append(((*path, ak), f"an AK/SK pair ({ak} and {sk}); expected <redacted:...> "
                                           "placeholders or ${ENV} references"))
                pairs.update({(*path, ak), (*path, sk)})
    for path, key, value in _walk(data, ()):
        if path in pairs:
            continue
        if isinstance(key, str) and key == "credentials" and isinstance(value, dict):
            for ak, sk in value.items():
                if not _SAFE.fullmatch(str(ak)) or not _SAFE.fullmatch(str(sk)):
                    found.append(((*path, str(ak)), "an access key / secret key pair written out; "
                                  "expected ${ENV} references (credentials: {\"${AK}\": \"${SK}\"})"))
            continue
        if not isinstance(value, str) or "credentials" in path:
            continue
        text = _SAFE.sub("", value)
        if isinstance(key, str) and key.lower() in _CREDENTIAL_HEADERS and text.strip() \
                and "headers" in path:
            found.append((path, f"a literal {key} header value; expected a <redacted:...> placeholder, "
                                "a template or a match that does not name the credential"))
            continue
        bearer = _BEARER.search(text)
        if bearer:
            found.append((path, f"a {bearer.group(1)} credential ({bearer.group(1)} "
                                f"{bearer.group(2)[:4]}...); expected a <redacted:...> placeholder"))
            continue
        tokens = _TOKEN.findall(text)
        aks = [t for t in tokens if _AK.fullmatch(t)]
        sks = [t for t in tokens if _SK.fullmatch(t) and _looks_random(t)]
        if aks and sks:
            found.append((path, f"what looks like an AK/SK pair ({aks[0][:4]}... and "
                                f"{sks[0][:4]}...); expected <redacted:...> placeholders"))
            continue
        for token in tokens:
            if _looks_random(token):
                found.append((path, f"a high-entropy token ({token[:4]}..., {len(token)} characters); "
                                    "expected a <redacted:...> placeholder, or quiet: [secrets] if it "
                                    "is not a secret"))
                break
    order = {path: index for index, (path, _, _) in enumerate(_walk(data, ()))}
    return sorted(found, key=lambda item: order.get(item[0], -1))  # in file order
