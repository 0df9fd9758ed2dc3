"""One SQLAlchemy engine per tracking URL per process, with the schema ensured once.

Why a cache: an engine owns a connection pool, and DAG code builds a ``TrackingClient`` per
call; one engine per URL keeps connections (and the schema check) to one per process.
Engines are never shared across a fork: a child process gets its own, because pooled
connections must not be used by two processes.

SQLite needs care to be used by several processes at once (8 Airflow workers registering
models): WAL lets readers run beside the writer, a 30 s busy timeout makes writers wait
instead of failing with "database is locked", and every write transaction starts with
``BEGIN IMMEDIATE`` so it takes the write lock up front. (A deferred transaction that reads
and then writes can fail at once with SQLITE_BUSY, whatever the timeout, if another writer
committed in between; IMMEDIATE also serializes "read max version, insert max + 1".)
Python's sqlite3 module normally issues its own BEGIN; it is switched off so these
statements are the only ones.
"""

from __future__ import annotations

import logging
import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import StaticPool

from pyfunc_ops.core.redact import redact
from pyfunc_ops.errors import InvalidURIError, PyfuncOpsError, TrackingStoreError
from pyfunc_ops.tracking import migrations

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 30
_WRITE_OPTION = "pyfunc_ops_write"
# Any fixed 64-bit number works; derived from a name so it is recognisable in pg_locks.
_PG_MIGRATION_LOCK = zlib.crc32(b"pyfunc_ops.tracking.migrations")

_FILE_IDENTITY = "pyfunc_ops_sqlite_file"

_lock = threading.Lock()
_engines: dict[str, tuple[int, Engine]] = {}


def _reason(exc: BaseException) -> str:
    """The first line of a driver's error, redacted: drivers quote connection strings."""
    text = str(exc).strip().splitlines()
    return redact(text[0] if text else type(exc).__name__)


def _parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise InvalidURIError(
            f"tracking URI {redact(url)!r} is not an SQLAlchemy URL ({redact(str(exc))}); "
            "expected for example 'sqlite:////abs/path/tracking.db' or "
            "'postgresql+psycopg://user:password@host:5432/dbname' "
            "(set PYFUNC_OPS_TRACKING_URI or call set_tracking_uri)"
        ) from None


def _identity(database: str) -> tuple[int, int] | None:
    """The (device, inode) of a SQLite file; ``None`` if there is no file at that path."""
    try:
        st = os.stat(database)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _check_same_file(engine: Engine, conn: Connection) -> None:
    """Refuse to work on a SQLite file that was deleted or replaced under this process.

    A connection keeps the inode it opened: writes into a deleted file succeed and are
    lost with it, and a replaced file is another registry. Checked inside the transaction
    (after ``BEGIN IMMEDIATE`` for a write), one ``stat`` per transaction. The engine is
    dropped, so the next call opens whatever file is at the path now, with its schema.
    """
    opened = conn.info.get(_FILE_IDENTITY) if engine.dialect.name == "sqlite" else None
    database = engine.url.database
    if opened is None or not database:
        return
    now = _identity(database)
    if now == opened:
        return
    conn.invalidate()
    _forget(engine)
    what = "deleted" if now is None else "replaced by another file"
    raise TrackingStoreError(
        f"the tracking database {database!r} was {what} while this process had it open; "
        "nothing was read or written. Restore the file (or point the tracking URI at the "
        "right one) and retry: the next call opens the file now at that path"
    )


def _forget(engine: Engine) -> None:
    """Drop ``engine`` from the per-process cache and close its idle connections."""
    with _lock:
        for key, (pid, cached) in list(_engines.items()):
            if cached is engine and pid == os.getpid():
                del _engines[key]
    engine.dispose()


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    kwargs: dict[str, Any] = {
        "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    }
    if in_memory:
        # One shared connection, or every checkout would see a different empty database.
        kwargs["poolclass"] = StaticPool
    else:
        os.makedirs(os.path.dirname(os.path.abspath(database)) or ".", exist_ok=True)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, see the module doc
        cursor = dbapi_conn.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL
                record.info[_FILE_IDENTITY] = _identity(database)
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # LIKE is case-sensitive on PostgreSQL (and in the format's filter syntax, where
            # ILIKE is the case-insensitive one); SQLite's is not unless told so.
            cursor.execute("PRAGMA case_sensitive_like=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _create_engine(url_string: str) -> Engine:
    url = _parse_url(url_string)
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        return create_engine(url, pool_pre_ping=True)
    except NoSuchModuleError as exc:
        raise InvalidURIError(
            f"tracking URI {url.render_as_string(hide_password=True)!r} names a database "
            f"driver that is not installed ({redact(str(exc))}); for PostgreSQL install "
            "'pyfunc-ops[postgres]' and use 'postgresql+psycopg://...'"
        ) from exc
    except ModuleNotFoundError as exc:
        raise InvalidURIError(
            f"tracking URI {url.render_as_string(hide_password=True)!r} needs the Python "
            f"module {exc.name!r}, which is not installed; for PostgreSQL install "
            "'pyfunc-ops[postgres]'"
        ) from exc


def _schema_is_current(engine: Engine) -> bool:
    """Whether the database is at this code's schema version, asked in a plain read
    transaction: a reader must never wait for (or take) the write lock just to learn that
    nothing needs doing. With WAL a read runs beside another process's long write."""
    with engine.connect() as conn, conn.begin():
        return migrations.current_version(conn) == migrations.latest_version()


def _ensure_schema(engine: Engine) -> None:
    """Create or upgrade the schema while holding a database-wide lock, only when it is
    not current already (checked first without any write lock)."""
    safe_url = engine.url.render_as_string(hide_password=True)
    if _schema_is_current(engine):
        return
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE_OPTION: True})
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            migrations.upgrade(conn, safe_url)


def get_engine(url: str) -> Engine:
    """The engine for ``url`` in this process, created (and the schema ensured) on first
    use."""
    pid = os.getpid()
    with _lock:
        cached = _engines.get(url)
        if cached is not None and cached[0] == pid:
            return cached[1]
        if cached is not None:
            # Inherited through fork: drop the parent's pool without closing its sockets.
            cached[1].dispose(close=False)
        engine = _create_engine(url)
        try:
            _ensure_schema(engine)
        except PyfuncOpsError:
            engine.dispose()
            raise
        except Exception as exc:
            engine.dispose()
            raise TrackingStoreError(
                f"cannot open the tracking database "
                f"{engine.url.render_as_string(hide_password=True)!r}: {_reason(exc)}; check "
                "that the server is running and the URL, user and password are right"
            ) from None
        _engines[url] = (pid, engine)
        return engine


def dispose_engines(url: str | None = None) -> None:
    """Close the pooled connections of one URL's engine (or of all) and forget it; the next
    ``get_engine`` starts afresh. Tests use it; long-lived processes rarely need it."""
    with _lock:
        urls = list(_engines) if url is None else [url]
        for key in urls:
            cached = _engines.pop(key, None)
            if cached is not None:
                cached[1].dispose(close=cached[0] == os.getpid())


@contextmanager
def _store_errors(engine: Engine) -> Iterator[None]:
    """Report a database that went away (or cannot be opened) after the engine was made as
    :class:`TrackingStoreError`, not as SQLAlchemy's own error. Only operational errors
    are translated: an ``IntegrityError`` is the caller's to handle (a lost race)."""
    try:
        yield
    except (OperationalError, DatabaseError) as exc:
        # A plain DatabaseError is SQLite's "file is not a database" (the file was replaced
        # or damaged); its subclasses (IntegrityError, ProgrammingError) are not outages.
        if not isinstance(exc, OperationalError) and type(exc) is not DatabaseError:
            raise
        raise TrackingStoreError(
            f"the tracking database {engine.url.render_as_string(hide_password=True)!r} "
            f"failed: {_reason(exc.orig or exc)}; check that the server is running and "
            "reachable and that the URL, user and password are right"
        ) from None


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: ``BEGIN IMMEDIATE`` on SQLite, plain elsewhere.
    Commits on success, rolls back on any exception."""
    with _store_errors(engine), engine.connect() as conn:
        conn.execution_options(**{_WRITE_OPTION: True})
        with conn.begin():
            _check_same_file(engine, conn)
            yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: one consistent snapshot for a multi-statement read. On
    SQLite a plain (deferred) ``BEGIN``: it never takes or waits for the write lock."""
    with _store_errors(engine), engine.connect() as conn, conn.begin():
        _check_same_file(engine, conn)
        yield conn
