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
from pyfunc_ops.core.uri import SCHEME
from pyfunc_ops.errors import InvalidURIError
from pyfunc_ops.tracking import backends

_lock = threading.Lock()
_override: str | None = None


def _accepted_forms() -> str:
    """The accepted tracking URI forms, from the backend registry."""
    lines = [
        "Accepted tracking URI forms (PYFUNC_OPS_TRACKING_URI, set_tracking_uri, a connection):",
        "  /abs/path/tracking.db or rel/path.db        a SQLite file (a path with no 'word:' "
        "prefix)",
    ]
    lines += [f"  {form}" for spec in backends.BACKENDS.values() for form in spec.forms]
    return "\n".join(lines)


_SCHEME_PREFIX = re.compile(rf"^(?P<scheme>{SCHEME}):")
_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[^:/?#\[\]]*)(?::(?P<port>[^/?#]*))?$")


def refuse(uri: str, problem: str) -> InvalidURIError:
    """The error for an unusable tracking URI: the problem, then the accepted forms."""
    return InvalidURIError(
        f"tracking URI {redact(uri)!r} is not usable: {problem}.\n{_accepted_forms()}"
    )


def check_authority(uri: str) -> None:
    """Refuse a server URL whose ``scheme:`` is not followed by ``//`` and a
    ``user:password@host:port`` part with a host and a numeric port. One check for every
    server backend, so they refuse the same mistakes with the same words."""
    scheme, _, rest = uri.partition(":")
    if not rest.startswith("//"):
        raise refuse(uri, f"expected '{scheme.lower()}://' (two slashes) before the host")
    authority = rest[2:].split("/", 1)[0].split("?", 1)[0]
    hostport = authority.rpartition("@")[2]
    match = _HOST_PORT.match(hostport)
    port = match["port"] if match else None
    if match is None or (port is not None and not (port.isdigit() and 0 < int(port) < 65536)):
        raise refuse(uri, f"the port in {redact(hostport)!r} is not a number from 1 to 65535")
    if not hostport.split(":", 1)[0] and not authority.startswith("["):
        raise refuse(uri, "the host name is missing after '://'")


def is_server_uri(uri: str) -> bool:
    """Whether ``uri`` names an MLflow tracking server (a scheme the REST backend serves)."""
    spec = backends.backend_for(uri)
    return spec is not None and spec.module == "pyfunc_ops.tracking.rest"


def normalize_tracking_uri(uri: str) -> str:
    """The canonical tracking URL for ``uri``; a bare file path means a SQLite file there.

    Strict on purpose: a mistyped URL (``postgresql:/alice:pw@db/reg``, ``sqlit:///x``)
    must fail here, naming the accepted forms, instead of being taken for a relative
    SQLite path and silently creating a database in a folder named after the URL. A value
    counts as a file path only when it has no ``word:`` prefix (one letter is a Windows
    drive). A URL with a scheme is checked and normalized by the backend the registry
    (:mod:`pyfunc_ops.tracking.backends`) names for that scheme: SQLite and PostgreSQL
    (``postgresql://`` picks psycopg 3) by :mod:`pyfunc_ops.tracking.sql`, an MLflow
    tracking server (``http(s)://``, kept without a trailing ``/``) by
    :mod:`pyfunc_ops.tracking.rest`. Raises :class:`InvalidURIError` listing the accepted
    forms.
    """
    if not isinstance(uri, str):
        raise refuse(repr(uri), f"expected a string, found {type(uri).__name__}")
    uri = uri.strip()
    if not uri:
        raise refuse(uri, "it is empty")
    if "\x00" in uri or not uri.isprintable():
        raise refuse(uri, "it contains a NUL or control character")
    prefix = _SCHEME_PREFIX.match(uri)
    if prefix is None and "://" in uri:
        raise refuse(uri, "it is not an SQLAlchemy URL (no '<database>://' at its start)")
    if prefix is None or len(prefix["scheme"]) == 1:
        return f"sqlite:///{os.path.abspath(os.path.expanduser(uri))}"
    scheme = prefix["scheme"].lower()
    spec = backends.BACKENDS.get(scheme.split("+", 1)[0])
    if spec is None:
        raise refuse(
            uri,
            f"{scheme!r} names a database driver that is not installed or not supported "
            f"(known schemes: {', '.join(sorted(backends.BACKENDS))})",
        )
    normalized: str = backends.load_backend(spec).normalize_uri(uri)
    return normalized


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
    """The folder the store at ``uri`` would need but that does not exist, else ``None``.

    Opening a store may create its folder (the default store lives in a fresh home); a
    connection test or a sensor must not: a typo in a path would otherwise "succeed" and
    leave an empty database behind. The backend answers (its optional
    ``missing_location``); only a SQLite file has a folder to miss.
    """
    url = normalize_tracking_uri(uri)
    spec = backends.backend_for(url)
    check = getattr(backends.load_backend(spec), "missing_location", None) if spec else None
    return None if check is None else check(url)  # type: ignore[no-any-return]
