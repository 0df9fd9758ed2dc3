"""Airflow ``ObjectStoragePath`` arguments and the S3 connection a task reads through.

A job argument may be an ``ObjectStoragePath`` (``s3://aws_default@bucket/key``): the job
gets its plain URL, and the connection id it names counts as the operator's
``aws_conn_id``. That connection's credentials and endpoint (the Amazon provider's)
become the ``s3`` storage options of the task's settings, over the ``pyfunc_ops``
connection's. One task reads and writes S3 through one connection, so two different ids
are refused. Kept out of the operator base: it is about Airflow's path type, not about
being an operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyfunc_ops.config import Settings
from pyfunc_ops.core.redact import redact
from pyfunc_ops.errors import InvalidParameterError

__all__ = ["is_object_storage_path", "plain_url", "plain_urls", "with_aws_connection"]


def is_object_storage_path(value: Any) -> bool:
    """An Airflow ``ObjectStoragePath`` (checked by name: no import at parse time)."""
    return any(c.__name__ == "ObjectStoragePath" for c in type(value).__mro__)


def plain_url(path: Any) -> tuple[str, str | None]:
    """``(url, conn_id)`` of an ``ObjectStoragePath``: ``s3://aws_default@bucket/key``
    is ``("s3://bucket/key", "aws_default")``; a local one is its absolute path. Only S3
    paths may name a connection (it is read with the Amazon provider's hook)."""
    protocol = str(path.protocol or "file")
    conn_id = path.conn_id or None
    if protocol in ("file", "local"):
        return str(path.path), None
    if conn_id and protocol not in ("s3", "s3a"):
        raise InvalidParameterError(
            f"ObjectStoragePath {redact(str(path))!r}: a connection id is supported for s3:// "
            f"paths only, found protocol {protocol!r}; give the path without the connection "
            "and its storage options in the pyfunc_ops connection's storage_options extra."
        )
    return f"{protocol}://{path.path}", conn_id


def plain_urls(arguments: Mapping[str, Any]) -> tuple[dict[str, str], set[str]]:
    """The ``ObjectStoragePath`` values among ``arguments`` as plain URLs (by argument
    name), and the connection ids they name."""
    urls: dict[str, str] = {}
    conn_ids: set[str] = set()
    for name, value in arguments.items():
        if is_object_storage_path(value):
            urls[name], conn_id = plain_url(value)
            if conn_id:
                conn_ids.add(conn_id)
    return urls, conn_ids


def with_aws_connection(settings: Settings, conn_ids: set[str], task: str) -> Settings:
    """``settings`` with the ``s3`` storage options of the one Amazon connection in
    ``conn_ids`` (unchanged when there is none). ``task`` names the task in the error
    raised for several ids."""
    if len(conn_ids) > 1:
        raise InvalidParameterError(
            f"{task}: its S3 paths and aws_conn_id name "
            f"several connections {sorted(conn_ids)}; one task reads and writes S3 "
            "through one connection. Use the same connection id everywhere (or copy the "
            "data first)."
        )
    if not conn_ids:
        return settings
    from pyfunc_ops.airflow.hooks.aws import aws_storage_options

    s3 = aws_storage_options(next(iter(conn_ids)))
    return settings.with_changes(storage_options={**settings.storage_options, "s3": s3})
