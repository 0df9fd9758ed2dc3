"""What the registry view shows, gathered from the model registry and Airflow's database.

Read-only: nothing here writes to the registry or to Airflow. The registry is the one the
API server's settings name (``PYFUNC_OPS_TRACKING_URI``, or the ``pyfunc_ops`` connection
``[pyfunc_ops] ui_conn_id`` names); any store works, SQL or an MLflow server.

A model page must stay fast with hundreds of versions, so it costs a fixed number of
queries plus one run lookup per version *shown*: one search for all versions (their tags
carry the evaluation metrics, which is what the chart plots), one read of the recent Asset
events (which DAG runs scored with which version), and the runs of one page of versions
for their params and metrics. Checking that a version's files match their digest reads
every file, so it happens on the version's own page only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pyfunc_ops.core.names import EVAL_TAG_PREFIX
from pyfunc_ops.core.redact import redact

__all__ = [
    "PAGE_SIZE",
    "ModelPage",
    "VersionRow",
    "list_models",
    "model_page",
    "scoring_runs",
    "verify_version",
    "version_row",
]

PAGE_SIZE = 50
# How many recent Asset events are searched for scoring runs (newest first).
_EVENT_WINDOW = 20_000
_REGISTERED_BY = ("airflow.dag_id", "airflow.run_id", "airflow.task_id")


@dataclass
class VersionRow:
    """One version as the page lists it."""

    version: int
    stage: str
    aliases: list[str]
    digest: str | None
    source: str
    created: int
    run_id: str | None
    tags: dict[str, str]
    evaluation: dict[str, float]
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    registered_by: dict[str, str] | None = None
    scored_by: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ModelPage:
    """A model, one page of its versions, and the chart's points over all of them."""

    name: str
    description: str | None
    aliases: dict[str, int]
    total: int
    page: int
    pages: int
    rows: list[VersionRow]
    chart_metrics: list[str]
    metric: str | None
    points: list[tuple[int, float]]


def _number(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def list_models(client: Any) -> list[dict[str, Any]]:
    """Every registered model: name, description, aliases, last update."""
    return [
        {
            "name": model.name,
            "description": model.description,
            "aliases": dict(model.aliases),
            "updated": model.last_updated_timestamp,
        }
        for model in client.search_registered_models()
    ]


def scoring_runs(name: str, readable: set[str] | None) -> dict[int, list[dict[str, Any]]]:
    """``{version: [{dag_id, run_id, task_id, output_uri, timestamp}]}``: the task runs
    whose output Asset event names a version of ``name`` (what the scoring operators
    attach), among the recent events, for the DAGs in ``readable`` (``None``: all)."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    found: dict[int, list[dict[str, Any]]] = {}
    query = (
        select(
            AssetEvent.extra,
            AssetEvent.source_dag_id,
            AssetEvent.source_run_id,
            AssetEvent.source_task_id,
            AssetEvent.timestamp,
        )
        .where(AssetEvent.source_dag_id.is_not(None))
        .order_by(AssetEvent.id.desc())
        .limit(_EVENT_WINDOW)
    )
    with create_session() as session:
        rows = session.execute(query).all()
    for extra, dag_id, run_id, task_id, timestamp in rows:
        if not isinstance(extra, dict) or extra.get("name") != name:
            continue
        if "output_uri" not in extra or extra.get("version") is None:
            continue  # a registration or promotion event, not a scoring output
        if readable is not None and dag_id not in readable:
            continue
        found.setdefault(int(extra["version"]), []).append(
            {
                "dag_id": dag_id,
                "run_id": run_id,
                "task_id": task_id,
                "output_uri": redact(str(extra["output_uri"])),
                "timestamp": timestamp.isoformat() if timestamp else None,
            }
        )
    return found


def _registered_by(tags: dict[str, str], readable: set[str] | None) -> dict[str, str] | None:
    if not all(tags.get(key) for key in _REGISTERED_BY):
        return None
    if readable is not None and tags["airflow.dag_id"] not in readable:
        return None
    return {key.split(".", 1)[1]: tags[key] for key in _REGISTERED_BY}


def _chart(versions: Iterable[Any], metric: str | None) -> tuple[list[str], str | None, list]:
    """The evaluation metrics found on the versions' tags, the one to plot, its points."""
    names: set[str] = set()
    for version in versions:
        names.update(
            k[len(EVAL_TAG_PREFIX) :] for k in version.tags if k.startswith(EVAL_TAG_PREFIX)
        )
    names.discard("passed")
    names.discard("baseline")
    ordered = sorted(names)
    if metric not in names:
        preferred = ("root_mean_squared_error", "f1_score", "accuracy_score", "r2_score")
        metric = next((m for m in preferred if m in names), ordered[0] if ordered else None)
    points = []
    if metric is not None:
        for version in versions:
            value = _number(version.tags.get(EVAL_TAG_PREFIX + metric))
            if value is not None:
                points.append((int(version.version), value))
    return ordered, metric, sorted(points)


def _row(
    client: Any,
    version: Any,
    scored: dict[int, list[dict[str, Any]]],
    readable: set[str] | None,
    model_aliases: dict[str, int] | None = None,
) -> VersionRow:
    from pyfunc_ops.errors import ResourceNotFoundError

    row = VersionRow(
        version=int(version.version),
        stage=version.current_stage,
        # An MLflow server's version search leaves aliases out; the model lists them all.
        aliases=sorted(
            set(version.aliases)
            | {a for a, v in (model_aliases or {}).items() if int(v) == int(version.version)}
        ),
        digest=version.digest,
        source=redact(str(version.source)),
        created=version.creation_timestamp,
        run_id=version.run_id,
        tags={
            k: redact(str(v)) for k, v in sorted(version.tags.items()) if EVAL_TAG_PREFIX not in k
        },
        evaluation={
            k[len(EVAL_TAG_PREFIX) :]: value
            for k, v in sorted(version.tags.items())
            if k.startswith(EVAL_TAG_PREFIX) and (value := _number(v)) is not None
        },
        scored_by=scored.get(int(version.version), []),
    )
    if version.run_id:
        try:
            run = client.get_run(version.run_id)
        except ResourceNotFoundError:
            return row  # a run kept in another store
        row.params = {k: redact(str(v)) for k, v in sorted(run.data.params.items())}
        row.metrics = dict(sorted(run.data.metrics.items()))
        row.registered_by = _registered_by(run.data.tags, readable)
    return row


def version_row(client: Any, version: Any, readable: set[str] | None) -> VersionRow:
    """One version (a ``ModelVersion`` already read), as :func:`model_page` lists it."""
    aliases = dict(client.get_registered_model(version.name).aliases)
    return _row(client, version, scoring_runs(version.name, readable), readable, aliases)


def model_page(
    client: Any,
    name: str,
    *,
    page: int = 1,
    metric: str | None = None,
    readable: set[str] | None = None,
    page_size: int = PAGE_SIZE,
) -> ModelPage:
    """Model ``name``: its versions newest first, ``page_size`` a page, with the runs'
    params and metrics, who registered each version and which DAG runs scored with it."""
    model = client.get_registered_model(name)
    versions = client.search_model_versions(name=name)
    total = len(versions)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, page), pages)
    shown = versions[(page - 1) * page_size : page * page_size]
    scored = scoring_runs(name, readable)
    chart_metrics, metric, points = _chart(versions, metric)
    aliases = dict(model.aliases)
    rows = [_row(client, version, scored, readable, aliases) for version in shown]
    return ModelPage(
        name=model.name,
        description=model.description,
        aliases=dict(model.aliases),
        total=total,
        page=page,
        pages=pages,
        rows=rows,
        chart_metrics=chart_metrics,
        metric=metric,
        points=points,
    )


def verify_version(version: Any) -> tuple[str, str]:
    """``(state, detail)``: whether the version's files match the digest recorded when it
    was registered: ``verified``, ``failed`` (what differs), ``unknown`` (no digest) or
    ``unreadable`` (the files cannot be read from here)."""
    from pyfunc_ops.core.uri import is_remote
    from pyfunc_ops.errors import IntegrityError, PyfuncOpsError

    if not version.digest:
        return "unknown", "no digest was recorded for this version"
    source = str(version.source)
    try:
        if is_remote(source):
            from pyfunc_ops.storage.cache import fetch_verified

            fetch_verified(source, version.digest)
        else:
            from pyfunc_ops.core.uri import local_path
            from pyfunc_ops.models.manifest import verify

            verify(local_path(source), version.digest)
    except IntegrityError as exc:
        return "failed", redact(str(exc))
    except (PyfuncOpsError, OSError) as exc:
        return "unreadable", redact(str(exc))
    return "verified", version.digest
