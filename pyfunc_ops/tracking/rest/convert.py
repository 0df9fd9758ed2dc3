"""From the server's JSON to our entities, and artifact URIs between its form and ours.

MLflow writes proxied artifact locations as ``mlflow-artifacts:/<path>`` (one slash: "on
the tracking server itself"). Our URI rules (:mod:`pyfunc_ops.core.uri`) and fsspec both
want ``protocol://``, so locations are handed out as ``mlflow-artifacts:///<path>`` (empty
host: the same thing) and turned back into MLflow's form when sent to the server, so
MLflow clients read what we register exactly as they read their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pyfunc_ops.tracking.entities import (
    Metric,
    ModelVersion,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
)

SCHEME = "mlflow-artifacts"
DIGEST_TAG = "pyfunc_ops.digest"
RUN_NAME_TAG = "mlflow.runName"


def ours(location: str) -> str:
    """``mlflow-artifacts:/x`` as ``mlflow-artifacts:///x``; other locations unchanged."""
    prefix = f"{SCHEME}:"
    if location.startswith(prefix) and not location.startswith(f"{prefix}//"):
        return f"{SCHEME}:///" + location[len(prefix) :].lstrip("/")
    return location


def theirs(location: str) -> str:
    """``mlflow-artifacts:///x`` as MLflow writes it, ``mlflow-artifacts:/x``."""
    prefix = f"{SCHEME}:///"
    if location.startswith(prefix):
        return f"{SCHEME}:/" + location[len(prefix) :].lstrip("/")
    return location


def key_values(items: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(i["key"]): str(i.get("value", "")) for i in items or ()}


def as_key_values(values: Mapping[str, Any] | None) -> list[dict[str, str]]:
    return [{"key": str(k), "value": str(v)} for k, v in (values or {}).items()]


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def metric(item: Mapping[str, Any]) -> Metric:
    return Metric(
        key=str(item["key"]),
        value=float(item.get("value", float("nan"))),
        step=_int(item.get("step")),
        timestamp=_int(item.get("timestamp")),
    )


def run(payload: Mapping[str, Any]) -> Run:
    info, data = payload.get("info", {}), payload.get("data", {})
    tags = key_values(data.get("tags"))
    end = info.get("end_time")
    return Run(
        info=RunInfo(
            run_id=str(info.get("run_id") or info.get("run_uuid")),
            run_name=str(info.get("run_name") or tags.get(RUN_NAME_TAG) or ""),
            status=str(info.get("status", "RUNNING")),
            start_time=_int(info.get("start_time")),
            end_time=_int(end) if end else None,
            artifact_uri=ours(str(info.get("artifact_uri", ""))),
        ),
        data=RunData(
            params=key_values(data.get("params")),
            metrics={m.key: m.value for m in map(metric, data.get("metrics") or ())},
            tags=tags,
        ),
    )


def model_version(payload: Mapping[str, Any]) -> ModelVersion:
    tags = key_values(payload.get("tags"))
    return ModelVersion(
        name=str(payload["name"]),
        version=_int(payload.get("version")),
        creation_timestamp=_int(payload.get("creation_timestamp")),
        last_updated_timestamp=_int(payload.get("last_updated_timestamp")),
        current_stage=str(payload.get("current_stage") or "None"),
        source=ours(str(payload.get("source", ""))),
        run_id=payload.get("run_id") or None,
        status=str(payload.get("status") or "READY"),
        description=payload.get("description") or None,
        tags=tags,
        aliases=sorted(str(a) for a in payload.get("aliases") or ()),
        digest=tags.get(DIGEST_TAG),
    )


def registered_model(payload: Mapping[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        name=str(payload["name"]),
        creation_timestamp=_int(payload.get("creation_timestamp")),
        last_updated_timestamp=_int(payload.get("last_updated_timestamp")),
        description=payload.get("description") or None,
        tags=key_values(payload.get("tags")),
        aliases={
            str(a["alias"]): _int(a.get("version"))
            for a in sorted(payload.get("aliases") or (), key=lambda a: str(a["alias"]))
        },
        latest_versions=sorted(
            (model_version(v) for v in payload.get("latest_versions") or ()),
            key=lambda v: v.version,
            reverse=True,
        ),
    )
