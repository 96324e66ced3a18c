"""A client for a mockserver running elsewhere (a CI container), over its control API.

It offers what the pytest fixtures need from an in-process MockServer: load and remove
scenarios, reset, set state and seed, move the clock, and read the journal, so the same tests
run against either. It uses only the standard library: the plugin must import cheaply and the
package does not depend on an HTTP client.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import MockServerError
from ..journal import Entry, JournalView

__all__ = ["ControlAPIError", "RemoteJournal", "RemoteMockServer"]

ADMIN = "/__mock"
SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")


class ControlAPIError(MockServerError):
    """The control API refused a call or could not be reached; the message has its answer."""


class RemoteMockServer:
    """A mockserver at *url*, driven through ``/__mock``; *token* is the admin bearer token."""

    __test__ = False

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.journal = RemoteJournal(self)

    def url_for(self, path: str) -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    # --- the wire --------------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None, *, params: Mapping[str, str] | None = None,
             content_type: str = "application/json") -> Any:
        """One control API call; returns the decoded JSON answer (None when empty)."""
        url = self.url + ADMIN + path
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        data: bytes | None = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        # never through a proxy: the control API is ours, usually on loopback
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            try:
                found = json.loads(detail)
                detail = f"{found.get('error')}: {found.get('detail')}" if isinstance(found, dict) else detail
            except ValueError:
                pass
            raise ControlAPIError(f"{method} {ADMIN}{path} answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ControlAPIError(f"{method} {url} failed: {reason}") from None
        return json.loads(raw) if raw.strip() else None

    # --- what the fixtures need ------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        found = self.call("GET", "/health")
        if not isinstance(found, dict) or found.get("status") != "ok":
            raise ControlAPIError(f"GET {ADMIN}/health answered {found!r}; expected {{'status': 'ok', ...}}")
        return found

    def scenarios(self) -> list[Any]:
        found = self.call("GET", "/scenarios")
        return list(found) if isinstance(found, list) else list((found or {}).get("scenarios", []))

    def load(self, *sources: str | os.PathLike[str] | Mapping[str, Any]) -> list[str]:
        """Add or replace scenarios by name; returns their names. Files are sent as their text."""
        names = []
        for body, content_type, name in _bodies(sources):
            self.call("POST", "/scenarios", body, content_type=content_type)
            names.append(name)
        return names

    def replace(self, *sources: str | os.PathLike[str] | Mapping[str, Any]) -> list[str]:
        """Serve exactly these scenarios from now on."""
        documents, names = [], []
        for body, _, name in _bodies(sources):
            documents.append(json.loads(body) if body.lstrip().startswith("{") else _yaml(body))
            names.append(name)
        self.call("PUT", "/scenarios", documents)
        return names

    def remove(self, name: str) -> bool:
        return self._delete("/scenarios", name)

    def snapshot(self) -> str:
        """Remember the scenarios served now; returns the id that ``restore`` takes."""
        found = self.call("POST", "/snapshots")
        return str(found["snapshot"])

    def restore(self, snapshot: str) -> list[str]:
        """Serve exactly the scenarios of *snapshot* again (once: the snapshot is used up)."""
        found = self.call("POST", f"/snapshots/{urllib.parse.quote(snapshot, safe='')}/restore")
        return [str(name) for name in found["scenarios"]]

    def reset(self, session: str | None = None) -> None:
        self.call("POST", "/reset", params={"session": session} if session is not None else None)

    def states(self, session: str = "") -> dict[str, str]:
        found = self.call("GET", "/state", params={"session": session})
        return dict(found.get("states", found)) if isinstance(found, dict) else {}

    def set_state(self, name: str, value: str, session: str = "") -> None:
        self.call("PUT", "/state", {"name": name, "value": value, "session": session})

    def resources(self, name: str, session: str = "") -> list[dict[str, Any]]:
        found = self.call("GET", f"/resources/{urllib.parse.quote(name, safe='')}",
                          params={"session": session})
        return list(found["items"])

    def set_resources(self, name: str, items: list[Any], session: str = "") -> list[dict[str, Any]]:
        found = self.call("PUT", f"/resources/{urllib.parse.quote(name, safe='')}",
                          {"items": items, "session": session})
        return list(found["items"])

    def set_seed(self, seed: int | None) -> None:
        self.call("POST", "/seed", {"seed": seed})

    def advance(self, seconds: float) -> None:
        self.call("POST", "/clock/advance", {"seconds": seconds})

    def clear_journal(self) -> None:
        self.call("DELETE", "/journal")

    def add_fault(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Add a runtime fault (a same-named one is replaced); returns it as stored, with its name."""
        return dict(self.call("POST", "/faults", dict(spec)))

    def remove_fault(self, name: str) -> bool:
        return self._delete("/faults", name)

    def _delete(self, collection: str, name: str) -> bool:
        """DELETE one named item; False when the server has no such name (404)."""
        try:
            self.call("DELETE", f"{collection}/{urllib.parse.quote(name, safe='')}")
        except ControlAPIError as exc:
            if " answered 404:" in str(exc):
                return False
            raise
        return True

    def list_faults(self) -> list[dict[str, Any]]:
        return [dict(f) for f in self.call("GET", "/faults")]

    def clear_faults(self) -> None:
        for fault in self.list_faults():
            self.remove_fault(str(fault["name"]))


class RemoteJournal(JournalView):
    """The remote server's journal; every read is one GET, so waits poll."""

    def __init__(self, server: RemoteMockServer) -> None:
        self.server = server

    def entries(self) -> list[Entry]:
        found = self.server.call("GET", "/journal")
        items = found.get("entries", []) if isinstance(found, dict) else found or []
        return [Entry.from_dict(item) for item in items]

    async def _entries_async(self) -> list[Entry]:
        return await asyncio.to_thread(self.entries)

    def clear(self) -> None:
        self.server.clear_journal()

    def __len__(self) -> int:
        return len(self.entries())


def _bodies(sources: tuple[str | os.PathLike[str] | Mapping[str, Any], ...]) -> list[tuple[str, str, str]]:
    """(body, content type, scenario name) for each dict, file, or scenario file in a folder."""
    out: list[tuple[str, str, str]] = []
    for source in sources:
        if isinstance(source, Mapping):
            out.append((json.dumps(source), "application/json", str(source.get("name"))))
            continue
        path = Path(source)
        files = [path]
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in SCENARIO_SUFFIXES)
        for file in files:
            text = file.read_text(encoding="utf-8")
            data = json.loads(text) if file.suffix == ".json" else _yaml(text)
            name = str(data.get("name")) if isinstance(data, dict) else file.stem
            kind = "application/json" if file.suffix == ".json" else "application/yaml"
            out.append((text, kind, name))
    return out


def _yaml(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)
