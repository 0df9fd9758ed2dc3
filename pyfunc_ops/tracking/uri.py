"""Which tracking store the process talks to.

Precedence, first match wins:

1. the ``tracking_uri`` of the innermost :func:`pyfunc_ops.config.use_settings` scope (an
   Airflow connection's, applied by the hook for one task or trigger): it is the narrower
   choice, made for this thread or asyncio task only;
2. :func:`set_tracking_uri`, a process-wide override (not per thread) for scripts and
   notebooks that configure the store once for every helper they call;
3. ``PYFUNC_OPS_TRACKING_URI``;
4. the SQLite file in the local store folder (``PYFUNC_OPS_HOME``).
"""

from __future__ import annotations

import os
import threading

from pyfunc_ops import config

_lock = threading.Lock()
_override: str | None = None


# -- http(s): an MLflow tracking server (the REST store, pyfunc_ops.tracking.rest) --------


def is_server_uri(uri: str) -> bool:
    """Whether ``uri`` names an MLflow tracking server (``http://`` or ``https://``)."""
    return str(uri).strip().lower().startswith(("http://", "https://"))


# -----------------------------------------------------------------------------------------


def normalize_tracking_uri(uri: str) -> str:
    """An SQLAlchemy URL for ``uri``; a bare file path means a SQLite file there.

    ``postgresql://`` and ``postgres://`` pick psycopg 3, the driver the ``postgres`` extra
    installs, instead of SQLAlchemy's default psycopg2. An ``http(s)://`` URL (an MLflow
    tracking server) is kept as given, without a trailing ``/``.
    """
    uri = str(uri).strip()
    if is_server_uri(uri):
        return uri.rstrip("/")
    if "://" not in uri and not uri.startswith("sqlite:"):
        return f"sqlite:///{os.path.abspath(os.path.expanduser(uri))}"
    for prefix in ("postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    return uri


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Use ``uri`` (an SQLAlchemy URL or a SQLite file path) for this process;
    ``None`` goes back to ``PYFUNC_OPS_TRACKING_URI`` / the default.

    A ``use_settings`` scope whose ``tracking_uri`` is set still wins inside its block.
    """
    global _override
    with _lock:
        _override = None if uri is None else normalize_tracking_uri(os.fspath(uri))


def get_tracking_uri() -> str:
    """The tracking URL in effect: a ``use_settings`` scope's, else ``set_tracking_uri``'s,
    else the environment's, else the SQLite file in the local store folder."""
    scoped = config.scoped_settings()
    if scoped is not None and scoped.tracking_uri:
        return normalize_tracking_uri(scoped.tracking_uri)
    with _lock:
        if _override is not None:
            return _override
    return normalize_tracking_uri(config.tracking_uri())
