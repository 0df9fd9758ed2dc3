"""Schema creation and upgrades, and the per-process engine cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, inspect, select, text

from pyfunc_ops.errors import InvalidURIError, PyfuncOpsError
from pyfunc_ops.tracking import TrackingClient, migrations, schema
from pyfunc_ops.tracking.engine import dispose_engines, get_engine


@pytest.fixture
def restore_migrations() -> Iterator[None]:
    saved = list(migrations.MIGRATIONS)
    yield
    migrations.MIGRATIONS[:] = saved


def _version(uri: str) -> int:
    with get_engine(uri).connect() as conn:
        return int(conn.execute(select(schema.schema_version.c.version)).scalar_one())


def test_fresh_database_gets_the_latest_schema(tracking_uri: str) -> None:
    engine = get_engine(tracking_uri)
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in schema.metadata.sorted_tables} <= tables
    assert _version(tracking_uri) == migrations.latest_version()


def test_a_later_step_upgrades_an_older_database(
    tracking_uri: str, restore_migrations: None
) -> None:
    client = TrackingClient(tracking_uri)
    run_id = client.create_run(run_name="before").info.run_id
    client.create_registered_model("m")
    client.create_model_version("m", "s3://b/1")
    base = migrations.latest_version()  # the schema this code writes; a later step follows
    assert _version(tracking_uri) == base
    dispose_engines(tracking_uri)  # as if the process ended

    # A release adds a column and a table: the step that brings old databases along.
    extra = Table("extra_notes", MetaData(), Column("id", Integer, primary_key=True))

    def step2(conn: object) -> None:
        migrations.add_column(conn, "runs", Column("note", String(100), nullable=True))  # type: ignore[arg-type]
        migrations.add_table(conn, extra)  # type: ignore[arg-type]

    migrations.MIGRATIONS.append(migrations.Migration(base + 1, "runs.note, extra_notes", step2))

    engine = get_engine(tracking_uri)  # upgraded on first connect
    assert _version(tracking_uri) == base + 1
    inspector = inspect(engine)
    assert "note" in {c["name"] for c in inspector.get_columns("runs")}
    assert "extra_notes" in inspector.get_table_names()
    # Existing data survives, and the store keeps working.
    assert client.get_run(run_id).info.run_name == "before"
    assert client.create_model_version("m", "s3://b/2").version == 2

    # Steps are idempotent: running one again on an upgraded database changes nothing.
    with engine.begin() as conn:
        step2(conn)


def test_database_without_schema_version_and_a_table_is_upgraded(tracking_uri: str) -> None:
    client = TrackingClient(tracking_uri)
    client.create_registered_model("m")
    client.create_model_version("m", "s3://b/1")
    engine = get_engine(tracking_uri)
    with engine.begin() as conn:  # an older layout: no versioning, no aliases table yet
        conn.execute(text("DROP TABLE registered_model_aliases"))
        conn.execute(text("DROP TABLE schema_version"))
    dispose_engines(tracking_uri)

    client.set_registered_model_alias("m", "champion", 1)  # reopens and upgrades
    assert client.get_model_version_by_alias("m", "champion").version == 1
    assert _version(tracking_uri) == migrations.latest_version()


def test_database_newer_than_the_code_is_refused(tracking_uri: str) -> None:
    engine = get_engine(tracking_uri)
    with engine.begin() as conn:
        conn.execute(schema.schema_version.update().values(version=99))
    dispose_engines(tracking_uri)
    with pytest.raises(PyfuncOpsError, match=r"schema version 99, newer than.*upgrade pyfunc_ops"):
        TrackingClient(tracking_uri).get_run("x")


def test_one_engine_per_url(tracking_uri: str) -> None:
    assert get_engine(tracking_uri) is get_engine(tracking_uri)
    first = get_engine(tracking_uri)
    dispose_engines(tracking_uri)
    assert get_engine(tracking_uri) is not first


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'nested' / 'dir' / 't.db'}"  # parent folders are created
    try:
        with get_engine(uri).connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        dispose_engines(uri)


def test_in_memory_sqlite_keeps_one_database() -> None:
    uri = "sqlite://"
    try:
        client = TrackingClient(uri)
        run_id = client.create_run().info.run_id
        assert client.get_run(run_id).info.run_id == run_id
    finally:
        dispose_engines(uri)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("not a url://x", "is not an SQLAlchemy URL"),
        ("nosuchdb://host/db", "names a database driver that is not installed"),
        ("postgresql+nosuchdriver://h/db", "names a database driver that is not installed"),
    ],
)
def test_bad_tracking_uris(uri: str, message: str) -> None:
    with pytest.raises(InvalidURIError, match=message):
        TrackingClient(uri).get_run("x")


def test_forked_child_gets_its_own_engine(tracking_uri: str) -> None:
    import multiprocessing

    client = TrackingClient(tracking_uri)
    run_id = client.create_run().info.run_id  # the parent's pool now holds a connection
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_log_in_child, args=(tracking_uri, run_id))
    child.start()
    child.join(120)
    assert child.exitcode == 0
    assert client.get_run(run_id).data.params == {"from": "child"}
    client.log_param(run_id, "and", "parent")  # the parent's connections still work


def _log_in_child(uri: str, run_id: str) -> None:
    TrackingClient(uri).log_param(run_id, "from", "child")
