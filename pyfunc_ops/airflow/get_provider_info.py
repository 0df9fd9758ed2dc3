"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

Kept free of imports so that ``airflow providers list`` stays cheap and never fails because
an optional dependency of an operator is missing.
"""

from __future__ import annotations

from typing import Any

_INTEGRATION = "pyfunc_ops"


def _string_field(label: str, description: str) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"]}}


def get_provider_info() -> dict[str, Any]:
    """The provider's description (schema: airflow/provider_info.schema.json)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        versions = [version("pyfunc-ops")]
    except PackageNotFoundError:  # running from a source tree that is not installed
        versions = []
    return {
        "package-name": "pyfunc-ops",
        "name": "pyfunc_ops",
        "description": "Package, register and score pyfunc models as Airflow tasks.",
        "versions": versions,
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "tags": ["software"],
            }
        ],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "pyfunc_ops.airflow.operators.save",
                    "pyfunc_ops.airflow.operators.predict",
                    "pyfunc_ops.airflow.operators.spark",
                    "pyfunc_ops.airflow.operators.registry",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "pyfunc_ops.airflow.sensors.model_version",
                    "pyfunc_ops.airflow.sensors.model",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": ["pyfunc_ops.airflow.triggers.model_version"],
            }
        ],
        "hooks": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": ["pyfunc_ops.airflow.hooks.pyfunc_ops"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "pyfunc_ops",
                "hook-class-name": "pyfunc_ops.airflow.hooks.pyfunc_ops.PyfuncOpsHook",
                "hook-name": "pyfunc_ops",
                "conn-fields": {
                    "tracking_uri": _string_field(
                        "Tracking URI",
                        "SQLAlchemy URL or SQLite file of the registry "
                        "(default: PYFUNC_OPS_TRACKING_URI)",
                    ),
                    "artifact_root": _string_field(
                        "Artifact root",
                        "fsspec URL where runs store artifacts (default: PYFUNC_OPS_ARTIFACT_ROOT)",
                    ),
                    "endpoint_url": _string_field(
                        "S3 endpoint URL", "e.g. http://minio:9000 (default: AWS)"
                    ),
                    "region_name": _string_field("AWS region", "e.g. us-east-1"),
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["port"],
                    "relabeling": {
                        "host": "S3 endpoint host (or use the S3 endpoint URL field)",
                        "schema": "S3 endpoint scheme (http or https)",
                        "login": "AWS access key id",
                        "password": "AWS secret access key",
                    },
                    "placeholders": {},
                },
            }
        ],
    }
