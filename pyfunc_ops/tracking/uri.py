"""Which tracking store the process talks to.

``set_tracking_uri`` overrides ``PYFUNC_OPS_TRACKING_URI`` for this process only; it is a
process-wide setting (not per thread) because a DAG task configures it once and every
helper it calls must see the same store.
"""

from __future__ import annotations

import os
import threading

from pyfunc_ops import config

_lock = threading.Lock()
_override: str | None = None


def normalize_tracking_uri(uri: str) -> str:
    """An SQLAlchemy URL for ``uri``; a bare file path means a SQLite file there.

    ``postgresql://`` and ``postgres://`` pick psycopg 3, the driver the ``postgres`` extra
    installs, instead of SQLAlchemy's default psycopg2.
    """
    uri = str(uri).strip()
    if "://" not in uri and not uri.startswith("sqlite:"):
        return f"sqlite:///{os.path.abspath(os.path.expanduser(uri))}"
    for prefix in ("postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    return uri


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Use ``uri`` (an SQLAlchemy URL or a SQLite file path) for this process;
    ``None`` goes back to ``PYFUNC_OPS_TRACKING_URI`` / the default."""
    global _override
    with _lock:
        _override = None if uri is None else normalize_tracking_uri(os.fspath(uri))


def get_tracking_uri() -> str:
    """The tracking URL in effect: ``set_tracking_uri``, else the environment, else the
    SQLite file in the local store folder."""
    with _lock:
        if _override is not None:
            return _override
    return normalize_tracking_uri(config.tracking_uri())
