"""S3 credentials from the Amazon provider's ``aws`` connection, as s3fs options.

A deployment that already keeps its S3 credentials in an ``aws`` connection (the Amazon
provider's, e.g. ``aws_default``) should not have to copy them into a ``pyfunc_ops``
connection. The operators' ``aws_conn_id`` and the connection id inside an
``ObjectStoragePath`` (``s3://aws_default@bucket/key``) come here: the Amazon provider's
``AwsBaseHook`` resolves the connection (keys, session token, assumed role, endpoint,
region) and the result becomes the ``s3`` storage options of the
:class:`~pyfunc_ops.config.Settings` the task runs with.
"""

from __future__ import annotations

from typing import Any

from pyfunc_ops.errors import InvalidParameterError

__all__ = ["aws_storage_options"]


def aws_storage_options(aws_conn_id: str) -> dict[str, Any]:
    """s3fs keyword arguments (``key``, ``secret``, ``token``, ``client_kwargs`` with
    ``endpoint_url``/``region_name``) for the Amazon provider's connection ``aws_conn_id``.

    The credentials are frozen once (the hook masks the secret and token in task logs);
    temporary credentials therefore last as long as the session the hook obtained.
    """
    try:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    except ImportError as exc:
        raise InvalidParameterError(
            f"aws_conn_id {aws_conn_id!r} needs the Amazon provider, which is not installed "
            f"({exc}); install apache-airflow-providers-amazon, or put the S3 credentials "
            "in the pyfunc_ops connection instead."
        ) from exc
    hook = AwsBaseHook(aws_conn_id=aws_conn_id, client_type="s3")
    credentials = hook.get_credentials()
    from pyfunc_ops.storage.filesystem import s3_options

    return s3_options(
        key=credentials.access_key,
        secret=credentials.secret_key,
        token=credentials.token,
        endpoint_url=hook.conn_config.get_service_endpoint_url(service_name="s3"),
        region_name=hook.region_name,
    )
