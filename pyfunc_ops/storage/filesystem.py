"""One way to get an fsspec filesystem for a URL, with endpoints and credentials applied.

Every transfer goes through :func:`get_filesystem` so that storage options are decided in
one place. Options come from, lowest precedence first:

1. the environment: for S3, ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (S3-compatible
   servers such as MinIO) and the ``AWS_*`` key variables, so that a changed environment
   yields a fresh filesystem instead of fsspec's cached one with stale credentials;
2. the settings' ``storage_options`` (:class:`pyfunc_ops.config.Settings`): the current
   ones (a :func:`~pyfunc_ops.config.use_settings` scope, which is how the Airflow hook
   applies a connection's endpoint and credentials), or those passed in.

There is no process-wide registry: two threads or asyncio tasks with different settings
get different filesystems. Backends are imported by fsspec on first use, so ``s3fs`` is
only imported for ``s3://``.

S3 filesystems never create buckets: s3fs's ``makedirs`` (and ``put`` of a folder) creates
a missing bucket, so ``predict -o s3://typo/x`` used to leave a bucket named ``typo``
behind. :func:`get_filesystem` returns a subclass whose ``mkdir`` refuses a missing bucket
with :class:`~pyfunc_ops.errors.StorageError` naming it; buckets are made by whoever
administers the store.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from typing import Any

import fsspec

from pyfunc_ops.config import Settings, current_settings
from pyfunc_ops.core.redact import redact
from pyfunc_ops.core.uri import canonical_location, is_url
from pyfunc_ops.errors import InvalidURIError, PyfuncOpsError, StorageError

__all__ = [
    "get_filesystem",
    "get_storage_options",
]

log = logging.getLogger(__name__)

_S3_PROTOCOLS = ("s3", "s3a")
_INSTALL_HINTS = {
    "s3": "pip install 'pyfunc-ops[s3]'",
    "gs": "pip install gcsfs",
    "gcs": "pip install gcsfs",
    "abfs": "pip install adlfs",
    "az": "pip install adlfs",
}


def _canonical(protocol: str) -> str:
    protocol = protocol.lower()
    return "s3" if protocol in _S3_PROTOCOLS else protocol


def _configured_options(settings: Settings, protocol: str) -> dict[str, Any]:
    """The settings' options for ``protocol``; ``s3`` and ``s3a`` entries are one (``s3``
    wins where both set a key)."""
    if protocol != "s3":
        return settings.options_for(protocol)
    options: dict[str, Any] = {}
    for alias in reversed(_S3_PROTOCOLS):
        options = _merge(options, settings.options_for(alias))
    return options


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


def s3_options(
    base: Mapping[str, Any] | None = None,
    *,
    key: str | None = None,
    secret: str | None = None,
    token: str | None = None,
    endpoint_url: str | None = None,
    region_name: str | None = None,
) -> dict[str, Any]:
    """s3fs keyword arguments: ``base`` with the given credentials, endpoint and region
    over it (each only when set). The endpoint and region go in ``client_kwargs``, where
    ``AWS_ENDPOINT_URL`` goes, so a connection's endpoint replaces the environment's
    instead of competing with it. One home for the hooks that turn a connection into
    storage options (the ``pyfunc_ops`` one and the Amazon provider's)."""
    client_kwargs = {
        name: value
        for name, value in (("endpoint_url", endpoint_url), ("region_name", region_name))
        if value
    }
    over: dict[str, Any] = {"client_kwargs": client_kwargs} if client_kwargs else {}
    over.update({n: v for n, v in (("key", key), ("secret", secret), ("token", token)) if v})
    return _merge(dict(base or {}), over)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = {**merged[name], **value}
        else:
            merged[name] = value
    return merged


_MLFLOW_ARTIFACTS = "mlflow-artifacts"
_MLFLOW_ARTIFACTS_CLASS = "pyfunc_ops.tracking.rest.artifacts.MlflowArtifactsFileSystem"


def get_storage_options(protocol: str, settings: Settings | None = None) -> dict[str, Any]:
    """The options :func:`get_filesystem` passes for ``protocol`` (a copy, safe to change).

    ``settings`` defaults to :func:`~pyfunc_ops.config.current_settings`; their
    ``storage_options`` are merged over the environment's, a dict value such as
    ``client_kwargs`` key by key.
    """
    key = _canonical(protocol)
    settings = settings if settings is not None else current_settings()
    return _merge(_environment_options(key), _configured_options(settings, key))


def _with_network(protocol: str, settings: Settings) -> dict[str, Any]:
    """The storage options for ``protocol`` over the network defaults (timeouts, retries)."""
    return _merge(
        _network_options(_canonical(protocol), settings), get_storage_options(protocol, settings)
    )


def _network_options(protocol: str, settings: Settings) -> dict[str, Any]:
    """Timeouts and a bounded retry budget for the backends that talk to a network, from
    the settings (``connect_timeout``, ``read_timeout``, ``max_retries``): without them
    s3fs waits for a stalled endpoint without end. Storage options a caller configures
    win key by key.

    S3: botocore's own retries (``max_retries`` after the first attempt) and none of
    s3fs's on top (they would multiply); a stalled endpoint fails after
    ``(max_retries + 1) * read_timeout`` seconds and a little backoff (45 s with the
    defaults).
    """
    if protocol == "s3":
        return {
            "config_kwargs": {
                "connect_timeout": settings.connect_timeout,
                "read_timeout": settings.read_timeout,
                "retries": {"max_attempts": settings.max_retries + 1, "mode": "standard"},
            },
        }
    if protocol in ("http", "https"):
        # fsspec's HTTP backend (aiohttp): no timeout at all by default.
        try:
            import aiohttp
        except ImportError:  # the backend itself reports what to install
            return {}

        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
        )
        return {"client_kwargs": {"timeout": timeout}}
    return {}


def _protocols(url: str) -> list[str]:
    if not is_url(url):
        return ["file"]
    head = url.split("://", 1)[0]
    return [part.lower() for part in head.split("::")]


def get_filesystem(
    url: str, settings: Settings | None = None
) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem for ``url`` and the path within it (``fsspec.core.url_to_fs``).

    Storage options come from ``settings`` (default: the current settings), see
    :func:`get_storage_options`. Plain local paths are accepted too. Unknown protocols
    raise :class:`InvalidURIError`; a missing backend package raises
    :class:`StorageError` with the command to install it.
    """
    settings = settings if settings is not None else current_settings()
    url = canonical_location(url)
    protocols = _protocols(url)
    if protocols[-1] == _MLFLOW_ARTIFACTS and _MLFLOW_ARTIFACTS not in fsspec.registry:
        # The tracking server's proxied artifacts: our own backend (in the tracking layer,
        # above this one, so named by its dotted path), imported by fsspec on first use.
        # It raises a clear error when the tracking URI is not a server.
        fsspec.register_implementation(_MLFLOW_ARTIFACTS, _MLFLOW_ARTIFACTS_CLASS, clobber=True)
    if len(protocols) == 1:
        kwargs = _with_network(protocols[0], settings)
    else:
        kwargs = {p: opts for p in protocols if (opts := _with_network(p, settings))}
    try:
        if len(protocols) == 1 and _canonical(protocols[0]) == "s3":
            fs, path = _s3_filesystem(url, kwargs)
        else:
            fs, path = fsspec.core.url_to_fs(url, **kwargs)
    except PyfuncOpsError:
        raise  # a backend of ours explained it already (mlflow-artifacts without a server)
    except ImportError as exc:
        hint = _INSTALL_HINTS.get(_canonical(protocols[-1]), "install its fsspec backend")
        raise StorageError(
            f"Cannot access {redact(url)!r}: the fsspec backend for {protocols[-1]!r} is not "
            f"installed ({redact(str(exc))}). Install it: {hint}."
        ) from exc
    except ValueError as exc:
        if "protocol" in str(exc).lower():
            raise InvalidURIError(
                f"Cannot access {redact(url)!r}: fsspec knows no protocol {protocols[-1]!r} "
                f"({redact(str(exc))}). Check the spelling, e.g. s3://, gs://, memory://."
            ) from exc
        raise StorageError(
            f"Cannot open a filesystem for {redact(url)!r}: {redact(str(exc))}"
        ) from exc
    return fs, path


def _s3_filesystem(url: str, options: dict[str, Any]) -> tuple[fsspec.AbstractFileSystem, str]:
    """What ``fsspec.core.url_to_fs`` gives for an ``s3://`` URL, as a filesystem that
    never creates buckets."""
    cls = _no_bucket_creation_class()
    kwargs = {**cls._get_kwargs_from_urls(url), **options}
    return cls(**kwargs), cls._strip_protocol(url)


@functools.cache
def _no_bucket_creation_class() -> type[fsspec.AbstractFileSystem]:
    """s3fs's filesystem with ``mkdir``/``makedirs`` refusing a bucket that does not exist
    (built on first use so that importing this module does not import s3fs)."""
    from fsspec.asyn import sync_wrapper
    from s3fs import S3FileSystem

    class NoBucketCreationS3FileSystem(S3FileSystem):  # type: ignore[misc]
        # botocore retries (max_attempts, from the settings); s3fs's own retries on top
        # would multiply the wait on a stalled endpoint.
        retries = 1

        async def _mkdir(
            self, path: str, acl: Any = False, create_parents: bool = True, **kwargs: Any
        ) -> None:
            bucket, _key, _ = self.split_path(self._strip_protocol(path).rstrip("/"))
            if bucket and not await self._exists(bucket):
                raise StorageError(
                    f"Cannot write to s3://{path.removeprefix('s3://')}: the bucket "
                    f"{bucket!r} does not exist on the configured S3 endpoint. pyfunc_ops "
                    "never creates buckets: check the spelling of the URL, or create the "
                    "bucket first (e.g. aws s3 mb s3://" + bucket + ")."
                )
            await super()._mkdir(path, acl=acl, create_parents=create_parents, **kwargs)

        # s3fs binds its sync ``mkdir`` to its own ``_mkdir``: bind it to the override.
        mkdir = sync_wrapper(_mkdir)

    # One instance cache with s3fs's (tokens include the class, so entries never mix):
    # S3FileSystem.clear_instance_cache(), which callers use after changing credentials
    # or patching s3fs, then clears these instances too.
    NoBucketCreationS3FileSystem._cache = S3FileSystem._cache
    # Importable by name (module __getattr__ below), so instances pickle (Spark, spawn).
    NoBucketCreationS3FileSystem.__module__ = __name__
    NoBucketCreationS3FileSystem.__qualname__ = "NoBucketCreationS3FileSystem"
    return NoBucketCreationS3FileSystem


def __getattr__(name: str) -> Any:
    if name == "NoBucketCreationS3FileSystem":
        return _no_bucket_creation_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
