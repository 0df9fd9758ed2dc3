"""Runs on the SQL stores only: artifact roots, the default store, URLs and their errors.

Everything every backend must do alike is in ``conformance/test_runs.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfunc_ops import tracking
from pyfunc_ops.errors import PyfuncOpsError
from pyfunc_ops.tracking import TrackingClient


def test_artifact_root_is_stored_per_run(
    tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYFUNC_OPS_ARTIFACT_ROOT", "s3://bucket/prefix/")
    first = TrackingClient().create_run()
    assert first.info.artifact_uri == f"s3://bucket/prefix/{first.info.run_id}/artifacts"
    monkeypatch.setenv("PYFUNC_OPS_ARTIFACT_ROOT", "memory://other")
    assert TrackingClient().get_run(first.info.run_id).info.artifact_uri.startswith("s3://")
    explicit = TrackingClient(artifact_root="gs://b").create_run()
    assert explicit.info.artifact_uri == f"gs://b/{explicit.info.run_id}/artifacts"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYFUNC_OPS_ARTIFACT_ROOT", "relative/root")
    local = TrackingClient().create_run()
    assert local.info.artifact_uri == (
        f"{(tmp_path / 'relative' / 'root').as_posix()}/{local.info.run_id}/artifacts"
    )


def test_set_tracking_uri_overrides_environment(tmp_path: Path) -> None:
    target = tmp_path / "explicit.db"
    tracking.set_tracking_uri(str(target))  # a bare path means a SQLite file
    assert tracking.get_tracking_uri() == f"sqlite:///{target}"
    with tracking.start_run() as run:
        pass
    assert target.is_file()
    assert TrackingClient(f"sqlite:///{target}").get_run(run.info.run_id).info.status == "FINISHED"
    tracking.set_tracking_uri(None)
    assert tracking.get_tracking_uri().endswith("tracking.db")
    assert tracking.get_tracking_uri() != f"sqlite:///{target}"


def test_default_store_is_sqlite_under_home(isolated_home: Path) -> None:
    assert tracking.get_tracking_uri() == f"sqlite:///{isolated_home / 'tracking.db'}"
    run = TrackingClient().create_run()
    assert (isolated_home / "tracking.db").is_file()
    assert run.info.artifact_uri.startswith((isolated_home / "artifacts").as_posix())


def test_postgres_scheme_picks_psycopg() -> None:
    from pyfunc_ops.tracking.uri import normalize_tracking_uri

    assert normalize_tracking_uri("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalize_tracking_uri("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_tracking_uri("sqlite://") == "sqlite://"


def test_unreachable_database_error_names_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    client = TrackingClient("postgresql+psycopg://someone:secret@127.0.0.1:1/nothing")
    with pytest.raises(
        PyfuncOpsError, match=r"cannot open the tracking database.*127.0.0.1:1"
    ) as err:
        client.get_run("x")
    assert "secret" not in str(err.value)
