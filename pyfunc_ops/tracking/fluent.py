"""The fluent API: ``start_run`` / ``log_param`` / ``end_run`` on an implicit active run.

The stack of active runs is per thread, not per process: Airflow's local executors and
user code may run several tasks' worth of training in threads, and one thread's run must
not receive another thread's metrics. Runs still active when the interpreter exits are
ended as FINISHED (as in MLflow) so they do not stay RUNNING forever.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.tracking.client import TrackingClient
from pyfunc_ops.tracking.entities import Metric, Run, RunStatus
from pyfunc_ops.tracking.runstore import PARENT_RUN_TAG, canonical_status
from pyfunc_ops.tracking.sqlutil import now_ms

logger = logging.getLogger(__name__)


class ActiveRun(Run):
    """The run ``start_run`` returned: a :class:`Run` that is also a context manager.

    Leaving the ``with`` block ends the run, FINISHED on a normal exit and FAILED when an
    exception escapes, then refreshes ``info`` and ``data`` from the store so they show the
    final status and everything logged inside the block.
    """

    def __init__(self, run: Run, client: TrackingClient) -> None:
        super().__init__(info=run.info, data=run.data)
        self._client = client

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        status = RunStatus.FINISHED if exc_type is None else RunStatus.FAILED
        _end(self, status)
        self.refresh()

    def refresh(self) -> None:
        """Reload ``info`` and ``data`` from the store."""
        fresh = self._client.get_run(self.info.run_id)
        self.info, self.data = fresh.info, fresh.data


class _State(threading.local):
    def __init__(self) -> None:
        self.stack: list[ActiveRun] = []


_state = _State()
# Every thread's active runs, so the exit hook can end them all.
_all_active: dict[str, ActiveRun] = {}
_all_lock = threading.Lock()


def active_run() -> ActiveRun | None:
    """The innermost run started in this thread and not yet ended, or ``None``."""
    return _state.stack[-1] if _state.stack else None


def start_run(
    run_id: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    nested: bool = False,
) -> ActiveRun:
    """Start a new run, or resume ``run_id`` (its status goes back to RUNNING), and make it
    the active run. Use as ``with start_run() as run: ...``.

    Starting a run while one is active needs ``nested=True``; the new run is then tagged
    with its parent's id.
    """
    parent = active_run()
    if parent is not None and not nested:
        raise InvalidParameterError(
            f"run {parent.info.run_id!r} is already active in this thread; end it with "
            "end_run() first, or pass nested=True to start a child run"
        )
    client = TrackingClient()
    all_tags = dict(tags or {})
    if parent is not None:
        all_tags.setdefault(PARENT_RUN_TAG, parent.info.run_id)
    if run_id is not None:
        client.runs.update_run(
            run_id, status=RunStatus.RUNNING, run_name=run_name, clear_end_time=True
        )
        if all_tags:
            client.log_batch(run_id, tags=all_tags)
        run = client.get_run(run_id)
        logger.info("resumed run %s", run_id)
    else:
        run = client.create_run(run_name=run_name, tags=all_tags)
    active = ActiveRun(run, client)
    _state.stack.append(active)
    with _all_lock:
        _all_active[run.info.run_id] = active
    return active


def _end(run: ActiveRun, status: str) -> None:
    status = canonical_status(status)
    # Identity, not equality: two handles on one run compare equal as dataclasses.
    _state.stack[:] = [r for r in _state.stack if r is not run]
    with _all_lock:
        _all_active.pop(run.info.run_id, None)
    run._client.set_terminated(run.info.run_id, status, now_ms())
    logger.info("ended run %s as %s", run.info.run_id, status)


def end_run(status: str = RunStatus.FINISHED) -> None:
    """End the active run with ``status``; does nothing when no run is active."""
    run = active_run()
    if run is not None:
        _end(run, status)


def _require_active() -> ActiveRun:
    run = active_run()
    if run is None:
        # Like MLflow: logging without a run starts one, so notebooks and scripts just work.
        run = start_run()
        logger.info(
            "no active run: started run %s to log to; end it with end_run()", run.info.run_id
        )
    return run


def log_param(key: str, value: Any) -> None:
    """Log a param to the active run (starting one if none is active)."""
    run = _require_active()
    run._client.log_param(run.info.run_id, key, value)


def log_params(params: Mapping[str, Any]) -> None:
    """Log several params to the active run in one transaction."""
    run = _require_active()
    run._client.log_batch(run.info.run_id, params=params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log a metric point to the active run (starting one if none is active)."""
    run = _require_active()
    run._client.log_metric(run.info.run_id, key, value, step=step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log several metrics (same step and timestamp) to the active run in one transaction."""
    run = _require_active()
    timestamp = now_ms()
    points = [Metric(k, v, step or 0, timestamp) for k, v in metrics.items()]
    run._client.log_batch(run.info.run_id, metrics=points)


def set_tag(key: str, value: Any) -> None:
    """Set a tag on the active run (starting one if none is active)."""
    run = _require_active()
    run._client.set_tag(run.info.run_id, key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set several tags on the active run in one transaction."""
    run = _require_active()
    run._client.log_batch(run.info.run_id, tags=tags)


@atexit.register
def _end_leftover_runs() -> None:
    with _all_lock:
        leftovers = list(_all_active.values())
    for run in leftovers:
        try:
            _end(run, RunStatus.FINISHED)
        except Exception:  # at exit the store may be gone; a log line is all we can do
            logger.warning("could not end run %s at exit", run.info.run_id, exc_info=True)
