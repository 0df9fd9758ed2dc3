"""The tracking backend registry: which module serves each tracking URI scheme.

One line per scheme (fsspec's lazy registry of backends is the model): the scheme, the
dotted path of the backend module, what to ``pip install`` when that module's imports are
missing, and how its URIs are written (for error messages and the Airflow connection
form). A backend module is imported on first use only, so importing this table costs
nothing, and a new backend is one module plus one line here (see "Adding a tracking
backend" in docs/architecture.md). Everything that needs to know which store a URI names
asks :func:`backend_for`, :func:`is_tracking_uri` or :func:`open_store`; nothing else
branches on a URI's kind.

A backend module offers two functions:

- ``normalize_uri(uri: str) -> str``: the canonical form of a URI of its schemes, or
  :class:`~pyfunc_ops.errors.InvalidURIError` (use :func:`pyfunc_ops.tracking.uri.refuse`
  for the wording, which lists the accepted forms);
- ``open_stores(uri: str) -> pyfunc_ops.tracking.store.Stores``: its run and registry
  stores (subclasses of the store base) for a normalized URI;

and optionally ``missing_location(uri: str) -> str | None``: what opening the store would
create (a SQLite file's folder), so a connection test can refuse a typo instead.

A value without a ``scheme:`` prefix is a SQLite file path (:mod:`pyfunc_ops.tracking.uri`).
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, cast

from pyfunc_ops.core.redact import redact
from pyfunc_ops.core.uri import SCHEME
from pyfunc_ops.errors import InvalidURIError

if TYPE_CHECKING:
    from pyfunc_ops.tracking.store import Stores

__all__ = [
    "BACKENDS",
    "BackendSpec",
    "backend_for",
    "connection_form_text",
    "is_tracking_uri",
    "load_backend",
    "open_store",
    "register_backend",
    "unregister_backend",
    "uri_scheme",
]


@dataclass(frozen=True)
class BackendSpec:
    """One registry line: see the module docstring.

    :param scheme: the URI scheme, lower case (``sqlite``; ``postgresql+psycopg://`` is
        ``postgresql`` with a driver).
    :param module: the dotted path of the backend module.
    :param install: what to ``pip install`` when the module's imports are missing.
    :param forms: lines of the accepted-forms list: ``"<example>   <meaning>"``.
    :param label: how the connection form names this kind of URI ("" to leave it out).
    """

    scheme: str
    module: str
    install: str
    forms: tuple[str, ...] = ()
    label: str = ""


_SQL = "pyfunc_ops.tracking.sql"
_REST = "pyfunc_ops.tracking.rest"

_SPECS = (
    BackendSpec(
        "postgresql",
        _SQL,
        "pyfunc-ops[postgres]",
        (
            "postgresql://user:password@host:5432/db     PostgreSQL (also postgres://, "
            "postgresql+psycopg://)",
        ),
        "an SQLAlchemy URL (`postgresql://...`)",
    ),
    BackendSpec("postgres", _SQL, "pyfunc-ops[postgres]"),
    BackendSpec(
        "sqlite",
        _SQL,
        "pyfunc-ops",
        (
            "sqlite:////abs/path/tracking.db             a SQLite file (four slashes: "
            "absolute path)",
            "sqlite:///rel/path/tracking.db              a SQLite file relative to the working "
            "directory",
            "sqlite://                                   an in-memory SQLite database",
        ),
        "a SQLite file path",
    ),
    BackendSpec(
        "http",
        _REST,
        "pyfunc-ops",
        ("http(s)://host:5000                         an MLflow tracking server (its REST API)",),
        "the http(s) URL of an MLflow tracking server (`https://user:pw@mlflow:5000`)",
    ),
    BackendSpec("https", _REST, "pyfunc-ops"),
)

_lock = threading.Lock()
_registry: dict[str, BackendSpec] = {s.scheme: s for s in _SPECS}

#: scheme -> spec; read-only to the outside (add a line with :func:`register_backend`).
BACKENDS: Mapping[str, BackendSpec] = MappingProxyType(_registry)

_SCHEME = re.compile(rf"^(?P<scheme>{SCHEME})://")


def register_backend(spec: BackendSpec, replace: bool = False) -> None:
    """Add a backend line (a plugin's, or a test's); ``replace`` to override one."""
    with _lock:
        if spec.scheme in _registry and not replace:
            raise ValueError(
                f"tracking URI scheme {spec.scheme!r} is served by {_registry[spec.scheme].module}"
                " already; pass replace=True to override it"
            )
        _registry[spec.scheme] = spec


def unregister_backend(scheme: str) -> None:
    """Remove the line of ``scheme`` (a test's toy backend, once the test is over)."""
    with _lock:
        _registry.pop(scheme, None)


def uri_scheme(uri: str) -> str | None:
    """The lower-case scheme of ``uri`` without its driver (``postgresql+psycopg://`` ->
    ``postgresql``); ``None`` when it does not start with ``<scheme>://``."""
    match = _SCHEME.match(str(uri).strip())
    return match["scheme"].lower().split("+", 1)[0] if match else None


def backend_for(uri: str) -> BackendSpec | None:
    """The backend serving ``uri``, or ``None`` when ``uri`` is not a tracking URI of a
    known scheme (a storage location, a file path, a typo)."""
    scheme = uri_scheme(uri)
    return None if scheme is None else BACKENDS.get(scheme)


def is_tracking_uri(text: str) -> bool:
    """Whether ``text`` names a tracking store (``sqlite://...``, ``postgresql://...``,
    ``http(s)://...``, any registered scheme) rather than a storage location. The CLI asks
    this to tell ``--to <registry>`` from ``--to <folder or bucket>``."""
    return backend_for(text) is not None


def load_backend(spec: BackendSpec) -> ModuleType:
    """The backend module of ``spec``, imported now if it was not."""
    try:
        return importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        raise InvalidURIError(
            f"tracking URI scheme {spec.scheme!r} needs the Python module {exc.name!r}, which "
            f"is not installed; install {spec.install!r}"
        ) from exc


def open_store(uri: str) -> Stores:
    """The run and registry stores of the tracking URL ``uri`` (as
    :func:`pyfunc_ops.tracking.uri.normalize_tracking_uri` returns it)."""
    spec = backend_for(uri)
    if spec is None:
        raise InvalidURIError(
            f"tracking URI {redact(uri)!r} names no tracking backend; known schemes: "
            f"{', '.join(sorted(BACKENDS))}"
        )
    return cast("Stores", load_backend(spec).open_stores(uri))


def connection_form_text() -> str:
    """How the Airflow connection form describes a tracking URI: every labelled backend."""
    labels = [s.label for s in BACKENDS.values() if s.label]
    return ", ".join(labels[:-1]) + (", or " if len(labels) > 1 else "") + labels[-1]
