"""The run half of the store base: what every backend's run store offers.

A backend implements the primitives (the ``_``-prefixed abstract methods, ``get_run`` and
``get_metric_history``); the checks on keys, values, statuses and search arguments, the
"run not found" and "no such tag" wording and the tag delete are here, once, so every
store refuses the same input with the same message. The registry half is
:class:`pyfunc_ops.tracking.store.RegistryStoreBase`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pyfunc_ops.errors import InvalidParameterError, ResourceNotFoundError
from pyfunc_ops.tracking import hints
from pyfunc_ops.tracking.entities import Metric, Run, RunStatus
from pyfunc_ops.tracking.sqlutil import now_ms
from pyfunc_ops.tracking.validation import (
    string_values,
    validate_batch,
    validate_max_results,
    validate_tags,
    validate_text,
)

__all__ = ["PARENT_RUN_TAG", "RunStoreBase", "canonical_status", "run_not_found"]

#: The tag naming a nested run's parent.
PARENT_RUN_TAG = "pyfunc_ops.parentRunId"


def canonical_status(status: str) -> str:
    """``status`` upper-cased and checked against :class:`RunStatus`."""
    value = str(status).strip().upper()
    if value not in RunStatus.ALL:
        raise InvalidParameterError(
            f"run status {status!r} is not a run status; expected one of {', '.join(RunStatus.ALL)}"
        )
    return value


def run_not_found(
    run_id: str, candidates: Sequence[str], recent: Sequence[str]
) -> ResourceNotFoundError:
    """No run ``run_id``: name the ids that look like it among ``candidates``, else the
    ``recent`` ones (newest first)."""
    near = hints.closest(str(run_id), candidates)
    if near:
        known = f"closest run ids: {', '.join(near)}"
    elif recent:
        known = f"most recent run ids: {', '.join(recent[:5])}"
    else:
        known = "the tracking store has no runs yet"
    return ResourceNotFoundError(
        f"run {run_id!r} does not exist in the tracking store; {known}. Check the run id "
        "and that PYFUNC_OPS_TRACKING_URI points at the store the run was logged to"
    )


class RunStoreBase(abc.ABC):
    """Runs: create, log to, end, read and search them."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run: ...

    def search_runs(
        self,
        status: str | Iterable[str] | None = None,
        tags: Mapping[str, str] | None = None,
        run_name: str | None = None,
        max_results: int | None = 1000,
    ) -> list[Run]:
        """Runs, newest first, optionally only those with one of ``status`` and all
        ``tags``."""
        max_results = validate_max_results(max_results, "search_runs")
        validate_tags(tags, "search_runs")
        validate_text(run_name, "run_name", "search_runs")
        statuses = None
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            statuses = list(dict.fromkeys(canonical_status(s) for s in wanted))
        tag_values = {str(k): str(v) for k, v in (tags or {}).items()}
        return self._search_runs(statuses, tag_values, run_name, max_results)

    @abc.abstractmethod
    def _search_runs(
        self,
        statuses: list[str] | None,
        tags: dict[str, str],
        run_name: str | None,
        max_results: int | None,
    ) -> list[Run]:
        """``statuses`` are canonical; ``None`` means any."""

    @abc.abstractmethod
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]: ...

    def create_run(
        self,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        start_time: int | None = None,
        artifact_root: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        """A new RUNNING run."""
        tag_values = string_values(tags, "tag")
        return self._create_run(run_name, tag_values, start_time, artifact_root, run_id)

    @abc.abstractmethod
    def _create_run(
        self,
        run_name: str | None,
        tags: dict[str, str],
        start_time: int | None,
        artifact_root: str | None,
        run_id: str | None,
    ) -> Run: ...

    def update_run(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
        clear_end_time: bool = False,
    ) -> None:
        """Change a run's status, end time or name (``clear_end_time``: a resumed run)."""
        status = None if status is None else canonical_status(status)
        self._update_run(run_id, status, end_time, run_name, clear_end_time)

    @abc.abstractmethod
    def _update_run(
        self,
        run_id: str,
        status: str | None,
        end_time: int | None,
        run_name: str | None,
        clear_end_time: bool,
    ) -> None: ...

    def log_batch(
        self,
        run_id: str,
        metrics_: Iterable[Metric] = (),
        params_: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Log metrics, params and tags; checked here, written by the backend (which
        refuses a changed param with :func:`~pyfunc_ops.tracking.validation.new_params`)."""
        rows, param_values, tag_values = validate_batch(run_id, metrics_, params_, tags, now_ms())
        self._log_batch(run_id, rows, param_values, tag_values)

    @abc.abstractmethod
    def _log_batch(
        self,
        run_id: str,
        metric_rows: list[dict[str, Any]],
        params: dict[str, str],
        tags: dict[str, str],
    ) -> None: ...

    def delete_tag(self, run_id: str, key: str) -> None:
        if not self._delete_tag(run_id, key):
            tags = self.get_run(run_id).data.tags
            raise ResourceNotFoundError(
                f"run {run_id!r} has no tag {key!r}; its tags: "
                + hints.listing(hints.ranked(key, sorted(tags)), "none")
            )

    @abc.abstractmethod
    def _delete_tag(self, run_id: str, key: str) -> bool:
        """Delete the tag; ``False`` when the run has no such tag. A missing run raises
        its not-found error."""
