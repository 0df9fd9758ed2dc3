"""The REST store without MLflow: configuration, transport errors, URI forms, conversions.

A tiny in-process HTTP server plays the tracking server where a status code matters; the
real ``mlflow server`` tests are tests/interop/test_mlflow_server.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pyfunc_ops.core.uri import parse_model_uri
from pyfunc_ops.errors import (
    InvalidParameterError,
    InvalidURIError,
    ResourceExistsError,
    TrackingStoreError,
)
from pyfunc_ops.tracking import TrackingClient, resolve_model_uri
from pyfunc_ops.tracking.rest import RestRegistryStore, RestRunStore, ServerConfig, convert
from pyfunc_ops.tracking.rest.artifacts import MlflowArtifactsFileSystem
from pyfunc_ops.tracking.rest.http import ServerConnection
from pyfunc_ops.tracking.uri import is_server_uri, normalize_tracking_uri

# -- configuration ----------------------------------------------------------------------------


def test_credentials_come_from_the_url_or_the_mlflow_variables_and_never_show() -> None:
    config = ServerConfig.from_uri("https://alice:s%40cret@mlflow.example.com:8443/prefix/", {})
    assert config.url == "https://mlflow.example.com:8443/prefix"
    assert (config.username, config.password) == ("alice", "s@cret")
    assert "cret" not in repr(config)
    env = {
        "MLFLOW_TRACKING_USERNAME": "bob",
        "MLFLOW_TRACKING_PASSWORD": "pw",
        "MLFLOW_TRACKING_TOKEN": "tok",
        "MLFLOW_TRACKING_INSECURE_TLS": "true",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "7",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    }
    config = ServerConfig.from_uri("http://host:5000", env)
    assert (config.username, config.password, config.token) == ("bob", "pw", "tok")
    assert config.verify is False and config.timeout == 7 and config.max_retries == 2
    cert = ServerConfig.from_uri("https://h", {"MLFLOW_TRACKING_SERVER_CERT_PATH": "/ca.pem"})
    assert cert.verify == "/ca.pem"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match=r"MLFLOW_HTTP_REQUEST_TIMEOUT='soon' is not"):
        ServerConfig.from_uri("http://h", {"MLFLOW_HTTP_REQUEST_TIMEOUT": "soon"})
    with pytest.raises(InvalidParameterError, match=r"'ftp://h' is not an http\(s\) URL"):
        ServerConfig.from_uri("ftp://h", {})


def test_http_urls_select_the_rest_store() -> None:
    assert is_server_uri("HTTPS://mlflow:5000") and not is_server_uri("sqlite:///x.db")
    assert normalize_tracking_uri(" http://mlflow:5000/ ") == "http://mlflow:5000"
    client = TrackingClient("http://u:secret@127.0.0.1:1")
    assert isinstance(client.runs, RestRunStore)
    assert isinstance(client.registry, RestRegistryStore)
    assert "secret" not in repr(client)


# -- URIs -------------------------------------------------------------------------------------


def test_models_uri_with_a_logged_model_id() -> None:
    parsed = parse_model_uri("models:/m-95ff2d4426a44f3fbc3000a30ddd1564")
    assert parsed.model_id == "m-95ff2d4426a44f3fbc3000a30ddd1564" and parsed.name is None
    assert parse_model_uri("models:/m-model/1").name == "m-model"
    with pytest.raises(InvalidURIError, match=r"a logged model id is 'm-' and hex digits"):
        parse_model_uri("models:/m-not-hex")


def test_logged_model_ids_need_a_tracking_server(tmp_path: Path) -> None:
    client = TrackingClient(str(tmp_path / "t.db"))
    with pytest.raises(InvalidURIError, match=r"only an MLflow tracking server keeps logged"):
        resolve_model_uri("models:/m-0123456789abcdef", client=client)


def test_artifact_locations_between_mlflow_form_and_ours() -> None:
    assert convert.ours("mlflow-artifacts:/0/r/artifacts") == "mlflow-artifacts:///0/r/artifacts"
    assert convert.theirs("mlflow-artifacts:///0/r/artifacts") == "mlflow-artifacts:/0/r/artifacts"
    assert convert.ours("s3://b/k") == "s3://b/k" == convert.theirs("s3://b/k")
    strip = MlflowArtifactsFileSystem._strip_protocol
    assert strip("mlflow-artifacts:///0/r/a") == "0/r/a" == strip("mlflow-artifacts:/0/r/a")
    assert strip("mlflow-artifacts://other:5000/0/r/a") == "0/r/a"


def test_mlflow_artifacts_needs_a_server_uri(tmp_path: Path) -> None:
    with pytest.raises(InvalidURIError, match=r"needs an MLflow tracking server"):
        MlflowArtifactsFileSystem(tracking_uri=f"sqlite:///{tmp_path}/t.db")


# -- transport errors, from a fake server -----------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    answers: list[tuple[int, dict[str, str]]] = []
    seen: list[str] = []

    def _answer(self) -> None:
        type(self).seen.append(f"{self.command} {self.path} {self.headers.get('Authorization')}")
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def fake() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"answers": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _connection(url: str, **env: str) -> ServerConnection:
    settings = {"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0.01", **env}
    return ServerConnection(ServerConfig.from_uri(url, settings))


def test_5xx_is_retried_then_answered(fake: tuple[str, type[_Handler]]) -> None:
    url, handler = fake
    handler.answers = [(503, {}), (500, {}), (200, {"registered_model": {"name": "m"}})]
    store = RestRegistryStore(_connection(url))
    assert store.get_registered_model("m").name == "m"
    assert len(handler.seen) == 3


def test_401_and_403_are_clear_and_hide_credentials(fake: tuple[str, type[_Handler]]) -> None:
    url, handler = fake
    creds_url = url.replace("http://", "http://alice:hunter2@")
    handler.answers = [(401, {"error_code": "UNAUTHENTICATED", "message": "who?"})]
    with pytest.raises(
        TrackingStoreError, match=r"401 Unauthorized .* MLFLOW_TRACKING_USERNAME"
    ) as err:
        RestRunStore(_connection(creds_url)).get_run("r")
    assert "hunter2" not in str(err.value) and url in str(err.value)
    assert handler.seen[0].endswith("Basic YWxpY2U6aHVudGVyMg==")
    handler.answers = [(403, {"error_code": "PERMISSION_DENIED", "message": "no"})]
    with pytest.raises(TrackingStoreError, match=r"403 Forbidden"):
        RestRunStore(_connection(url, MLFLOW_TRACKING_TOKEN="t0k")).get_run("r")
    assert handler.seen[-1].endswith("Bearer t0k")


def test_the_settings_token_is_sent_as_bearer_and_never_shown(
    fake: tuple[str, type[_Handler]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An Airflow connection's ``token`` extra arrives as ``Settings.tracking_token``
    (``use_settings``); it wins over ``MLFLOW_TRACKING_TOKEN`` and stays out of messages."""
    from pyfunc_ops import config

    url, handler = fake
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "from-env")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    handler.answers = [(401, {"error_code": "UNAUTHENTICATED", "message": "who?"})]
    settings = config.current_settings().with_changes(tracking_token="s3cr3t-t0ken")
    assert "s3cr3t-t0ken" not in repr(settings)
    with config.use_settings(settings):
        client = TrackingClient(url)
        with pytest.raises(TrackingStoreError, match=r"401 Unauthorized .*token") as err:
            client.get_run("r")
        assert "s3cr3t-t0ken" not in repr(client) + repr(client.runs)
    assert "s3cr3t-t0ken" not in str(err.value)
    assert handler.seen[-1].endswith("Bearer s3cr3t-t0ken")
    with pytest.raises(TrackingStoreError, match=r"401 Unauthorized"):
        TrackingClient(url).get_run("r")  # outside the scope: the environment's token
    assert handler.seen[-1].endswith("Bearer from-env")


def test_server_refusals_keep_our_error_classes(fake: tuple[str, type[_Handler]]) -> None:
    url, handler = fake
    store = RestRegistryStore(_connection(url))
    handler.answers = [(400, {"error_code": "RESOURCE_ALREADY_EXISTS", "message": "exists"})]
    with pytest.raises(ResourceExistsError, match=r"registered model 'm' already exists"):
        store.create_registered_model("m")
    handler.answers = [(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad source"})]
    with pytest.raises(InvalidParameterError, match=r"refused /model-versions/create: bad source"):
        store.create_model_version("m", "s3://b/k")
    handler.answers = [(404, {})]
    with pytest.raises(TrackingStoreError, match=r"has no endpoint for /registered-models/get"):
        store.get_registered_model("m")


def test_a_version_whose_source_is_a_registry_uri_is_followed(tmp_path: Path) -> None:
    # MLflow 3 registers versions with source models:/m-...; the same rule serves SQL.
    client = TrackingClient(str(tmp_path / "t.db"), artifact_root=str(tmp_path / "art"))
    run = client.create_run()
    client.create_registered_model("m")
    client.registry.create_model_version("m", f"runs:/{run.info.run_id}/model")
    client.registry.create_model_version("m", "models:/m/1")
    expected = str(Path(run.info.artifact_uri) / "model")
    assert resolve_model_uri("models:/m/1", client=client) == expected
    assert resolve_model_uri("models:/m/2", client=client) == expected
