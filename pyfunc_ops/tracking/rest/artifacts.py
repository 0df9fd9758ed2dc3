"""An fsspec filesystem for ``mlflow-artifacts``: a tracking server's proxied artifacts.

A server started with ``--artifacts-destination`` (the default deployment) hands out
artifact locations ``mlflow-artifacts:/<path>`` and serves them below
``/api/2.0/mlflow-artifacts/artifacts``: list (``?path=``), get and put (``/<path>``),
delete. This filesystem implements fsspec's few primitives on those endpoints (``ls``,
``info``, ``get_file``, ``put_file``, ``cat_file``, ``rm_file``, ``_open``), so every
transfer path of :mod:`pyfunc_ops.storage` (parallel downloads and uploads in a thread
pool, ``MLmodel`` written last, the content-addressed cache) works on it unchanged.

The server is the tracking URI in effect when the filesystem is made (or the host named in
``mlflow-artifacts://host:port/...``); auth, TLS and retries are the REST store's
(:mod:`pyfunc_ops.tracking.rest.http`). Instances are not cached by fsspec, so a changed
tracking URI or credentials are always honoured. :func:`register` makes fsspec route the
protocol here; the REST store calls it when it is first used.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import fsspec
from fsspec.spec import AbstractFileSystem

from pyfunc_ops.errors import InvalidURIError
from pyfunc_ops.tracking.rest.convert import SCHEME
from pyfunc_ops.tracking.rest.http import (
    ARTIFACTS_API,
    EndpointMissing,
    NotFoundOnServer,
    ServerConnection,
    connection_for,
)
from pyfunc_ops.tracking.uri import get_tracking_uri, is_server_uri

__all__ = ["MlflowArtifactsFileSystem", "register"]

_CHUNK = 1 << 20


def register() -> None:
    """Route ``mlflow-artifacts://`` URLs to :class:`MlflowArtifactsFileSystem` (idempotent)."""
    if fsspec.registry.get(SCHEME) is not MlflowArtifactsFileSystem:
        fsspec.register_implementation(SCHEME, MlflowArtifactsFileSystem, clobber=True)


class _Upload(io.BytesIO):
    """A write handle: the bytes are PUT when it is closed."""

    def __init__(self, fs: MlflowArtifactsFileSystem, path: str) -> None:
        super().__init__()
        self._fs, self._path = fs, path

    def close(self) -> None:
        if not self.closed:
            self._fs.pipe_file(self._path, self.getvalue())
        super().close()


class MlflowArtifactsFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """The artifacts of the MLflow tracking server at ``tracking_uri`` (default: the
    current tracking URI), addressed as ``mlflow-artifacts:///<path>``."""

    protocol = (SCHEME,)
    root_marker = ""
    cachable = False

    def __init__(self, tracking_uri: str | None = None, host: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        uri = tracking_uri or get_tracking_uri()
        if host:
            # mlflow-artifacts://host:port/... names another server, same scheme as ours.
            scheme = uri.split("://", 1)[0] if is_server_uri(uri) else "http"
            uri = f"{scheme}://{host}"
        if not is_server_uri(uri):
            raise fsspec_error(uri)
        self.connection: ServerConnection = connection_for(uri)

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        text = str(path)
        for prefix in (f"{SCHEME}://", f"{SCHEME}:"):
            if text.startswith(prefix):
                text = text[len(prefix) :]
                if prefix.endswith("//") and not text.startswith("/"):
                    text = text.partition("/")[2]  # drop the host
                break
        return text.strip("/")

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        host = urlsplit(str(path)).netloc if str(path).startswith(f"{SCHEME}://") else ""
        return {"host": host} if host else {}

    def unstrip_protocol(self, name: str) -> str:
        return f"{SCHEME}:///{name.lstrip('/')}"

    def _url(self, path: str) -> str:
        return f"{ARTIFACTS_API}/{quote(self._strip_protocol(path), safe='/')}"

    # -- listing --------------------------------------------------------------------------

    def _list(self, path: str) -> list[dict[str, Any]]:
        params = {"path": path} if path else None
        answer = self.connection.request(
            "GET", ARTIFACTS_API, params=params, what=f"listing artifacts {path!r}"
        )
        files = answer.json().get("files") or [] if answer.content else []
        base = f"{path}/" if path else ""
        return [
            {
                "name": base + str(f["path"]).rsplit("/", 1)[-1],
                "size": int(f.get("file_size") or 0),
                "type": "directory" if f.get("is_dir") else "file",
            }
            for f in files
        ]

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """The entries of folder ``path``; a file lists as itself. The server lists a
        file, an empty folder and nothing at all alike (no entries), so those are told
        apart in the parent's listing."""
        path = self._strip_protocol(path)
        entries = self._list(path)
        if not entries and path:
            parent = path.rpartition("/")[0]
            match = [e for e in self._list(parent) if e["name"] == path]
            if not match:
                raise FileNotFoundError(f"{SCHEME}:///{path} (on {self.connection.url})")
            entries = match if match[0]["type"] == "file" else []
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        if not path:
            return {"name": "", "size": 0, "type": "directory"}
        parent = path.rpartition("/")[0]
        for entry in self._list(parent):
            if entry["name"] == path:
                return entry
        raise FileNotFoundError(f"{SCHEME}:///{path} (on {self.connection.url})")

    # -- reading and writing --------------------------------------------------------------

    def _get(self, path: str) -> Any:
        try:
            return self.connection.request(
                "GET", self._url(path), stream=True, what=f"downloading {path!r}"
            )
        except (NotFoundOnServer, EndpointMissing) as exc:
            raise FileNotFoundError(f"{SCHEME}:///{path} (on {self.connection.url})") from exc

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        path = self._strip_protocol(path)
        with self._get(path) as response:
            data: bytes = response.content
        return data[start:end]

    def get_file(self, rpath: str, lpath: str, callback: Any = None, **kwargs: Any) -> None:
        rpath = self._strip_protocol(rpath)
        if Path(lpath).is_dir():
            lpath = str(Path(lpath) / rpath.rsplit("/", 1)[-1])
        with self._get(rpath) as response, open(lpath, "wb") as out:
            for chunk in response.iter_content(_CHUNK):
                out.write(chunk)

    def put_file(self, lpath: str, rpath: str, callback: Any = None, **kwargs: Any) -> None:
        rpath = self._strip_protocol(rpath)
        if Path(lpath).is_dir():
            return  # folders exist implicitly
        with open(lpath, "rb") as source:
            self.connection.request(
                "PUT", self._url(rpath), data=source, what=f"uploading {rpath!r}"
            )

    def pipe_file(self, path: str, value: bytes, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        self.connection.request("PUT", self._url(path), data=value, what=f"uploading {path!r}")

    def rm_file(self, path: str) -> None:
        path = self._strip_protocol(path)
        try:
            self.connection.request("DELETE", self._url(path), what=f"deleting {path!r}")
        except (NotFoundOnServer, EndpointMissing) as exc:
            raise FileNotFoundError(f"{SCHEME}:///{path} (on {self.connection.url})") from exc

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Folders exist implicitly, as in object stores."""

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Folders exist implicitly, as in object stores."""

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        path = self._strip_protocol(path)
        if "r" in mode:
            return io.BytesIO(self.cat_file(path))
        if "w" in mode:
            return _Upload(self, path)
        raise ValueError(f"{SCHEME} files open for reading or writing only, not {mode!r}")


def fsspec_error(uri: str) -> InvalidURIError:
    """The error for an ``mlflow-artifacts`` location without a tracking server."""
    return InvalidURIError(
        f"an {SCHEME}:/ artifact location needs an MLflow tracking server, but the tracking "
        f"URI is {uri!r}; set PYFUNC_OPS_TRACKING_URI (or the connection's tracking_uri) to "
        "the server's http(s) URL"
    )
