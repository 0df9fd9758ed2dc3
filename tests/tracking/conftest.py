"""Fixtures for the tracking tests: a fresh store per test, on SQLite and on PostgreSQL.

``tracking_uri`` runs each test that uses it twice: on a SQLite file in ``tmp_path`` and on
PostgreSQL (in a fresh schema, dropped afterwards) when ``PYFUNC_OPS_TEST_POSTGRES_URL``
is set; start a local server with ``eval "$(bash scripts/postgres.sh)"``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyfunc_ops import tracking
from pyfunc_ops.tracking import TrackingClient

POSTGRES_ENV = "PYFUNC_OPS_TEST_POSTGRES_URL"
POSTGRES_SKIP_REASON = (
    f"{POSTGRES_ENV} is unset; run 'eval \"$(bash scripts/postgres.sh)\"' to start a local "
    "PostgreSQL and run these tests against it"
)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[object]:
    """An engine on the test PostgreSQL server, for creating and dropping schemas."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(POSTGRES_SKIP_REASON)
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    yield engine
    engine.dispose()


def _postgres_uri(admin: object) -> Iterator[str]:
    from sqlalchemy import text

    from pyfunc_ops.tracking.engine import dispose_engines

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    base = os.environ[POSTGRES_ENV]
    sep = "&" if "?" in base else "?"
    # Every connection of this URL sees only the test's schema.
    uri = f"{base}{sep}options=-csearch_path%3D{schema}"
    try:
        yield uri
    finally:
        dispose_engines(uri)
        with admin.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def sql_tracking_uri(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], str]]:
    """``make(kind)``: the URL of an empty SQL store, ``"sqlite"`` (a file in ``tmp_path``)
    or ``"postgres"`` (a fresh schema, dropped afterwards), also set as
    PYFUNC_OPS_TRACKING_URI; closed after the test."""
    from pyfunc_ops.tracking.engine import dispose_engines

    cleanups: list[Callable[[], None]] = []

    def make(kind: str) -> str:
        monkeypatch.setenv("PYFUNC_OPS_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
        if kind == "sqlite":
            uri = f"sqlite:///{tmp_path / 'tracking.db'}"
            cleanups.append(lambda: dispose_engines(uri))
        else:
            schema = _postgres_uri(request.getfixturevalue("postgres_admin"))
            uri = next(schema)
            cleanups.append(schema.close)  # drops the schema
        monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", uri)
        return uri

    yield make
    _end_active_runs()  # while the store still exists
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def tracking_uri(request: pytest.FixtureRequest, sql_tracking_uri: Callable[[str], str]) -> str:
    """The URL of an empty tracking store, also set as PYFUNC_OPS_TRACKING_URI."""
    return sql_tracking_uri(request.param)


@pytest.fixture
def client(tracking_uri: str) -> TrackingClient:
    return TrackingClient(tracking_uri)


def _end_active_runs() -> None:
    while tracking.active_run() is not None:
        tracking.end_run("KILLED")


@pytest.fixture(autouse=True)
def _clean_fluent_state() -> Iterator[None]:
    """No test inherits another's active runs or tracking URI override."""
    tracking.set_tracking_uri(None)
    yield
    _end_active_runs()
    tracking.set_tracking_uri(None)
