"""The SQL tracking backend: SQLite and PostgreSQL through SQLAlchemy.

The backend registry (:mod:`pyfunc_ops.tracking.backends`) names this module for the
``sqlite``, ``postgresql`` and ``postgres`` schemes. It checks and normalizes their URLs,
names a SQLite file's missing folder (so a connection test creates nothing) and opens the
stores: :class:`~pyfunc_ops.tracking.runs.RunStore` and
:class:`~pyfunc_ops.tracking.registry.RegistryStore` on the per-process engine of
:mod:`pyfunc_ops.tracking.engine` (which ensures the schema on first use).
"""

from __future__ import annotations

import os

from pyfunc_ops import config
from pyfunc_ops.tracking.engine import get_engine
from pyfunc_ops.tracking.registry import RegistryStore
from pyfunc_ops.tracking.runs import RunStore
from pyfunc_ops.tracking.store import Stores
from pyfunc_ops.tracking.uri import check_authority, normalize_tracking_uri, refuse

__all__ = ["missing_location", "normalize_uri", "open_stores"]


def normalize_uri(uri: str) -> str:
    """A SQLite or PostgreSQL URL, checked; ``postgresql://`` and ``postgres://`` pick
    psycopg 3, the driver the ``postgres`` extra installs, instead of SQLAlchemy's default
    psycopg2."""
    scheme, _, rest = uri.partition(":")
    scheme = scheme.lower()
    dialect = scheme.split("+", 1)[0]
    if dialect == "sqlite":
        if rest != "//" and not rest.startswith("///"):
            raise refuse(uri, "a SQLite URL is 'sqlite:///<path>' (three slashes, then the path)")
        return uri
    check_authority(uri)
    if "+" in scheme:
        return "postgresql" + scheme[len(dialect) :] + ":" + rest
    return "postgresql+psycopg:" + rest


def open_stores(uri: str) -> Stores:
    """The stores of the database at ``uri``. The engine is looked up on every call (a
    dict lookup) rather than kept, so a store never holds an engine the cache has disposed
    of, nor one inherited across a fork."""
    engine = get_engine(uri)
    return Stores(RunStore(engine), RegistryStore(engine))


def missing_location(url: str) -> str | None:
    """The folder the SQLite file of ``url`` would need but that does not exist, else
    ``None``: always for PostgreSQL, an in-memory database and the default store (the
    SQLite file in ``PYFUNC_OPS_HOME``, which is created on purpose)."""
    if not url.lower().startswith("sqlite"):
        return None
    if url == normalize_tracking_uri(config.current_settings().default_tracking_uri):
        return None
    database = url.split("://", 1)[1][1:] if "://" in url else ""
    database = database.split("?", 1)[0]
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        return None
    folder = os.path.dirname(os.path.abspath(database)) or "."
    return None if os.path.isdir(folder) else folder
