"""The hook behind the ``pyfunc_ops`` Airflow connection type.

A connection carries everything the library otherwise reads from its environment
variables, so one Airflow deployment can point different DAGs at different registries and
object stores without touching the workers' environment.

The connection's fields, their form labels and meanings are listed once, in
:mod:`pyfunc_ops.airflow.connection_form` (also rendered in docs/airflow.md). The hook
keeps no configuration of its own: a connection is read once into
:class:`PyfuncOpsConfig` (what the connection says, nothing filled in), and
:meth:`PyfuncOpsConfig.settings` lays it over the caller's
:class:`~pyfunc_ops.config.Settings` with ``Settings.with_changes``. That
:class:`~pyfunc_ops.config.Settings` value (:meth:`PyfuncOpsHook.get_settings`) is the
configuration: everything else the hook reports (:meth:`PyfuncOpsHook.get_config`, the
store :meth:`PyfuncOpsHook.test_connection` opens) is derived from it, and the caller makes
it current with :func:`~pyfunc_ops.config.use_settings` for one task or trigger. Nothing
is written to ``os.environ`` or to any process-wide registry, so concurrent tasks and
triggers with different connections never see each other's.

When the connection does not exist, the caller's settings apply unchanged (the
environment's, or an enclosing ``use_settings`` scope's; S3 credentials then come from
the usual AWS_* variables).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from pyfunc_ops import config
from pyfunc_ops.airflow import connection_form
from pyfunc_ops.config import Settings
from pyfunc_ops.core.redact import install_log_redaction, redact, redact_mapping
from pyfunc_ops.errors import InvalidParameterError

if TYPE_CHECKING:
    from pyfunc_ops.tracking import TrackingClient

logger = logging.getLogger(__name__)

_EXTRA_KEYS = connection_form.extra_keys()


@dataclass(frozen=True)
class PyfuncOpsConfig:
    """What a ``pyfunc_ops`` connection says: its fields and extras by meaning.

    Read once per hook; :meth:`settings` turns it into library settings. The
    :meth:`PyfuncOpsHook.get_config` view fills ``tracking_uri`` and ``artifact_root``
    from those settings (the caller's where the connection has none)."""

    tracking_uri: str
    artifact_root: str
    endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    region_name: str | None = None
    storage_options: dict[str, Any] = field(default_factory=dict)
    # None: the connection does not say; the caller's settings decide.
    trust_remote_code: bool | None = None
    tracking_token: str | None = None

    def __repr__(self) -> str:
        # The dataclass repr would print the secret key and token (tracebacks, logs).
        shown = redact_mapping({f.name: getattr(self, f.name) for f in fields(self)})
        return "PyfuncOpsConfig(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    def s3_storage_options(self) -> dict[str, Any]:
        """s3fs keyword arguments for this configuration (empty: s3fs's own defaults)."""
        from pyfunc_ops.storage.filesystem import s3_options

        return s3_options(
            self.storage_options,
            key=self.aws_access_key_id,
            secret=self.aws_secret_access_key,
            token=self.aws_session_token,
            endpoint_url=self.endpoint_url,
            region_name=self.region_name,
        )

    def settings(self, base: Settings) -> Settings:
        """``base`` with what this connection sets: its tracking URI, artifact root,
        trust and token where it gives them, and its S3 options as the ``s3`` entry. The
        ``s3`` entry is replaced rather than merged, so credentials of two sources never
        mix; what the connection leaves out (cache and environment folders, timeouts, the
        tracking URI or artifact root when absent) stays as ``base`` has it."""
        changes: dict[str, Any] = {}
        if self.tracking_uri:
            changes["tracking_uri"] = self.tracking_uri
        if self.artifact_root:
            changes["artifact_root"] = self.artifact_root
        s3_options = self.s3_storage_options()
        if s3_options:
            changes["storage_options"] = {**base.storage_options, "s3": s3_options}
        if self.trust_remote_code is not None:
            changes["trust_remote_code"] = self.trust_remote_code
        if self.tracking_token:
            changes["tracking_token"] = self.tracking_token
        return base.with_changes(**changes)


def _trust_extra(value: Any, conn_id: str) -> bool | None:
    """The extra ``trust_remote_code``: JSON ``true``/``false`` (or those words, as a
    form would store them); absent or empty is ``None``."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise InvalidParameterError(
        f"pyfunc_ops connection {conn_id!r}: extra 'trust_remote_code' must be true or "
        f"false; got {value!r}"
    )


def _endpoint_from_host(host: str | None, port: int | None, schema: str | None) -> str | None:
    if not host:
        return None
    if "://" in host:
        return host
    scheme = (schema or "http").lower()
    if scheme not in {"http", "https"}:
        raise InvalidParameterError(
            f"pyfunc_ops connection: schema {schema!r} is used as the S3 endpoint's URL "
            "scheme and must be 'http' or 'https'; leave it empty for http or put the full "
            "endpoint in the extra 'endpoint_url'"
        )
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


class PyfuncOpsHook(BaseHook):
    """Reads a ``pyfunc_ops`` connection and turns it into library settings.

    Tasks run library calls inside ``with use_settings(hook.get_settings()):`` (or the
    :meth:`configured` shorthand) and use :meth:`get_client` for registry calls. The hook
    caches what it read from the connection on the instance only; it holds no global state.
    """

    conn_name_attr = "pyfunc_ops_conn_id"
    default_conn_name = "pyfunc_ops_default"
    conn_type = "pyfunc_ops"
    hook_name = "pyfunc_ops"

    def __init__(self, pyfunc_ops_conn_id: str = default_conn_name) -> None:
        super().__init__()
        # Where Airflow runs our code, logging is Airflow's: redact our records there.
        install_log_redaction("pyfunc_ops")
        self.pyfunc_ops_conn_id = pyfunc_ops_conn_id

    # -- configuration -----------------------------------------------------------------

    @functools.cached_property
    def _given(self) -> PyfuncOpsConfig | None:
        """The connection's values as given (``tracking_uri``/``artifact_root`` are ``""``
        where it leaves them out); ``None`` when the connection does not exist. Read once
        per hook instance."""
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = self.get_connection(self.pyfunc_ops_conn_id)
        except AirflowNotFoundException:
            logger.debug(
                "no Airflow connection %r; using the pyfunc_ops environment variables",
                self.pyfunc_ops_conn_id,
            )
            return None
        extra = _extras(conn.extra_dejson, self.pyfunc_ops_conn_id)
        storage_options = extra.get("storage_options") or {}
        if not isinstance(storage_options, dict):
            raise InvalidParameterError(
                f"pyfunc_ops connection {self.pyfunc_ops_conn_id!r}: extra 'storage_options' "
                f"must be a JSON object of s3fs arguments; got "
                f"{type(storage_options).__name__} {redact(repr(storage_options))}"
            )
        return PyfuncOpsConfig(
            tracking_uri=extra.get("tracking_uri") or "",
            artifact_root=extra.get("artifact_root") or "",
            endpoint_url=extra.get("endpoint_url")
            or _endpoint_from_host(conn.host, conn.port, conn.schema),
            aws_access_key_id=conn.login or None,
            aws_secret_access_key=conn.password or None,
            aws_session_token=extra.get("aws_session_token") or None,
            region_name=extra.get("region_name") or None,
            storage_options=storage_options,
            trust_remote_code=_trust_extra(extra.get("trust_remote_code"), self.pyfunc_ops_conn_id),
            tracking_token=extra.get("token") or None,
        )

    def get_config(self) -> PyfuncOpsConfig:
        """What the connection says, with the tracking URI and artifact root of
        :meth:`get_settings` (the caller's where the connection has none)."""
        settings = self.get_settings()
        given = self._given or PyfuncOpsConfig(tracking_uri="", artifact_root="")
        return replace(
            given,
            tracking_uri=settings.effective_tracking_uri,
            artifact_root=settings.artifact_root,
        )

    def get_settings(self) -> Settings:
        """The connection as library settings, for :func:`pyfunc_ops.config.use_settings`:
        the caller's current settings with what the connection sets
        (:meth:`PyfuncOpsConfig.settings`). Without a connection, the caller's settings
        are returned unchanged.
        """
        base = config.current_settings()
        given = self._given
        return base if given is None else given.settings(base)

    def get_conn(self) -> TrackingClient:
        """Same as :meth:`get_client` (Airflow's conventional hook entry point)."""
        return self.get_client()

    def get_client(self) -> TrackingClient:
        """A registry/tracking client for the tracking URI the connection's settings give
        (see :func:`pyfunc_ops.tracking.get_tracking_uri` for the precedence)."""
        from pyfunc_ops.tracking import TrackingClient

        with config.use_settings(self.get_settings()):
            return TrackingClient()

    @contextlib.contextmanager
    def configured(self) -> Iterator[Settings]:
        """``with use_settings(self.get_settings())``: the connection applies to the library
        in this thread / asyncio task for the block, and yields those settings.

        Inside, the connection's tracking URI wins over a process-wide
        ``pyfunc_ops.tracking.set_tracking_uri``.
        """
        with config.use_settings(self.get_settings()) as settings:
            yield settings

    def test_connection(self) -> tuple[bool, str]:
        """Open the tracking store and list registered models (Airflow's "Test" button).

        A SQLite store whose folder does not exist fails the test and is not created: the
        button must find a typo, not hide it under a fresh empty database. The message is
        redacted (it is shown in the UI and logged).
        """
        from pyfunc_ops.tracking.uri import missing_sqlite_folder

        try:
            tracking_uri = self.get_settings().effective_tracking_uri
            folder = missing_sqlite_folder(tracking_uri)
            if folder is not None:
                return False, redact(
                    f"the SQLite tracking store {tracking_uri!r} is in folder {folder!r}, "
                    "which does not exist; create the folder or fix the tracking_uri extra "
                    "(nothing was created)"
                )
            client = self.get_client()
            client.search_registered_models(max_results=1)
        except Exception as exc:  # reported to the UI, not raised
            return False, redact(f"{type(exc).__name__}: {exc}")
        return True, redact(f"connected to the tracking store {client.tracking_uri}")

    # -- Airflow UI --------------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The form's hidden fields, labels and placeholders (from ``connection_form``)."""
        return connection_form.ui_field_behaviour()


def _extras(extra: Any, conn_id: str) -> dict[str, Any]:
    if not isinstance(extra, dict):
        raise InvalidParameterError(
            f"pyfunc_ops connection {conn_id!r}: extra must be a JSON object; got "
            f"{type(extra).__name__} {redact(repr(extra))}"
        )
    unknown = sorted(set(extra) - _EXTRA_KEYS)
    if unknown:
        logger.warning(
            "pyfunc_ops connection %r: ignoring unknown extra keys %s (known: %s)",
            conn_id,
            unknown,
            sorted(_EXTRA_KEYS),
        )
    return extra
