"""The HTTP connection to an MLflow tracking server: auth, TLS, timeouts, retries, errors.

Configured as MLflow's own clients are, so a team's existing environment works unchanged:

- ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` (HTTP basic auth; also
  ``http://user:password@host`` in the tracking URI, which is how a connection's login and
  password arrive), or ``MLFLOW_TRACKING_TOKEN`` (a bearer token);
- ``MLFLOW_TRACKING_INSECURE_TLS=true`` (no certificate check) or
  ``MLFLOW_TRACKING_SERVER_CERT_PATH`` (a CA bundle);
- ``MLFLOW_HTTP_REQUEST_TIMEOUT`` (seconds to wait for an answer) and
  ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, which win over pyfunc_ops' own settings
  (``read_timeout``, default 15 s, ``max_retries``, default 2, and ``connect_timeout``,
  default 10 s: ``PYFUNC_OPS_READ_TIMEOUT``, ...), and
  ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR`` (default 0.5 s, doubled per retry). With the
  defaults a server that accepts connections and never answers fails within a minute.

Connection errors, 429 and 5xx answers are retried with exponential backoff (urllib3's
``Retry``, which also honours ``Retry-After``). Every failure becomes a
:class:`~pyfunc_ops.errors.PyfuncOpsError` naming the server's URL, never the credentials:
those live in the session's auth object, not in any URL we build or print.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pyfunc_ops import config as config_module
from pyfunc_ops.core.redact import redact
from pyfunc_ops.errors import (
    InvalidParameterError,
    ResourceExistsError,
    ResourceNotFoundError,
    TrackingStoreError,
)

__all__ = [
    "EndpointMissing",
    "NotFoundOnServer",
    "ServerConfig",
    "ServerConnection",
    "connection_for",
]

log = logging.getLogger(__name__)

API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
_RETRY_STATUSES = (429, 500, 502, 503, 504)


class NotFoundOnServer(ResourceNotFoundError):
    """The server answered RESOURCE_DOES_NOT_EXIST; the stores replace it with a message
    that lists what does exist (kept as the cause)."""


class EndpointMissing(TrackingStoreError):
    """The server has no such endpoint (404 without an MLflow error code): not an MLflow
    server, or one too old for the call (logged models need MLflow 3)."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidParameterError(
            f"{name}={raw!r} is not a number; set it to a number of seconds or retries, or unset it"
        ) from None


@dataclass(frozen=True)
class ServerConfig:
    """How to talk to one server. ``url`` carries no credentials; they are fields that
    never appear in ``repr``."""

    url: str
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    verify: bool | str = True
    timeout: float = 15.0  # seconds to wait for the next bytes of an answer
    max_retries: int = 2
    backoff_factor: float = 0.5
    connect_timeout: float = 10.0
    experiment_id: str = "0"

    @classmethod
    def from_uri(
        cls, uri: str, environ: Mapping[str, str] | None = None, token: str | None = None
    ) -> ServerConfig:
        """The configuration for tracking URI ``uri`` (``http(s)://[user:pw@]host[/prefix]``)
        with the ``MLFLOW_*`` variables of ``environ`` (default ``os.environ``). ``token``
        (a connection's) wins over ``MLFLOW_TRACKING_TOKEN``."""
        env = os.environ if environ is None else environ
        settings = config_module.current_settings()
        parts = urlsplit(uri.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise InvalidParameterError(
                f"tracking URI {redact(uri)!r} is not an http(s) URL of an MLflow "
                "tracking server; expected e.g. http://mlflow.example.com:5000"
            )
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        url = urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))
        username = (
            unquote(parts.username) if parts.username else env.get("MLFLOW_TRACKING_USERNAME")
        )
        password = (
            unquote(parts.password) if parts.password else env.get("MLFLOW_TRACKING_PASSWORD")
        )
        verify: bool | str = True
        if _truthy(env.get("MLFLOW_TRACKING_INSECURE_TLS")):
            verify = False
        elif env.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
            verify = env["MLFLOW_TRACKING_SERVER_CERT_PATH"]
        return cls(
            url=url,
            username=username or None,
            password=password or None,
            token=token or env.get("MLFLOW_TRACKING_TOKEN") or None,
            verify=verify,
            timeout=_number(env, "MLFLOW_HTTP_REQUEST_TIMEOUT", settings.read_timeout),
            max_retries=int(_number(env, "MLFLOW_HTTP_REQUEST_MAX_RETRIES", settings.max_retries)),
            connect_timeout=settings.connect_timeout,
            backoff_factor=_number(env, "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", 0.5),
            experiment_id=env.get("MLFLOW_EXPERIMENT_ID") or "0",
        )


class _BearerAuth(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


def _new_session(config: ServerConfig) -> requests.Session:
    session = requests.Session()
    retry = Retry(
        total=config.max_retries,
        connect=config.max_retries,
        read=config.max_retries,
        status=config.max_retries,
        backoff_factor=config.backoff_factor,
        status_forcelist=_RETRY_STATUSES,
        allowed_methods=None,  # every method: the server's writes fail whole on 5xx
        raise_on_status=False,  # the last answer comes back; _raise_for turns it into ours
        respect_retry_after_header=True,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=32)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if config.token:
        session.auth = _BearerAuth(config.token)
    elif config.username is not None:
        session.auth = (config.username, config.password or "")
    session.verify = config.verify
    session.headers["User-Agent"] = "pyfunc-ops"
    return session


class ServerConnection:
    """One server's session (pooled connections, shared by threads of one process)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.url = config.url
        self._session = _new_session(config)

    def __repr__(self) -> str:
        return f"ServerConnection({self.url!r})"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        stream: bool = False,
        what: str | None = None,
    ) -> requests.Response:
        """Send one request to ``<url><path>``; any failure becomes one of our errors.

        ``what`` names the operation in messages (default: the path).
        """
        target = f"{self.url}{path}"
        label = what or path
        try:
            response = self._session.request(
                method,
                target,
                params=params,
                json=json,
                data=data,
                stream=stream,
                timeout=(self.config.connect_timeout, self.config.timeout),
            )
        except requests.exceptions.SSLError as exc:
            raise TrackingStoreError(
                f"TLS verification of the MLflow tracking server at {self.url} failed "
                f"({type(exc).__name__}). Point MLFLOW_TRACKING_SERVER_CERT_PATH at the CA "
                "bundle that signed its certificate (or, for a test server only, set "
                "MLFLOW_TRACKING_INSECURE_TLS=true)"
            ) from None
        except requests.exceptions.RequestException as exc:
            # urllib3 reports a read timeout that used up the retries as a ConnectionError.
            timed_out = isinstance(exc, requests.exceptions.Timeout) or "timed out" in str(exc)
            if not timed_out:
                raise self._unreachable(label, exc) from None
            raise TrackingStoreError(
                f"the MLflow tracking server at {self.url} did not answer {label} in time: "
                f"{type(exc).__name__} after {self.config.max_retries + 1} attempts "
                f"(connect timeout {self.config.connect_timeout:g} s, read timeout "
                f"{self.config.timeout:g} s). Check that the server is healthy; the limits "
                "are PYFUNC_OPS_CONNECT_TIMEOUT, PYFUNC_OPS_READ_TIMEOUT and "
                "PYFUNC_OPS_MAX_RETRIES (or MLFLOW_HTTP_REQUEST_TIMEOUT / _MAX_RETRIES)"
            ) from None
        if response.status_code >= 400:
            self._raise_for(response, label)
        return response

    def _unreachable(self, label: str, exc: Exception) -> TrackingStoreError:
        return TrackingStoreError(
            f"cannot reach the MLflow tracking server at {self.url} ({label}): "
            f"{type(exc).__name__} after {self.config.max_retries} retries. Check that "
            "the server runs and that the tracking URI (PYFUNC_OPS_TRACKING_URI or the "
            "connection's tracking_uri) names it"
        )

    def call(
        self, method: str, endpoint: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A REST API 2.0 call (``endpoint`` below ``/api/2.0/mlflow``) and its JSON answer.

        GET requests carry ``body`` as query parameters, the others as a JSON body.
        """
        clean = {k: v for k, v in (body or {}).items() if v is not None}
        if method == "GET":
            response = self.request(method, API + endpoint, params=clean, what=endpoint)
        else:
            response = self.request(method, API + endpoint, json=clean, what=endpoint)
        if not response.content:
            return {}
        try:
            answer = response.json()
        except ValueError:
            raise TrackingStoreError(
                f"the MLflow tracking server at {self.url} answered {endpoint} with "
                f"something other than JSON ({response.text[:200]!r}); is the tracking URI "
                "the server's base URL?"
            ) from None
        return answer if isinstance(answer, dict) else {}

    def _raise_for(self, response: requests.Response, label: str) -> None:
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        code = str(payload.get("error_code") or "")
        message = redact(str(payload.get("message") or response.text[:300]).strip())
        status = response.status_code
        where = f"the MLflow tracking server at {self.url}"
        if status == 401:
            raise TrackingStoreError(
                f"{where} refused {label}: 401 Unauthorized (the credentials are missing or "
                "wrong). Set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or "
                "MLFLOW_TRACKING_TOKEN (for an Airflow connection: user:password in its "
                "tracking_uri, or its token extra)"
            )
        if status == 403 or code == "PERMISSION_DENIED":
            raise TrackingStoreError(
                f"{where} refused {label}: 403 Forbidden (the user lacks the permission). "
                f"Ask the server's admin for access; server said: {message}"
            )
        if code == "RESOURCE_DOES_NOT_EXIST":
            raise NotFoundOnServer(f"{where}: {message}")
        if code == "RESOURCE_ALREADY_EXISTS":
            raise ResourceExistsError(f"{where}: {message}")
        if code in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE") or status == 400:
            raise InvalidParameterError(f"{where} refused {label}: {message}")
        if status == 404:
            raise EndpointMissing(
                f"{where} has no endpoint for {label} (404). Check that the tracking URI is "
                "the server's base URL and that the server is MLflow 2 or later (logged "
                "models need MLflow 3; artifacts need --serve-artifacts, the default)"
            )
        raise TrackingStoreError(
            f"{where} failed {label}: HTTP {status} {code} {message}. Retry later, or check "
            "the server's log"
        )


_lock = threading.Lock()
_connections: dict[tuple[int, ServerConfig], ServerConnection] = {}


def connection_for(uri: str, environ: Mapping[str, str] | None = None) -> ServerConnection:
    """The (process-wide, cached) connection for tracking URI ``uri``.

    Cached per process id too: a forked child must not share its parent's sockets. The
    bearer token of the current settings (an Airflow connection's ``token`` extra, applied
    with ``use_settings``) is part of the configuration, so two connections to one server
    with different tokens never share a session.
    """
    token = config_module.current_settings().tracking_token
    config = ServerConfig.from_uri(uri, environ, token=token)
    key = (os.getpid(), config)
    with _lock:
        found = _connections.get(key)
        if found is None:
            found = _connections[key] = ServerConnection(config)
        return found
