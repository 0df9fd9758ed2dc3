"""A small stand-in for an MLflow tracking server on 127.0.0.1: the registry calls the
fault suite needs (versions as MLflow records them, without our digest) and the proxied
artifacts API serving a local folder. It can be stopped to play "the server is down"."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
API = "/api/2.0/mlflow"


class FakeMlflow:
    """The server: ``root`` is what ``mlflow-artifacts:/<path>`` names."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.versions: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[str] = []
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def register(self, name: str, source: str) -> int:
        """A version as MLflow itself registers it (no pyfunc_ops digest tag)."""
        versions = self.versions.setdefault(name, [])
        number = len(versions) + 1
        versions.append(_version(name, number, source, {}))
        return number


def _version(name: str, number: int, source: str, tags: dict[str, str]) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "name": name,
        "version": str(number),
        "source": source,
        "current_stage": "None",
        "status": "READY",
        "creation_timestamp": now,
        "last_updated_timestamp": now,
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
    }


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeMlflow
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode())

    def _missing(self, what: str) -> None:
        self._json(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": what})

    def do_GET(self) -> None:
        state = self.server_state
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        state.requests.append(f"GET {parts.path}")
        if parts.path == ARTIFACTS:
            folder = state.root / query.get("path", "")
            files = []
            if folder.is_dir():
                for child in sorted(folder.iterdir()):
                    rel = child.relative_to(state.root).as_posix()
                    entry: dict[str, Any] = {"path": rel, "is_dir": child.is_dir()}
                    if child.is_file():
                        entry["file_size"] = child.stat().st_size
                    files.append(entry)
            self._json(200, {"files": files} if files else {})
            return
        if parts.path.startswith(ARTIFACTS + "/"):
            target = state.root / unquote(parts.path[len(ARTIFACTS) + 1 :])
            if target.is_file():
                self._send(200, target.read_bytes(), "application/octet-stream")
            else:
                self._missing(f"no artifact {parts.path}")
            return
        if parts.path == API + "/model-versions/get":
            versions = state.versions.get(query.get("name", ""), [])
            number = int(query.get("version", "0"))
            if 1 <= number <= len(versions):
                self._json(200, {"model_version": versions[number - 1]})
            else:
                self._missing(f"no version {number} of {query.get('name')!r}")
            return
        self._json(404, {})

    def do_POST(self) -> None:
        state = self.server_state
        parts = urlsplit(self.path)
        state.requests.append(f"POST {parts.path}")
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if parts.path == API + "/registered-models/create":
            state.versions.setdefault(body["name"], [])
            self._json(200, {"registered_model": {"name": body["name"]}})
            return
        if parts.path == API + "/model-versions/create":
            versions = state.versions.get(body["name"])
            if versions is None:
                self._missing(f"no registered model {body['name']!r}")
                return
            tags = {t["key"]: t["value"] for t in body.get("tags") or []}
            versions.append(_version(body["name"], len(versions) + 1, body["source"], tags))
            self._json(200, {"model_version": versions[-1]})
            return
        self._json(404, {})
