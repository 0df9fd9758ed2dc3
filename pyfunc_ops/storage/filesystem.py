"""One way to get an fsspec filesystem for a URL, with endpoints and credentials applied.

Every transfer goes through :func:`get_filesystem` so that storage options are decided in
one place. Options come from, lowest precedence first:

1. the environment: for S3, ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (S3-compatible
   servers such as MinIO) and the ``AWS_*`` key variables, so that a changed environment
   yields a fresh filesystem instead of fsspec's cached one with stale credentials;
2. options registered with :func:`set_storage_options`, which is how the Airflow hook
   injects a connection's endpoint and credentials without touching the environment.

Backends are imported by fsspec on first use, so ``s3fs`` is only imported for ``s3://``.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fsspec

from pyfunc_ops.core.uri import is_url
from pyfunc_ops.errors import InvalidURIError, StorageError

__all__ = [
    "clear_storage_options",
    "get_filesystem",
    "get_registered_options",
    "get_storage_options",
    "set_storage_options",
    "storage_options",
]

log = logging.getLogger(__name__)

_S3_PROTOCOLS = frozenset({"s3", "s3a"})
_INSTALL_HINTS = {
    "s3": "pip install 'pyfunc-ops[s3]'",
    "gs": "pip install gcsfs",
    "gcs": "pip install gcsfs",
    "abfs": "pip install adlfs",
    "az": "pip install adlfs",
}

_registry_lock = threading.Lock()
_registered: dict[str, dict[str, Any]] = {}


def _canonical(protocol: str) -> str:
    protocol = protocol.lower()
    return "s3" if protocol in _S3_PROTOCOLS else protocol


def set_storage_options(protocol: str, **options: Any) -> None:
    """Register fsspec options for every later URL of ``protocol`` (e.g. ``"s3"``).

    They are merged over the options derived from the environment; a dict value such as
    ``client_kwargs`` is merged key by key. Calling with no options forgets the protocol.
    ``s3`` and ``s3a`` share one entry.
    """
    key = _canonical(protocol)
    with _registry_lock:
        if options:
            _registered[key] = copy.deepcopy(options)
        else:
            _registered.pop(key, None)
    log.debug("Storage options for %s set: %s", key, sorted(options))


def clear_storage_options(protocol: str | None = None) -> None:
    """Forget registered options for ``protocol``, or for every protocol."""
    with _registry_lock:
        if protocol is None:
            _registered.clear()
        else:
            _registered.pop(_canonical(protocol), None)


def get_registered_options(protocol: str) -> dict[str, Any]:
    """A copy of what :func:`set_storage_options` registered for ``protocol`` (no env)."""
    with _registry_lock:
        return copy.deepcopy(_registered.get(_canonical(protocol), {}))


@contextmanager
def storage_options(protocol: str, **options: Any) -> Iterator[None]:
    """Register ``options`` for ``protocol`` for the block, then restore the previous ones.

    The registry is process-wide, not per thread: concurrent blocks for the same protocol
    in one process see each other's options.
    """
    previous = get_registered_options(protocol)
    set_storage_options(protocol, **options)
    try:
        yield
    finally:
        set_storage_options(protocol, **previous)


def _environment_options(protocol: str) -> dict[str, Any]:
    if protocol != "s3":
        return {}
    options: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["client_kwargs"] = {"endpoint_url": endpoint}
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        options["key"], options["secret"] = key, secret
        token = os.environ.get("AWS_SESSION_TOKEN")
        if token:
            options["token"] = token
    return options


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = {**merged[name], **value}
        else:
            merged[name] = value
    return merged


def get_storage_options(protocol: str) -> dict[str, Any]:
    """The options :func:`get_filesystem` passes for ``protocol`` (a copy, safe to change)."""
    key = _canonical(protocol)
    with _registry_lock:
        registered = copy.deepcopy(_registered.get(key, {}))
    return _merge(_environment_options(key), registered)


def _protocols(url: str) -> list[str]:
    if not is_url(url):
        return ["file"]
    head = url.split("://", 1)[0]
    return [part.lower() for part in head.split("::")]


def get_filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem for ``url`` and the path within it (``fsspec.core.url_to_fs``).

    Plain local paths are accepted too. Unknown protocols raise :class:`InvalidURIError`;
    a missing backend package raises :class:`StorageError` with the command to install it.
    """
    protocols = _protocols(url)
    if len(protocols) == 1:
        kwargs = get_storage_options(protocols[0])
    else:
        kwargs = {p: opts for p in protocols if (opts := get_storage_options(p))}
    try:
        fs, path = fsspec.core.url_to_fs(url, **kwargs)
    except ImportError as exc:
        hint = _INSTALL_HINTS.get(_canonical(protocols[-1]), "install its fsspec backend")
        raise StorageError(
            f"Cannot access {url!r}: the fsspec backend for {protocols[-1]!r} is not "
            f"installed ({exc}). Install it: {hint}."
        ) from exc
    except ValueError as exc:
        if "protocol" in str(exc).lower():
            raise InvalidURIError(
                f"Cannot access {url!r}: fsspec knows no protocol {protocols[-1]!r} "
                f"({exc}). Check the spelling, e.g. s3://, gs://, memory://."
            ) from exc
        raise StorageError(f"Cannot open a filesystem for {url!r}: {exc}") from exc
    return fs, path
