"""Schema versioning: bring any older tracking database up to the current schema.

A tracking database outlives the library version that created it (a shared PostgreSQL
registry is upgraded one Airflow image at a time), so every schema change is a numbered,
idempotent step in :data:`MIGRATIONS`, and the ``schema_version`` table records the last
step applied. Opening a database runs the missing steps automatically, under a lock (see
:mod:`pyfunc_ops.tracking.engine`), so concurrent first connections do not race.

A brand-new database is created straight from the current metadata and stamped with the
latest version: replaying history would produce the same tables, only slower.

To change the schema: edit :mod:`pyfunc_ops.tracking.schema`, then append a step here that
makes the same change to an existing database (``add_table`` / ``add_column`` are
idempotent, so a step that died half-way can simply run again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, String, Table, inspect, select
from sqlalchemy.schema import CreateColumn

from pyfunc_ops.errors import TrackingStoreError
from pyfunc_ops.tracking import schema

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """One schema step: ``apply`` turns version ``version - 1`` into ``version``."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def add_table(conn: Connection, table: Table) -> None:
    """Create ``table`` (and its indexes) unless it exists."""
    table.create(conn, checkfirst=True)


def add_column(conn: Connection, table_name: str, column: Column[Any]) -> None:
    """Add ``column`` to ``table_name`` unless it is there. The column must be nullable or
    have a server default, as existing rows need a value."""
    existing = {c["name"] for c in inspect(conn).get_columns(table_name)}
    if column.name in existing:
        return
    ddl = CreateColumn(column).compile(dialect=conn.dialect)
    preparer = conn.dialect.identifier_preparer
    conn.exec_driver_sql(f"ALTER TABLE {preparer.quote(table_name)} ADD COLUMN {ddl}")


def _initial_schema(conn: Connection) -> None:
    for table in (
        schema.runs,
        schema.params,
        schema.metrics,
        schema.run_tags,
        schema.registered_models,
        schema.registered_model_tags,
        schema.model_versions,
        schema.model_version_tags,
        schema.registered_model_aliases,
    ):
        add_table(conn, table)


def _version_digests(conn: Connection) -> None:
    add_column(conn, schema.model_versions.name, Column("digest", String(80), nullable=True))


#: Every schema step, in order. Append only; never edit or renumber a released step.
MIGRATIONS: list[Migration] = [
    Migration(1, "runs, params, metrics, tags and the model registry", _initial_schema),
    Migration(2, "the manifest digest of each model version", _version_digests),
]


def latest_version(steps: Sequence[Migration] | None = None) -> int:
    """The schema version this code writes."""
    steps = MIGRATIONS if steps is None else steps
    return steps[-1].version if steps else 0


def current_version(conn: Connection) -> int | None:
    """The version recorded in the database; ``None`` for an empty database and ``0`` for
    tracking tables that predate versioning."""
    tables = set(inspect(conn).get_table_names())
    if schema.schema_version.name not in tables:
        known = {t.name for t in schema.metadata.sorted_tables}
        return 0 if tables & known else None
    value = conn.execute(select(schema.schema_version.c.version)).scalar()
    return 0 if value is None else int(value)


def _stamp(conn: Connection, version: int) -> None:
    table = schema.schema_version
    if conn.execute(select(table.c.id).where(table.c.id == 1)).first() is None:
        conn.execute(table.insert().values(id=1, version=version))
    else:
        conn.execute(table.update().where(table.c.id == 1).values(version=version))


def upgrade(conn: Connection, url_for_messages: str = "") -> int:
    """Create or upgrade the schema through ``conn`` (inside the caller's transaction, which
    holds the migration lock). Returns the version the database is at afterwards."""
    latest = latest_version()
    current = current_version(conn)
    where = f" at {url_for_messages}" if url_for_messages else ""
    if current is None:
        logger.info("creating the tracking schema (version %d)%s", latest, where)
        schema.metadata.create_all(conn)
        _stamp(conn, latest)
        return latest
    if current > latest:
        raise TrackingStoreError(
            f"tracking database{where} has schema version {current}, newer than the "
            f"version {latest} this pyfunc_ops understands; upgrade pyfunc_ops on this "
            "machine (a newer release wrote to this database)"
        )
    if current == latest:
        return current
    if current == 0:
        add_table(conn, schema.schema_version)
    for step in MIGRATIONS:
        if step.version > current:
            logger.info(
                "upgrading the tracking schema%s to version %d: %s",
                where,
                step.version,
                step.description,
            )
            step.apply(conn)
            _stamp(conn, step.version)
    return latest
