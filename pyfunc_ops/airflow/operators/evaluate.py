"""``EvaluateModelOperator``: the evaluation gate of a retraining DAG."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.skipmixin import SkipMixin

from pyfunc_ops.airflow.assets import emit_evaluation_event, evaluation_outlets
from pyfunc_ops.airflow.operators.base import PyfuncOpsBaseOperator
from pyfunc_ops.core.redact import redact, redact_mapping
from pyfunc_ops.jobs.evaluation import EvaluateRequest

if TYPE_CHECKING:
    from airflow.sdk import Context


class EvaluateModelOperator(PyfuncOpsBaseOperator, SkipMixin):
    """Evaluate the model at ``model_uri`` on the labelled ``data_url`` and gate what
    follows on the verdict (see :mod:`pyfunc_ops.jobs.evaluation`).

    The arguments (all templated) are the fields of
    :class:`~pyfunc_ops.jobs.evaluation.EvaluateRequest`, with its defaults: ``model_uri``,
    ``data_url``, ``target``, ``model_type``, ``thresholds``, ``baseline_model_uri``,
    ``on_failure``, ...; plus ``pyfunc_ops_conn_id`` and ``aws_conn_id``.

    When a threshold is not met, ``on_failure`` decides, as Airflow's own operators do:

    - ``"fail"`` (default): the task fails, without retries (a verdict does not change
      on a retry);
    - ``"skip"``: the task is skipped, and with it the tasks that need it to succeed;
    - ``"short_circuit"``: the task succeeds with the verdict, and every task downstream
      is skipped, as ``@task.short_circuit`` does (a promotion never runs);
    - ``"continue"``: the task succeeds; downstream tasks read ``passed`` themselves.

    Returns (XCom) the verdict: ``{"passed", "model_uri", "name", "version", "run_id",
    "rows", "metrics", "baseline", "baseline_version", "checks", "failures", "report_uri",
    "plot_uri"}`` (``model_uri`` pinned to the version evaluated; ``baseline_version`` is
    the champion a compare-and-set promotion expects, ``None`` when there was none). The
    same dict is the extra of the event of ``pyfunc-ops://evaluations/<name>`` when the
    task succeeds.
    """

    request_type = EvaluateRequest
    inherits_from_skipmixin = True
    ui_color = "#e3f4e1"

    def __init__(self, **kwargs: Any) -> None:
        model_uri = kwargs.get("model_uri")
        super().__init__(**self.with_default_outlets(kwargs, evaluation_outlets, model_uri))

    def lineage_io(self) -> tuple[list[str], list[str]]:
        return [str(getattr(self, "data_url", ""))], []

    def execute_job(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from pyfunc_ops.errors import ModelValidationError
        from pyfunc_ops.jobs.evaluation import run_evaluate_model

        request: EvaluateRequest = self.job_request()
        try:
            # Redacted here: the verdict is also an Asset event's extra, stored as it is.
            verdict = redact_mapping(run_evaluate_model(request).to_dict())
        except ModelValidationError as exc:
            raise AirflowFailException(redact(str(exc))) from exc
        self.record_model(verdict["model_uri"])
        self._lineage_inputs = [str(request.data_url)]
        if verdict["passed"] or request.on_failure == "continue":
            emit_evaluation_event(context, list(self.outlets), verdict)
            return verdict
        reasons = "; ".join(verdict["failures"])
        if request.on_failure == "skip":
            raise AirflowSkipException(f"{verdict['model_uri']} failed its evaluation: {reasons}")
        # short_circuit: succeed with the verdict, skip everything downstream.
        emit_evaluation_event(context, list(self.outlets), verdict)
        context["ti"].xcom_push(key="return_value", value=verdict)
        self.log.info(
            "%s failed its evaluation (%s): skipping downstream tasks",
            verdict["model_uri"],
            reasons,
        )
        task = context["task"]
        downstream = [t for t in task.get_flat_relatives(upstream=False) if not t.is_teardown]
        self.skip(ti=context["ti"], tasks=downstream)
        return verdict
