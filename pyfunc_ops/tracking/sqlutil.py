"""Small SQL helpers shared by the run store and the registry store."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, select


def now_ms() -> int:
    """Wall-clock time in integer milliseconds, the unit of every stored timestamp."""
    return int(time.time() * 1000)


def upsert(
    conn: Connection,
    table: Table,
    key: Mapping[str, Any],
    values: Mapping[str, Any],
) -> None:
    """Insert a row, or update ``values`` on the row matching the primary ``key``.

    PostgreSQL and SQLite do it in one ``INSERT ... ON CONFLICT`` statement, so two writers
    setting the same tag cannot collide; other databases fall back to update-then-insert.
    """
    dialect = conn.dialect.name
    row = {**key, **values}
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(table).values(row)
        conn.execute(pg.on_conflict_do_update(index_elements=list(key), set_=dict(values)))
        return
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(table).values(row)
        conn.execute(lite.on_conflict_do_update(index_elements=list(key), set_=dict(values)))
        return
    where = and_(*(table.c[name] == value for name, value in key.items()))
    if conn.execute(table.update().where(where).values(**values)).rowcount == 0:
        conn.execute(table.insert().values(row))


def in_chunks(values: Sequence[Any], size: int = 500) -> list[Sequence[Any]]:
    """``values`` cut into pieces small enough for an ``IN (...)`` list on any database."""
    return [values[i : i + size] for i in range(0, len(values), size)] or [[]]


def exists_row(conn: Connection, table: Table, **key: Any) -> bool:
    """Whether a row with these column values exists."""
    where = and_(*(table.c[name] == value for name, value in key.items()))
    return conn.execute(select(1).select_from(table).where(where).limit(1)).first() is not None
