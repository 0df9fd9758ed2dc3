"""The run store: creating runs, logging params/metrics/tags, and reading them back.

Every public method is one transaction, so a crash never leaves half a batch logged. Params
are immutable once logged (the value a run was trained with must not change after the fact);
logging the same value again is accepted so retried Airflow tasks stay idempotent.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, select

from pyfunc_ops import config
from pyfunc_ops.core.uri import is_url, join
from pyfunc_ops.errors import ResourceNotFoundError
from pyfunc_ops.tracking.engine import read_transaction, write_transaction
from pyfunc_ops.tracking.entities import Metric, Run, RunData, RunInfo, RunStatus
from pyfunc_ops.tracking.runstore import RunStoreBase, run_not_found
from pyfunc_ops.tracking.schema import metrics, run_tags, runs
from pyfunc_ops.tracking.schema import params as param_table
from pyfunc_ops.tracking.sqlutil import in_chunks, now_ms, upsert
from pyfunc_ops.tracking.validation import new_params

__all__ = ["RunStore"]


def _artifact_root(root: str | None) -> str:
    root = root or config.artifact_root()
    # A plain path is made absolute now: the run row must not depend on a later cwd.
    return root if is_url(root) else os.path.abspath(os.path.expanduser(root))


class RunStore(RunStoreBase):
    """Runs in the database behind ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- errors ---------------------------------------------------------------------------

    def _not_found(self, conn: Connection, run_id: str) -> ResourceNotFoundError:
        prefix = str(run_id)[:2]
        similar = select(runs.c.run_id).where(runs.c.run_id.like(f"{prefix}%")).limit(1000)
        newest = select(runs.c.run_id).order_by(runs.c.start_time.desc()).limit(5)
        return run_not_found(
            run_id, [r[0] for r in conn.execute(similar)], [r[0] for r in conn.execute(newest)]
        )

    def _require(self, conn: Connection, run_id: str) -> None:
        found = conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first()
        if found is None:
            raise self._not_found(conn, run_id)

    # -- reading --------------------------------------------------------------------------

    def _load(self, conn: Connection, rows: Sequence[Any]) -> list[Run]:
        ids = [row.run_id for row in rows]
        data = {run_id: RunData() for run_id in ids}
        latest: dict[tuple[str, str], tuple[int, int, int]] = {}
        for chunk in in_chunks(ids):
            for p in conn.execute(select(param_table).where(param_table.c.run_id.in_(chunk))):
                data[p.run_id].params[p.key] = p.value
            for t in conn.execute(select(run_tags).where(run_tags.c.run_id.in_(chunk))):
                data[t.run_id].tags[t.key] = t.value
            for m in conn.execute(select(metrics).where(metrics.c.run_id.in_(chunk))):
                rank = (m.step, m.timestamp, m.id)
                if rank >= latest.get((m.run_id, m.key), rank):
                    latest[(m.run_id, m.key)] = rank
                    data[m.run_id].metrics[m.key] = math.nan if m.value is None else m.value
        return [
            Run(
                info=RunInfo(
                    run_id=row.run_id,
                    run_name=row.name,
                    status=row.status,
                    start_time=row.start_time,
                    end_time=row.end_time,
                    artifact_uri=row.artifact_uri,
                ),
                data=data[row.run_id],
            )
            for row in rows
        ]

    def get_run(self, run_id: str) -> Run:
        with read_transaction(self._engine) as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == str(run_id))).first()
            if row is None:
                raise self._not_found(conn, str(run_id))
            return self._load(conn, [row])[0]

    def _search_runs(
        self,
        statuses: list[str] | None,
        tags: dict[str, str],
        run_name: str | None,
        max_results: int | None,
    ) -> list[Run]:
        query = select(runs)
        if statuses is not None:
            query = query.where(runs.c.status.in_(statuses))
        if run_name is not None:
            query = query.where(runs.c.name == run_name)
        for key, value in tags.items():
            query = query.where(
                select(run_tags.c.run_id)
                .where(
                    and_(
                        run_tags.c.run_id == runs.c.run_id,
                        run_tags.c.key == key,
                        run_tags.c.value == value,
                    )
                )
                .exists()
            )
        query = query.order_by(runs.c.start_time.desc(), runs.c.run_id.desc())
        if max_results is not None:
            query = query.limit(max_results)
        with read_transaction(self._engine) as conn:
            return self._load(conn, list(conn.execute(query)))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        with read_transaction(self._engine) as conn:
            self._require(conn, run_id)
            rows = conn.execute(
                select(metrics)
                .where(and_(metrics.c.run_id == run_id, metrics.c.key == key))
                .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id)
            )
            return [
                Metric(r.key, math.nan if r.value is None else r.value, r.step, r.timestamp)
                for r in rows
            ]

    # -- writing --------------------------------------------------------------------------

    def _create_run(
        self,
        run_name: str | None,
        tags: dict[str, str],
        start_time: int | None,
        artifact_root: str | None,
        run_id: str | None,
    ) -> Run:
        run_id = run_id or uuid.uuid4().hex
        root = _artifact_root(artifact_root)
        with write_transaction(self._engine) as conn:
            conn.execute(
                runs.insert().values(
                    run_id=run_id,
                    name=run_name or f"run-{run_id[:8]}",
                    status=RunStatus.RUNNING,
                    start_time=start_time if start_time is not None else now_ms(),
                    end_time=None,
                    artifact_uri=join(root, run_id, "artifacts"),
                )
            )
            for key, value in tags.items():
                conn.execute(run_tags.insert().values(run_id=run_id, key=key, value=value))
        return self.get_run(run_id)

    def _update_run(
        self,
        run_id: str,
        status: str | None,
        end_time: int | None,
        run_name: str | None,
        clear_end_time: bool,
    ) -> None:
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = status
        if end_time is not None or clear_end_time:
            values["end_time"] = end_time
        if run_name:
            values["name"] = run_name
        with write_transaction(self._engine) as conn:
            self._require(conn, run_id)
            if values:
                conn.execute(runs.update().where(runs.c.run_id == run_id).values(**values))

    def _log_batch(
        self,
        run_id: str,
        metric_rows: list[dict[str, Any]],
        params: dict[str, str],
        tags: dict[str, str],
    ) -> None:
        """Everything in one transaction: all of it lands, or none of it."""
        for row in metric_rows:  # NaN is stored as NULL
            row["run_id"] = run_id
            if math.isnan(row["value"]):
                row["value"] = None
        with write_transaction(self._engine) as conn:
            self._require(conn, run_id)
            if params:
                existing = {
                    r.key: r.value
                    for r in conn.execute(
                        select(param_table.c.key, param_table.c.value).where(
                            and_(
                                param_table.c.run_id == run_id,
                                param_table.c.key.in_(list(params)),
                            )
                        )
                    )
                }
                new = [
                    {"run_id": run_id, "key": k, "value": v}
                    for k, v in new_params(run_id, params, existing).items()
                ]
                if new:
                    conn.execute(param_table.insert(), new)
            if metric_rows:
                conn.execute(metrics.insert(), metric_rows)
            for key, value in tags.items():
                upsert(conn, run_tags, {"run_id": run_id, "key": key}, {"value": value})

    def _delete_tag(self, run_id: str, key: str) -> bool:
        with write_transaction(self._engine) as conn:
            self._require(conn, run_id)
            statement = run_tags.delete().where(
                and_(run_tags.c.run_id == run_id, run_tags.c.key == key)
            )
            return bool(conn.execute(statement).rowcount)
