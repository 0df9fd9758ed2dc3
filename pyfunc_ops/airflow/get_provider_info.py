"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

Kept free of imports (but the import-free table of connection fields) so that ``airflow
providers list`` stays cheap and never fails because an optional dependency of an operator
is missing. The connection form comes from :mod:`pyfunc_ops.airflow.connection_form`.
"""

from __future__ import annotations

from typing import Any

from pyfunc_ops.airflow import connection_form

_INTEGRATION = "pyfunc_ops"


def get_provider_info() -> dict[str, Any]:
    """The provider's description (schema: airflow/provider_info.schema.json)."""
    from pyfunc_ops.core.versions import package_version

    behaviour = connection_form.ui_field_behaviour()
    return {
        "package-name": "pyfunc-ops",
        "name": "pyfunc_ops",
        "description": "Package, register and score pyfunc models as Airflow tasks.",
        "versions": [package_version()],
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
                    "pyfunc_ops.airflow.operators.evaluate",
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
                "python-modules": [
                    "pyfunc_ops.airflow.triggers.model_version",
                    "pyfunc_ops.airflow.triggers.model",
                    "pyfunc_ops.airflow.triggers.registry_event",
                ],
            }
        ],
        "plugins": [
            {
                "name": "pyfunc_ops_registry",
                "plugin-class": "pyfunc_ops.airflow.plugins.registry.PyfuncOpsRegistryPlugin",
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
                "conn-fields": connection_form.conn_fields(),
                "ui-field-behaviour": {
                    "hidden-fields": behaviour["hidden_fields"],
                    "relabeling": behaviour["relabeling"],
                    "placeholders": behaviour["placeholders"],
                },
            }
        ],
    }
