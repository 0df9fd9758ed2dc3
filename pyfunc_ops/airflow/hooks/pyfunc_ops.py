"""The hook behind the ``pyfunc_ops`` Airflow connection type.

A connection carries everything the library otherwise reads from its environment
variables, so one Airflow deployment can point different DAGs at different registries and
object stores without touching the workers' environment.

Connection field mapping (also in docs/airflow.md):

==========================  ==========================================================
connection field            meaning
==========================  ==========================================================
``extra.tracking_uri``      the tracking store (SQLAlchemy URL or SQLite file path);
                            ``PYFUNC_OPS_TRACKING_URI``/the embedded default when absent
``extra.artifact_root``     where runs store artifacts (any fsspec URL);
                            ``PYFUNC_OPS_ARTIFACT_ROOT``/the embedded default when absent
``extra.endpoint_url``      S3 endpoint (MinIO, moto, ...); else ``host`` (+ ``port``,
                            with ``schema`` ``http``/``https`` as URL scheme) when set
``login`` / ``password``    AWS access key id / secret access key
``extra.region_name``       AWS region
``extra.aws_session_token`` AWS session token
``extra.storage_options``   further s3fs keyword arguments (a JSON object)
==========================  ==========================================================

When the connection does not exist, the library's environment variables apply unchanged
(S3 credentials then come from the usual AWS_* variables).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from pyfunc_ops import config
from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.storage.filesystem import storage_options

if TYPE_CHECKING:
    from pyfunc_ops.config import Settings
    from pyfunc_ops.tracking import TrackingClient

logger = logging.getLogger(__name__)

_EXTRA_KEYS = frozenset(
    {
        "tracking_uri",
        "artifact_root",
        "endpoint_url",
        "region_name",
        "aws_session_token",
        "storage_options",
    }
)


@dataclass(frozen=True)
class PyfuncOpsConfig:
    """What a ``pyfunc_ops`` connection (or the environment) configures."""

    tracking_uri: str
    artifact_root: str
    endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    region_name: str | None = None
    storage_options: dict[str, Any] = field(default_factory=dict)

    def s3_storage_options(self) -> dict[str, Any]:
        """s3fs keyword arguments for this configuration (empty: s3fs's own defaults)."""
        options: dict[str, Any] = dict(self.storage_options)
        client_kwargs = dict(options.get("client_kwargs") or {})
        # In client_kwargs, where pyfunc_ops.storage puts AWS_ENDPOINT_URL, so that the
        # connection's endpoint replaces the environment's instead of competing with it.
        if self.endpoint_url:
            client_kwargs["endpoint_url"] = self.endpoint_url
        if self.region_name:
            client_kwargs["region_name"] = self.region_name
        if client_kwargs:
            options["client_kwargs"] = client_kwargs
        if self.aws_access_key_id:
            options["key"] = self.aws_access_key_id
        if self.aws_secret_access_key:
            options["secret"] = self.aws_secret_access_key
        if self.aws_session_token:
            options["token"] = self.aws_session_token
        return options


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
    """Reads a ``pyfunc_ops`` connection and applies it to the library.

    Tasks use :meth:`configured` around library calls (it sets the tracking URI, artifact
    root and S3 options for the duration) or :meth:`get_client` for registry calls.
    """

    conn_name_attr = "pyfunc_ops_conn_id"
    default_conn_name = "pyfunc_ops_default"
    conn_type = "pyfunc_ops"
    hook_name = "pyfunc_ops"

    def __init__(self, pyfunc_ops_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.pyfunc_ops_conn_id = pyfunc_ops_conn_id
        self._config: PyfuncOpsConfig | None = None

    # -- configuration -----------------------------------------------------------------

    def get_config(self) -> PyfuncOpsConfig:
        """The configuration from the connection, or from the environment without one."""
        if self._config is None:
            self._config = self._read_config()
        return self._config

    def _read_config(self) -> PyfuncOpsConfig:
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = self.get_connection(self.pyfunc_ops_conn_id)
        except AirflowNotFoundException:
            logger.debug(
                "no Airflow connection %r; using the pyfunc_ops environment variables",
                self.pyfunc_ops_conn_id,
            )
            return PyfuncOpsConfig(
                tracking_uri=config.tracking_uri(), artifact_root=config.artifact_root()
            )
        extra = _extras(conn.extra_dejson, self.pyfunc_ops_conn_id)
        storage_options = extra.get("storage_options") or {}
        if not isinstance(storage_options, dict):
            raise InvalidParameterError(
                f"pyfunc_ops connection {self.pyfunc_ops_conn_id!r}: extra 'storage_options' "
                f"must be a JSON object of s3fs arguments; got {storage_options!r}"
            )
        return PyfuncOpsConfig(
            tracking_uri=extra.get("tracking_uri") or config.tracking_uri(),
            artifact_root=extra.get("artifact_root") or config.artifact_root(),
            endpoint_url=extra.get("endpoint_url")
            or _endpoint_from_host(conn.host, conn.port, conn.schema),
            aws_access_key_id=conn.login or None,
            aws_secret_access_key=conn.password or None,
            aws_session_token=extra.get("aws_session_token") or None,
            region_name=extra.get("region_name") or None,
            storage_options=storage_options,
        )

    def get_settings(self) -> Settings:
        """The connection as library settings, for ``pyfunc_ops.config.use_settings``."""
        cfg = self.get_config()
        s3_options = cfg.s3_storage_options()
        return config.Settings.from_env(
            tracking_uri=cfg.tracking_uri,
            artifact_root=cfg.artifact_root,
            storage_options={"s3": s3_options} if s3_options else None,
        )

    def get_conn(self) -> TrackingClient:
        """Same as :meth:`get_client` (Airflow's conventional hook entry point)."""
        return self.get_client()

    def get_client(self) -> TrackingClient:
        """A registry/tracking client for the configured tracking URI."""
        from pyfunc_ops.tracking import TrackingClient

        return TrackingClient(self.get_config().tracking_uri)

    @contextlib.contextmanager
    def configured(self) -> Iterator[PyfuncOpsConfig]:
        """Apply the configuration to the library for the duration of the block.

        Sets ``PYFUNC_OPS_TRACKING_URI``/``PYFUNC_OPS_ARTIFACT_ROOT`` and the ``s3``
        storage options, and restores the previous values afterwards (also on error).
        A process-wide ``pyfunc_ops.tracking.set_tracking_uri`` still takes precedence.
        """
        cfg = self.get_config()
        s3_options = cfg.s3_storage_options()
        saved_env = {
            key: os.environ.get(key)
            for key in ("PYFUNC_OPS_TRACKING_URI", "PYFUNC_OPS_ARTIFACT_ROOT")
        }
        os.environ["PYFUNC_OPS_TRACKING_URI"] = cfg.tracking_uri
        os.environ["PYFUNC_OPS_ARTIFACT_ROOT"] = cfg.artifact_root
        with contextlib.ExitStack() as stack:
            stack.callback(_restore_env, saved_env)
            if s3_options:
                stack.enter_context(storage_options("s3", **s3_options))
            yield cfg

    def test_connection(self) -> tuple[bool, str]:
        """Open the tracking store and list registered models (Airflow's "Test" button)."""
        try:
            client = self.get_client()
            client.search_registered_models()
        except Exception as exc:  # reported to the UI, not raised
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"connected to the tracking store {self.get_config().tracking_uri}"

    # -- Airflow UI --------------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": [],
            "relabeling": {
                "host": "S3 endpoint host (optional)",
                "schema": "S3 endpoint scheme (http/https)",
                "login": "AWS access key id",
                "password": "AWS secret access key",
            },
            "placeholders": {
                "extra": json.dumps(
                    {
                        "tracking_uri": "postgresql://user:pw@db/registry",
                        "artifact_root": "s3://bucket/artifacts",
                        "endpoint_url": "http://minio:9000",
                        "region_name": "us-east-1",
                    }
                ),
            },
        }


def _extras(extra: Any, conn_id: str) -> dict[str, Any]:
    if not isinstance(extra, dict):
        raise InvalidParameterError(
            f"pyfunc_ops connection {conn_id!r}: extra must be a JSON object; got {extra!r}"
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


def _restore_env(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
