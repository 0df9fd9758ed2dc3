"""The run store of an MLflow tracking server (REST API 2.0), and its MLflow 3 logged models.

Runs are created in one experiment (``MLFLOW_EXPERIMENT_ID``, default ``0``, MLflow's
"Default"), and searched in every active experiment, so runs MLflow logged elsewhere are
found too. The checks the SQL store makes before writing (key names, metric values, param
length and immutability) are made here first, so both stores refuse the same input with the
same message; the server's own refusals come through as
:class:`~pyfunc_ops.errors.InvalidParameterError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyfunc_ops.errors import InvalidParameterError, ResourceNotFoundError
from pyfunc_ops.tracking.entities import Metric, Run
from pyfunc_ops.tracking.rest import convert
from pyfunc_ops.tracking.rest.http import EndpointMissing, NotFoundOnServer, ServerConnection
from pyfunc_ops.tracking.runstore import RunStoreBase, run_not_found
from pyfunc_ops.tracking.sqlutil import now_ms
from pyfunc_ops.tracking.validation import new_params

__all__ = ["RestRunStore"]

# The server's per-request limits for runs/log-batch.
_BATCH_METRICS, _BATCH_PARAMS, _BATCH_TAGS = 1000, 100, 100
_PAGE = 1000


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class RestRunStore(RunStoreBase):
    """Runs on the MLflow tracking server behind ``connection``."""

    def __init__(self, connection: ServerConnection) -> None:
        self._conn = connection

    def __repr__(self) -> str:
        return f"RestRunStore({self._conn.url!r})"

    # -- errors ---------------------------------------------------------------------------

    def _recent_ids(self, limit: int) -> list[str]:
        return [r.info.run_id for r in self._search(None, limit)]

    def _not_found(self, run_id: str) -> ResourceNotFoundError:
        candidates = self._recent_ids(1000)
        similar = [c for c in candidates if c[:2] == str(run_id)[:2]]
        return run_not_found(run_id, similar, candidates)

    # -- reading --------------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run:
        try:
            answer = self._conn.call("GET", "/runs/get", {"run_id": str(run_id)})
        except NotFoundOnServer as exc:
            raise self._not_found(str(run_id)) from exc
        return convert.run(answer["run"])

    def _experiment_ids(self) -> list[str]:
        ids: list[str] = []
        token: str | None = None
        while True:
            answer = self._conn.call(
                "POST", "/experiments/search", {"max_results": _PAGE, "page_token": token}
            )
            ids.extend(str(e["experiment_id"]) for e in answer.get("experiments") or ())
            token = answer.get("next_page_token")
            if not token:
                return ids or [self._conn.config.experiment_id]

    def _search(self, filter_string: str | None, max_results: int | None) -> Iterator[Run]:
        token: str | None = None
        seen = 0
        experiments = self._experiment_ids()
        while True:
            page = _PAGE if max_results is None else max(1, min(_PAGE, max_results - seen))
            answer = self._conn.call(
                "POST",
                "/runs/search",
                {
                    "experiment_ids": experiments,
                    "filter": filter_string,
                    "max_results": page,
                    "order_by": ["attributes.start_time DESC", "attributes.run_id DESC"],
                    "page_token": token,
                },
            )
            for item in answer.get("runs") or ():
                yield convert.run(item)
                seen += 1
                if max_results is not None and seen >= max_results:
                    return
            token = answer.get("next_page_token")
            if not token:
                return

    def _search_runs(
        self,
        statuses: list[str] | None,
        tags: dict[str, str],
        run_name: str | None,
        max_results: int | None,
    ) -> list[Run]:
        clauses = []
        if statuses is not None and len(statuses) == 1:
            clauses.append(f"attributes.status = {_quote(statuses[0])}")
        if run_name is not None:
            clauses.append(f"attributes.run_name = {_quote(run_name)}")
        for key, value in tags.items():
            clauses.append(f"tags.`{key}` = {_quote(value)}")
        filter_string = " AND ".join(clauses) or None
        if statuses is not None and len(statuses) > 1:
            # Several statuses: filtered here (the server's run search has no status IN).
            found = [r for r in self._search(filter_string, None) if r.info.status in statuses]
            return found if max_results is None else found[:max_results]
        return list(self._search(filter_string, max_results))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self.get_run(run_id)
        answer = self._conn.call(
            "GET", "/metrics/get-history", {"run_id": run_id, "metric_key": key}
        )
        points = [convert.metric(m) for m in answer.get("metrics") or ()]
        return sorted(points, key=lambda m: (m.step, m.timestamp))

    # -- writing --------------------------------------------------------------------------

    def _create_run(
        self,
        run_name: str | None,
        tags: dict[str, str],
        start_time: int | None,
        artifact_root: str | None,
        run_id: str | None,
    ) -> Run:
        """A new RUNNING run. The server picks its id and artifact location (the
        experiment's), so ``artifact_root`` and ``run_id`` cannot be honoured and are
        refused rather than silently ignored."""
        if run_id is not None or artifact_root is not None:
            raise InvalidParameterError(
                f"the MLflow tracking server at {self._conn.url} chooses run ids and artifact "
                "locations itself; got "
                + (
                    f"run_id={run_id!r}"
                    if run_id is not None
                    else f"artifact_root={artifact_root!r}"
                )
                + ". Leave them unset, or set the experiment's artifact location on the server"
            )
        tag_values = dict(tags)
        if run_name:
            tag_values.setdefault(convert.RUN_NAME_TAG, run_name)
        answer = self._conn.call(
            "POST",
            "/runs/create",
            {
                "experiment_id": self._conn.config.experiment_id,
                "run_name": run_name,
                "start_time": start_time if start_time is not None else now_ms(),
                "tags": convert.as_key_values(tag_values),
            },
        )
        return convert.run(answer["run"])

    def _update_run(
        self,
        run_id: str,
        status: str | None,
        end_time: int | None,
        run_name: str | None,
        clear_end_time: bool,
    ) -> None:
        """Update a run. ``clear_end_time`` has no REST equivalent: a resumed run keeps
        its old end time until it ends again (as with MLflow's own client)."""
        body: dict[str, Any] = {"run_id": run_id, "run_uuid": run_id}
        if status is not None:
            body["status"] = status
        if end_time is not None:
            body["end_time"] = end_time
        if run_name:
            body["run_name"] = run_name
        try:
            self._conn.call("POST", "/runs/update", body)
        except NotFoundOnServer as exc:
            raise self._not_found(run_id) from exc

    def _log_batch(
        self,
        run_id: str,
        metric_rows: list[dict[str, Any]],
        param_values: dict[str, str],
        tag_values: dict[str, str],
    ) -> None:
        """Log in requests of the server's batch size (each one all or nothing)."""
        existing = self.get_run(run_id).data.params  # also: the run exists
        params = [
            {"key": k, "value": v} for k, v in new_params(run_id, param_values, existing).items()
        ]
        tag_rows = convert.as_key_values(tag_values)
        while metric_rows or params or tag_rows:
            self._conn.call(
                "POST",
                "/runs/log-batch",
                {
                    "run_id": run_id,
                    "metrics": metric_rows[:_BATCH_METRICS],
                    "params": params[:_BATCH_PARAMS],
                    "tags": tag_rows[:_BATCH_TAGS],
                },
            )
            metric_rows = metric_rows[_BATCH_METRICS:]
            params, tag_rows = params[_BATCH_PARAMS:], tag_rows[_BATCH_TAGS:]

    def _delete_tag(self, run_id: str, key: str) -> bool:
        # Looked up first, as the registry's tags are (and for the run's not-found message).
        if key not in self.get_run(run_id).data.tags:
            return False
        self._conn.call("POST", "/runs/delete-tag", {"run_id": run_id, "key": key})
        return True

    # -- MLflow 3 logged models -----------------------------------------------------------

    def logged_model_location(self, model_id: str) -> str:
        """The artifact URL of logged model ``model_id`` (``models:/m-...``)."""
        try:
            answer = self._conn.call("GET", f"/logged-models/{model_id}")
        except NotFoundOnServer as exc:
            recent = self._recent_logged_models()
            known = (
                f"most recent logged models: {', '.join(recent)}"
                if recent
                else "the server has no logged models"
            )
            raise ResourceNotFoundError(
                f"logged model {model_id!r} does not exist on the MLflow tracking server at "
                f"{self._conn.url}; {known}. Check the model id (log_model returns it as "
                "model_id)"
            ) from exc
        return convert.ours(str(answer["model"]["info"]["artifact_uri"]))

    def _recent_logged_models(self) -> list[str]:
        answer = self._conn.call(
            "POST",
            "/logged-models/search",
            {"experiment_ids": self._experiment_ids(), "max_results": 5},
        )
        return [
            f"{m['info']['model_id']} ({m['info'].get('name', '')})"
            for m in answer.get("models") or ()
        ]

    def run_logged_model_location(self, run_id: str, name: str) -> str | None:
        """Where the model MLflow 3 logged as ``name`` in run ``run_id`` is, if any
        (``None`` too from an MLflow 2 server, which has no logged models)."""
        experiment = self._run_experiment(run_id)
        token: str | None = None
        while True:
            try:
                answer = self._search_logged(experiment, name, token)
            except EndpointMissing:
                return None
            for model in answer.get("models") or ():
                info = model.get("info") or {}
                if info.get("source_run_id") == run_id and info.get("artifact_uri"):
                    return convert.ours(str(info["artifact_uri"]))
            token = answer.get("next_page_token")
            if not token:
                return None

    def _search_logged(self, experiment: str, name: str, token: str | None) -> dict[str, Any]:
        return self._conn.call(
            "POST",
            "/logged-models/search",
            {
                "experiment_ids": [experiment],
                "filter": f"name = {_quote(name)}",
                "max_results": 100,
                "page_token": token,
            },
        )

    def _run_experiment(self, run_id: str) -> str:
        try:
            answer = self._conn.call("GET", "/runs/get", {"run_id": run_id})
        except NotFoundOnServer as exc:
            raise self._not_found(run_id) from exc
        return str(answer["run"]["info"]["experiment_id"])
