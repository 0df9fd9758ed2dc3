"""Runs and the model registry, stored through SQLAlchemy.

A SQLite file under ``PYFUNC_OPS_HOME`` by default, PostgreSQL for a shared deployment
(``PYFUNC_OPS_TRACKING_URI``), or an MLflow tracking server; the backend registry
(:mod:`pyfunc_ops.tracking.backends`) maps each URI scheme to its backend. The public
names below are imported on first use: importing this package alone is cheap, and the
first of them (or ``TrackingClient``) imports SQLAlchemy.

Fluent use::

    with start_run(run_name="train") as run:
        log_param("alpha", 0.5)
        log_metric("rmse", 0.27)

Explicit use: :class:`TrackingClient`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyfunc_ops.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from pyfunc_ops.tracking.client import TrackingClient, resolve_model_uri, resolve_model_version
    from pyfunc_ops.tracking.entities import (
        Metric,
        ModelVersion,
        ModelVersionStatus,
        RegisteredModel,
        Run,
        RunData,
        RunInfo,
        RunStatus,
    )
    from pyfunc_ops.tracking.fluent import (
        ActiveRun,
        active_run,
        end_run,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        set_tag,
        set_tags,
        start_run,
    )
    from pyfunc_ops.tracking.uri import get_tracking_uri, set_tracking_uri

# Where each public name lives; imported on first use (PEP 562), so that importing a light
# submodule (the backend registry, for the Airflow connection form) stays cheap.
_HOMES = {
    "TrackingClient": "client",
    **dict.fromkeys(
        (
            "Metric",
            "ModelVersion",
            "ModelVersionStatus",
            "RegisteredModel",
            "Run",
            "RunData",
            "RunInfo",
            "RunStatus",
        ),
        "entities",
    ),
    **dict.fromkeys(
        (
            "ActiveRun",
            "active_run",
            "end_run",
            "log_metric",
            "log_metrics",
            "log_param",
            "log_params",
            "set_tag",
            "set_tags",
            "start_run",
        ),
        "fluent",
    ),
    "resolve_model_uri": "client",
    "resolve_model_version": "client",
    "get_tracking_uri": "uri",
    "set_tracking_uri": "uri",
}


__getattr__, __dir__ = lazy_attributes(__name__, _HOMES, globals())


# Listed out (not derived) so that linters and type checkers see the re-exports.
__all__ = [
    "ActiveRun",
    "Metric",
    "ModelVersion",
    "ModelVersionStatus",
    "RegisteredModel",
    "Run",
    "RunData",
    "RunInfo",
    "RunStatus",
    "TrackingClient",
    "active_run",
    "end_run",
    "get_tracking_uri",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "resolve_model_uri",
    "resolve_model_version",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
