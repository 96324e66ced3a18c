"""Importing WireMock mapping folders (``mappings/*.json`` and ``__files/``) through the recorder.

A mapping becomes a rule of the same format (and is redacted by the same recorder). What has no
counterpart here gives a warning naming the mapping file and the field, and is left out.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from .build import Recorder
from .har import ImportRefused

__all__ = ["import_wiremock"]

FAULTS = {"CONNECTION_RESET_BY_PEER": "reset", "EMPTY_RESPONSE": "close",
          "MALFORMED_RESPONSE_CHUNK": "malformed_chunk", "RANDOM_DATA_THEN_CLOSE": "garbage"}
INITIAL = "Started"  # WireMock's first state; ours is "started"


def import_wiremock(folder: str | Path, recorder: Recorder) -> int:
    """Add every mapping under *folder* (``mappings/`` or the folder itself) to *recorder*."""
    root = Path(folder)
    mappings = root / "mappings" if (root / "mappings").is_dir() else root
    files_root = root / "__files"
    paths = sorted(mappings.glob("*.json"))
    if not paths:
        raise ImportRefused(f"{folder}: found no mappings/*.json; expected a WireMock mappings folder")
    count = 0
    for path in paths:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ImportRefused(f"{path}: not a JSON mapping ({exc})") from None
        items = doc.get("mappings", [doc]) if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise ImportRefused(f"{path}: found {type(doc).__name__}; expected a mapping object")
        for index, mapping in enumerate(items):
            where = str(path) if "mappings" not in doc else f"{path} mappings[{index}]"
            try:
                converted = _Mapping(where, files_root, recorder.warnings).rule(mapping)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                raise ImportRefused(f"{where}: a field of the wrong kind ({type(exc).__name__}: {exc}); "
                                    "expected a mapping as WireMock writes it") from None
            if converted is not None:
                rule, files = converted
                recorder.add_rule(rule, f"WireMock {where}", files)
                count += 1
    return count


class _Mapping:
    def __init__(self, where: str, files_root: Path, warnings: list[str]) -> None:
        self.where = where
        self.files_root = files_root
        self.warnings = warnings

    def warn(self, field: str, message: str) -> None:
        self.warnings.append(f"{self.where}: {field}: {message}; left out")

    def rule(self, mapping: Any) -> tuple[dict[str, Any], dict[str, bytes]] | None:
        if not isinstance(mapping, dict) or not isinstance(mapping.get("request"), dict):
            self.warn("request", "found no request object; the mapping is skipped")
            return None
        request, response = mapping["request"], mapping.get("response") or {}
        rule: dict[str, Any] = {}
        if mapping.get("name"):
            rule["name"] = str(mapping["name"])
        if isinstance(mapping.get("priority"), int):
            rule["priority"] = -mapping["priority"]  # WireMock: 1 is the highest; here higher wins
        rule["match"] = self.match(request)
        files: dict[str, bytes] = {}
        plan, fault = self.plan(response, files)
        rule["respond"] = plan
        if fault is not None:
            rule["fault"] = fault
        if mapping.get("scenarioName"):
            rule["state"] = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(mapping["scenarioName"]))
            required = mapping.get("requiredScenarioState")
            if required:
                rule["requires_state"] = "started" if required == INITIAL else str(required)
            if mapping.get("newScenarioState"):
                new = str(mapping["newScenarioState"])
                rule["sets_state"] = "started" if new == INITIAL else new
        for key in mapping:
            if key not in ("request", "response", "name", "priority", "scenarioName", "id", "uuid",
                           "requiredScenarioState", "newScenarioState", "persistent", "metadata"):
                self.warn(key, "no counterpart in mockserver scenarios")
        return rule, files

    def match(self, request: dict[str, Any]) -> dict[str, Any]:
        match: dict[str, Any] = {}
        method = request.get("method", "ANY")
        if method != "ANY":
            match["method"] = str(method)
        if "url" in request:
            path, _, query = str(request["url"]).partition("?")
            match["path"] = _literal_path(path)
            if query:
                from urllib.parse import parse_qsl

                match["query"] = dict(parse_qsl(query, keep_blank_values=True))
        elif "urlPath" in request:
            match["path"] = _literal_path(str(request["urlPath"]))
        elif "urlPathPattern" in request:
            match["path"] = {"regex": str(request["urlPathPattern"])}
        elif "urlPattern" in request:
            match["path"] = {"regex": str(request["urlPattern"]).split("\\?")[0]}
            self.warn("request.urlPattern", "only the path part is matched (a regex over the query "
                      "has no counterpart; use queryParameters)")
        query = match.get("query", {})
        for name, test in (request.get("queryParameters") or {}).items():
            value = self.value(test, f"request.queryParameters.{name}")
            if value is not None:
                query[name] = value
        if query:
            match["query"] = query
        headers = {}
        for name, test in (request.get("headers") or {}).items():
            value = self.value(test, f"request.headers.{name}")
            if value is not None:
                headers[name] = value
        if headers:
            match["headers"] = headers
        for index, pattern in enumerate(request.get("bodyPatterns") or []):
            if isinstance(pattern, dict) and "equalToJson" in pattern:
                doc = pattern["equalToJson"]
                if isinstance(doc, str):
                    doc = json.loads(doc)
                match["json"] = {"subset": doc}
            else:
                self.warn(f"request.bodyPatterns[{index}]", "only equalToJson maps (as a JSON subset)")
        for key in request:
            if key not in ("method", "url", "urlPath", "urlPathPattern", "urlPattern", "queryParameters",
                           "headers", "bodyPatterns"):
                self.warn(f"request.{key}", "no counterpart in mockserver matching")
        return match

    def value(self, test: Any, field: str) -> Any:
        if not isinstance(test, dict):
            self.warn(field, f"found {test!r:.40}; expected a WireMock matcher object")
            return None
        for ours, theirs in (("equals", "equalTo"), ("regex", "matches"), ("contains", "contains")):
            if theirs in test:
                return test[theirs] if ours == "equals" else {ours: test[theirs]}
        if test.get("absent") is True:
            return {"present": False}
        self.warn(field, f"matcher {', '.join(test)} has no counterpart (equalTo, matches, contains, "
                         "absent map)")
        return None

    def plan(self, response: dict[str, Any], files: dict[str, bytes]) -> tuple[dict[str, Any], Any]:
        plan: dict[str, Any] = {"status": int(response.get("status", 200))}
        if response.get("statusMessage"):
            plan["reason"] = str(response["statusMessage"])
        headers = {str(k): ", ".join(map(str, v)) if isinstance(v, list) else str(v)
                   for k, v in (response.get("headers") or {}).items()}
        if headers:
            plan["headers"] = headers
        if "jsonBody" in response:
            plan["json"] = response["jsonBody"]
        elif "body" in response:
            plan["body"] = str(response["body"])
        elif "base64Body" in response:
            name = f"body-{len(files) + 1}-{abs(hash(self.where)) % 10_000}.bin"
            files[name] = base64.b64decode(response["base64Body"])
            plan["file"] = name
        elif "bodyFileName" in response:
            source = self.files_root / str(response["bodyFileName"])
            try:
                files[Path(str(response["bodyFileName"])).name] = source.read_bytes()
                plan["file"] = Path(str(response["bodyFileName"])).name
            except OSError as exc:
                self.warn("response.bodyFileName", f"cannot read {source} ({exc.strerror})")
        if isinstance(response.get("fixedDelayMilliseconds"), int | float):
            plan["delay"] = f"{response['fixedDelayMilliseconds']}ms"
        distribution = response.get("delayDistribution")
        if isinstance(distribution, dict):
            if distribution.get("type") == "lognormal":
                plan["delay"] = {"lognormal": {"median": f"{distribution.get('median', 0)}ms",
                                               "sigma": distribution.get("sigma", 0.5)}}
            elif distribution.get("type") == "uniform":
                plan["delay"] = {"uniform": [f"{distribution.get('lower', 0)}ms",
                                             f"{distribution.get('upper', 0)}ms"]}
            else:
                self.warn("response.delayDistribution", f"type {distribution.get('type')!r} has no "
                          "counterpart (lognormal and uniform map)")
        fault = None
        if response.get("fault"):
            fault = FAULTS.get(str(response["fault"]))
            if fault is None:
                self.warn("response.fault", f"found {response['fault']!r}; expected one of "
                          f"{', '.join(FAULTS)}")
        for key in response:
            if key not in ("status", "statusMessage", "headers", "jsonBody", "body", "base64Body",
                           "bodyFileName", "fixedDelayMilliseconds", "delayDistribution", "fault",
                           "transformers"):
                self.warn(f"response.{key}", "no counterpart in mockserver answers")
        if response.get("transformers"):
            self.warn("response.transformers", "response templating does not carry over")
        return plan, fault


def _literal_path(path: str) -> Any:
    """A WireMock literal path; braces (parameters here) make it a regex that matches only it."""
    if "{" in path or "}" in path:
        return {"regex": re.escape(path)}
    return path or "/"
