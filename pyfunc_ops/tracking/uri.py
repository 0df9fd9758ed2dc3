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
import re
import threading

from pyfunc_ops import config
from pyfunc_ops.core.redact import redact
from pyfunc_ops.errors import InvalidURIError

_lock = threading.Lock()
_override: str | None = None


ACCEPTED_TRACKING_FORMS = """\
Accepted tracking URI forms (PYFUNC_OPS_TRACKING_URI, set_tracking_uri, a connection):
  /abs/path/tracking.db or rel/path.db        a SQLite file (a path with no 'word:' prefix)
  sqlite:////abs/path/tracking.db             a SQLite file (four slashes: absolute path)
  sqlite:///rel/path/tracking.db              a SQLite file relative to the working directory
  sqlite://                                   an in-memory SQLite database
  postgresql://user:password@host:5432/db     PostgreSQL (also postgres://, postgresql+psycopg://)
  http(s)://host:5000                         an MLflow tracking server (its REST API)"""

_SCHEME_PREFIX = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):")
_POSTGRES_DIALECTS = ("postgresql", "postgres")
_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[^:/?#\[\]]*)(?::(?P<port>[^/?#]*))?$")


def _refuse(uri: str, problem: str) -> InvalidURIError:
    return InvalidURIError(
        f"tracking URI {redact(uri)!r} is not usable: {problem}.\n{ACCEPTED_TRACKING_FORMS}"
    )


def _check_authority(uri: str, rest: str) -> None:
    """The ``user:password@host:port`` part of a server URL: a numeric port, a host."""
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    hostport = authority.rpartition("@")[2]
    match = _HOST_PORT.match(hostport)
    port = match["port"] if match else None
    if match is None or (port is not None and not (port.isdigit() and 0 < int(port) < 65536)):
        raise _refuse(uri, f"the port in {redact(hostport)!r} is not a number from 1 to 65535")
    if not hostport.split(":", 1)[0] and not authority.startswith("["):
        raise _refuse(uri, "the host name is missing after '://'")


# -- http(s): an MLflow tracking server (the REST store, pyfunc_ops.tracking.rest) --------


def is_server_uri(uri: str) -> bool:
    """Whether ``uri`` names an MLflow tracking server (``http://`` or ``https://``)."""
    return str(uri).strip().lower().startswith(("http://", "https://"))


# -----------------------------------------------------------------------------------------


def normalize_tracking_uri(uri: str) -> str:
    """An SQLAlchemy URL for ``uri``; a bare file path means a SQLite file there.

    Strict on purpose: a mistyped URL (``postgresql:/alice:pw@db/reg``, ``sqlit:///x``)
    must fail here, naming the accepted forms, instead of being taken for a relative
    SQLite path and silently creating a database in a folder named after the URL. A value
    counts as a file path only when it has no ``word:`` prefix (one letter is a Windows
    drive). ``http(s)://`` is kept for an MLflow tracking server, which is not supported
    yet. Raises :class:`InvalidURIError` listing the accepted forms.

    ``postgresql://`` and ``postgres://`` pick psycopg 3, the driver the ``postgres`` extra
    installs, instead of SQLAlchemy's default psycopg2. An ``http(s)://`` URL (an MLflow
    tracking server) is kept as given, without a trailing ``/``.
    """
    if not isinstance(uri, str):
        raise _refuse(repr(uri), f"expected a string, found {type(uri).__name__}")
    uri = uri.strip()
    if not uri:
        raise _refuse(uri, "it is empty")
    if "\x00" in uri or not uri.isprintable():
        raise _refuse(uri, "it contains a NUL or control character")
    prefix = _SCHEME_PREFIX.match(uri)
    if prefix is None and "://" in uri:
        raise _refuse(uri, "it is not an SQLAlchemy URL (no '<database>://' at its start)")
    if prefix is None or len(prefix["scheme"]) == 1:
        return f"sqlite:///{os.path.abspath(os.path.expanduser(uri))}"
    scheme = prefix["scheme"].lower()
    dialect = scheme.split("+", 1)[0]
    rest = uri[len(scheme) + 1 :]
    if dialect in ("http", "https"):
        if not rest.startswith("//"):
            raise _refuse(uri, f"expected '{scheme}://' (two slashes) before the host")
        _check_authority(uri, rest[2:])
        return uri.rstrip("/")
    if dialect == "sqlite":
        if rest != "//" and not rest.startswith("///"):
            raise _refuse(uri, "a SQLite URL is 'sqlite:///<path>' (three slashes, then the path)")
        return uri
    if dialect in _POSTGRES_DIALECTS:
        if not rest.startswith("//"):
            raise _refuse(uri, f"expected '{scheme}://' (two slashes) before the host")
        _check_authority(uri, rest[2:])
        if "+" in scheme:
            return "postgresql" + scheme[len(dialect) :] + ":" + rest
        return "postgresql+psycopg:" + rest
    raise _refuse(
        uri,
        f"{scheme!r} names a database driver that is not installed or not supported "
        "(use sqlite or postgresql)",
    )


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


def missing_sqlite_folder(uri: str) -> str | None:
    """The folder a SQLite tracking URI would need but that does not exist, else ``None``.

    Opening the store creates that folder (the default store lives in a fresh home); a
    connection test or a sensor must not: a typo in a path would otherwise "succeed" and
    leave an empty database behind. In-memory and server URLs return ``None``, and so does
    the default store (the SQLite file in ``PYFUNC_OPS_HOME``), which is created on purpose.
    """
    url = normalize_tracking_uri(uri)
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
