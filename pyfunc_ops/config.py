"""The settings object: where the registry, artifacts, caches and environments live.

Everything lives under one local store folder unless told otherwise, so a fresh machine
works without any set-up: ``PYFUNC_OPS_HOME`` (default ``~/.pyfunc_ops``) holds the SQLite
registry, the artifact root, the download cache and restored environments.

Configuration is an immutable :class:`Settings` value. It is resolved once, from the
environment (:meth:`Settings.from_env`) or from an Airflow connection (the hook), and
handed down: explicitly, or for a block with :func:`use_settings`, which sets a
``contextvars`` scope. A scope belongs to one thread or asyncio task, so two tasks or
triggers in one process never see each other's registry, artifact root or credentials,
and nothing is ever written to ``os.environ``.

Each public entry point (``load_model``, ``save_model``, the jobs) runs under
:func:`with_settings`: the environment is read at most once per call, however many inner
steps ask for :func:`current_settings`, and a caller's own :func:`use_settings` scope wins.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, ParamSpec, TypeVar

from pyfunc_ops.errors import InvalidParameterError

__all__ = [
    "Settings",
    "current_settings",
    "parse_size",
    "resolved_settings",
    "scoped_settings",
    "use_settings",
    "with_settings",
]

P = ParamSpec("P")
R = TypeVar("R")


def _frozen(options: Mapping[str, Mapping[str, Any]] | None) -> Mapping[str, Mapping[str, Any]]:
    return MappingProxyType(
        {
            protocol.lower(): MappingProxyType(dict(opts))
            for protocol, opts in (options or {}).items()
        }
    )


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build it with :meth:`from_env` or the Airflow hook.

    ``storage_options`` maps an fsspec protocol (``"s3"``) to keyword arguments for its
    filesystem; they are merged over what the environment gives (``AWS_*`` variables).
    ``tracking_uri`` is kept as given; ``None`` there means "not configured", so the
    process-wide ``set_tracking_uri`` or the embedded default applies.

    Which tracking URI applies, first match wins: the ``tracking_uri`` of the innermost
    :func:`use_settings` scope (an Airflow connection's, for a task), then the process-wide
    ``pyfunc_ops.tracking.set_tracking_uri``, then ``PYFUNC_OPS_TRACKING_URI``, then the
    SQLite file in ``home``. A scope wins because it is the narrower choice: a task applies
    its connection for its own duration only, and must not be redirected by a call some
    other code in the process made.
    """

    home: Path
    tracking_uri: str | None
    artifact_root: str
    cache_dir: Path
    env_dir: Path
    # Never in repr: storage options carry credentials.
    storage_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)
    trust_remote_code: bool = False
    # A bearer token for an MLflow tracking server (an Airflow connection's ``token``
    # extra); wins over ``MLFLOW_TRACKING_TOKEN``. Never in repr: it is a credential.
    tracking_token: str | None = field(default=None, repr=False)
    # The download cache's budget in bytes (``PYFUNC_OPS_CACHE_MAX_SIZE``, e.g. ``10G``):
    # after each download the least recently used entries that no process holds are
    # removed until the cache fits. ``None``: no limit (``pyfunc-ops cache prune`` only).
    cache_max_bytes: int | None = None
    # Network timeouts and retries for every remote store (S3 and other fsspec backends,
    # the MLflow REST API): seconds to connect, seconds to wait for the next bytes of an
    # answer, and how many times a failed request is retried. With the defaults a stalled
    # endpoint fails within a minute (PYFUNC_OPS_CONNECT_TIMEOUT, PYFUNC_OPS_READ_TIMEOUT,
    # PYFUNC_OPS_MAX_RETRIES; see docs/reliability.md).
    connect_timeout: float = 10.0
    read_timeout: float = 15.0
    max_retries: int = 2
    # Seconds a process waits for a lock another live process holds (a cache entry being
    # filled, an environment being built) before giving up (PYFUNC_OPS_LOCK_TIMEOUT).
    lock_timeout: float = 600.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "storage_options", _frozen(self.storage_options))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``PYFUNC_OPS_*`` variables (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        home = Path(env.get("PYFUNC_OPS_HOME") or Path.home() / ".pyfunc_ops").absolute()
        cache = env.get("PYFUNC_OPS_CACHE_DIR")
        envs = env.get("PYFUNC_OPS_ENV_DIR")
        values: dict[str, Any] = {
            "home": home,
            "tracking_uri": env.get("PYFUNC_OPS_TRACKING_URI") or None,
            "artifact_root": env.get("PYFUNC_OPS_ARTIFACT_ROOT") or str(home / "artifacts"),
            "cache_dir": Path(cache).absolute() if cache else home / "cache",
            "env_dir": Path(envs).absolute() if envs else home / "envs",
            "trust_remote_code": _truthy(env.get("PYFUNC_OPS_TRUST_REMOTE_CODE")),
            "cache_max_bytes": _size_setting(env, "PYFUNC_OPS_CACHE_MAX_SIZE"),
            "connect_timeout": _seconds_setting(env, "PYFUNC_OPS_CONNECT_TIMEOUT"),
            "read_timeout": _seconds_setting(env, "PYFUNC_OPS_READ_TIMEOUT"),
            "max_retries": _count_setting(env, "PYFUNC_OPS_MAX_RETRIES"),
            "lock_timeout": _seconds_setting(env, "PYFUNC_OPS_LOCK_TIMEOUT"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**{k: v for k, v in values.items() if v is not None or k in _NULLABLE})

    @property
    def default_tracking_uri(self) -> str:
        """The embedded default: a SQLite file in the local store folder."""
        return f"sqlite:///{self.home / 'tracking.db'}"

    @property
    def effective_tracking_uri(self) -> str:
        """The tracking URI these settings name, else their embedded default. (A
        process-wide ``set_tracking_uri`` is the client's business, not the settings'.)"""
        return self.tracking_uri or self.default_tracking_uri

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (settings are immutable)."""
        return replace(self, **changes)

    def options_for(self, protocol: str) -> dict[str, Any]:
        """A mutable copy of the storage options configured for ``protocol``."""
        return {
            k: (dict(v) if isinstance(v, Mapping) else v)
            for k, v in self.storage_options.get(protocol.lower(), {}).items()
        }


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


_SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes in ``text``: a number with an optional binary unit, ``500M``, ``10G``,
    ``1.5T``, ``4096`` (``K``/``KB``/``KiB`` alike: a cache budget needs no SI nuance)."""
    raw = str(text).strip().upper().removesuffix("IB").removesuffix("B")
    number, unit = raw, ""
    if raw and raw[-1] in _SIZE_UNITS:
        number, unit = raw[:-1], raw[-1]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if not number or value < 0 or value != value:  # NaN
        raise InvalidParameterError(
            f"size {text!r} is not a size; expected a number of bytes with an optional "
            "unit K, M, G or T, e.g. 500M or 10G."
        )
    return int(value * _SIZE_UNITS[unit])


def _size_setting(env: Mapping[str, str], name: str) -> int | None:
    value = (env.get(name) or "").strip()
    if not value:
        return None
    try:
        return parse_size(value)
    except InvalidParameterError as exc:
        raise InvalidParameterError(f"{name}: {exc}") from None


# Settings whose None is a value ("not configured"), not "use the default".
_NULLABLE = frozenset({"tracking_uri", "cache_max_bytes"})


def _seconds_setting(env: Mapping[str, str], name: str) -> float | None:
    value = (env.get(name) or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise InvalidParameterError(
            f"{name}={value!r} is not a number of seconds; set it to a positive number "
            "such as 30, or unset it for the default"
        )
    return seconds


def _count_setting(env: Mapping[str, str], name: str) -> int | None:
    value = (env.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise InvalidParameterError(
            f"{name}={value!r} is not a whole number >= 0; set it to e.g. 2, or unset it"
        )
    return int(value)


_scope: contextvars.ContextVar[Settings | None] = contextvars.ContextVar(
    "pyfunc_ops_settings", default=None
)


# The environment's settings as read once for the running entry point (see
# resolved_settings): a one-item cell, filled by the first read. Kept apart from ``_scope``
# because settings the caller chose and settings merely read from the environment rank
# differently (``scoped_settings``, the tracking URI).
_resolved: contextvars.ContextVar[list[Settings] | None] = contextvars.ContextVar(
    "pyfunc_ops_resolved_settings", default=None
)


def current_settings() -> Settings:
    """The settings of the innermost :func:`use_settings` block, else the environment's
    (read once per :func:`resolved_settings` block, on every call outside one)."""
    scoped = _scope.get()
    if scoped is not None:
        return scoped
    cell = _resolved.get()
    if cell is None:
        return Settings.from_env()
    if not cell:
        cell.append(Settings.from_env())
    return cell[0]


def scoped_settings() -> Settings | None:
    """The settings of the innermost :func:`use_settings` block, ``None`` outside any.

    For the few places where "configured for this block" and "read from the environment"
    rank differently (the tracking URI, see :class:`Settings`).
    """
    return _scope.get()


@contextlib.contextmanager
def use_settings(settings: Settings) -> Iterator[Settings]:
    """Make ``settings`` current for this thread / asyncio task for the block.

    A thread or task started inside the block sees them only if it runs in a copy of this
    context (``contextvars.copy_context()``; ``asyncio`` tasks and ``asyncio.to_thread``
    do that themselves). The library's own thread pools do.
    """
    token = _scope.set(settings)
    try:
        yield settings
    finally:
        _scope.reset(token)


@contextlib.contextmanager
def resolved_settings() -> Iterator[None]:
    """For the block, read the environment's settings at most once: the first
    :func:`current_settings` call reads them, the later ones get the same value.

    An entry point (a public library call) runs its body in this block, so one call sees
    one configuration even if the environment changes meanwhile, and the environment is not
    parsed again for every file, batch or store it touches. Nested blocks share the outer
    one's value. A :func:`use_settings` scope, inside or around the block, still wins, and
    the environment is read only if something asks (an unused bad variable fails nothing
    it did not fail before).
    """
    if _resolved.get() is not None:
        yield
        return
    token = _resolved.set([])
    try:
        yield
    finally:
        _resolved.reset(token)


def with_settings(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate an entry point so that its call runs in :func:`resolved_settings`."""

    @functools.wraps(func)
    def entry_point(*args: P.args, **kwargs: P.kwargs) -> R:
        with resolved_settings():
            return func(*args, **kwargs)

    return entry_point


# Shorthands for the common reads; each resolves the current settings.


def home() -> Path:
    """The local store folder (``PYFUNC_OPS_HOME``, default ``~/.pyfunc_ops``)."""
    return current_settings().home


def tracking_uri() -> str:
    """The configured tracking URI, else the SQLite file in the local store folder."""
    return current_settings().effective_tracking_uri


def artifact_root() -> str:
    """fsspec URL under which runs store artifacts (``PYFUNC_OPS_ARTIFACT_ROOT``)."""
    return current_settings().artifact_root


def cache_dir() -> Path:
    """Folder of the content-addressed download cache (``PYFUNC_OPS_CACHE_DIR``)."""
    return current_settings().cache_dir


def env_dir() -> Path:
    """Folder of restored model environments (``PYFUNC_OPS_ENV_DIR``)."""
    return current_settings().env_dir
