"""The backends every conformance test runs on: SQLite, PostgreSQL and an MLflow server.

``tracking_uri`` (and so ``client``, from ``tests/tracking/conftest.py``) is overridden
here: each test of this folder runs once per backend, with the same body and the same
assertions. PostgreSQL needs ``PYFUNC_OPS_TEST_POSTGRES_URL`` (``eval "$(bash
scripts/postgres.sh)"``); the MLflow server runs from the MLflow venv
(``PYFUNC_OPS_MLFLOW_VENV``) on 127.0.0.1, one per session, emptied after every test
(registered models deleted, runs moved to MLflow's trash) so tests see only their own
data. Where a backend truly cannot do what a test checks, the test says so with
``skip_on(client, "mlflow", reason)``.

A new backend joins by adding its name to ``BACKENDS`` and a branch to ``tracking_uri``
(see ``test_toy_backend.py`` for a backend registered by a test).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyfunc_ops import tracking
from pyfunc_ops.tracking import TrackingClient

BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mlflow", marks=pytest.mark.mlflow),
]


def backend_of(store: TrackingClient | str) -> str:
    """``sqlite``, ``postgresql``, ``mlflow`` or a registered toy's scheme, for a client
    or a tracking URI."""
    uri = store if isinstance(store, str) else store.tracking_uri
    scheme = uri.split(":", 1)[0].split("+", 1)[0]
    return "mlflow" if scheme in ("http", "https") else scheme


def skip_on(store: TrackingClient | str, backend: str, reason: str) -> None:
    """Skip this test on ``backend`` (``mlflow``, ``sqlite``, ...), saying why."""
    if backend_of(store) == backend:
        pytest.skip(f"{backend}: {reason}")


@pytest.fixture(scope="session")
def mlflow_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` from the MLflow venv, for the whole session."""
    from benchmarks.common import mlflow_server

    venv = os.environ.get("PYFUNC_OPS_MLFLOW_VENV")
    python = Path(venv or "/nonexistent") / "bin" / "python"
    if not python.is_file():
        pytest.skip("no MLflow venv (PYFUNC_OPS_MLFLOW_VENV); run through scripts/test.sh")
    with mlflow_server(python, tmp_path_factory.mktemp("conformance_mlflow")) as url:
        yield url


def _empty_server(url: str) -> None:
    """Delete every registered model and trash every run: the next test starts empty."""
    client = TrackingClient(url)
    for model in client.search_registered_models():
        client.delete_registered_model(model.name)
    connection = client.runs._conn  # type: ignore[attr-defined]
    for run in client.search_runs(max_results=None):
        connection.call("POST", "/runs/delete", {"run_id": run.info.run_id})


@pytest.fixture(params=BACKENDS)
def tracking_uri(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The URL of an empty store of each backend, also set as PYFUNC_OPS_TRACKING_URI."""
    if request.param != "mlflow":
        yield request.getfixturevalue("sql_tracking_uri")(request.param)
        return
    url = request.getfixturevalue("mlflow_server_url")
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", url)
    try:
        yield url
    finally:
        while tracking.active_run() is not None:  # ended while the server still has it
            tracking.end_run("KILLED")
        _empty_server(url)


def model_source(client: TrackingClient, path: str) -> str:
    """A version source the backend accepts for a model at ``path``: ``path`` itself on
    the SQL stores; on an MLflow server, which takes a local path only inside the artifact
    folder of the version's run, ``runs:/<a new run>/model``."""
    if backend_of(client) != "mlflow":
        return path
    return f"runs:/{client.create_run(run_name='source').info.run_id}/model"
