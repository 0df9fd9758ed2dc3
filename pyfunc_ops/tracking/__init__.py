"""Runs and the model registry, stored through SQLAlchemy.

A SQLite file under ``PYFUNC_OPS_HOME`` by default, PostgreSQL for a shared deployment
(``PYFUNC_OPS_TRACKING_URI``). Importing this package imports SQLAlchemy; the format and
load path of ``pyfunc_ops`` therefore import it inside the functions that need it.

Fluent use::

    with start_run(run_name="train") as run:
        log_param("alpha", 0.5)
        log_metric("rmse", 0.27)

Explicit use: :class:`TrackingClient`.
"""

from __future__ import annotations

from pyfunc_ops.tracking.client import TrackingClient
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
from pyfunc_ops.tracking.resolve import resolve_model_uri, resolve_model_version
from pyfunc_ops.tracking.uri import get_tracking_uri, set_tracking_uri

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
