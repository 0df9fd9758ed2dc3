"""The evaluation gate in a DAG, run by tests/airflow/test_evaluate_operator.py: evaluate
the newest version of a model against its champion, then a promotion step that must run
only on a pass. Everything comes in through ``params`` (rendered as native objects, so the
thresholds arrive as a mapping)."""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import dag, task

from pyfunc_ops.airflow.operators import EvaluateModelOperator

PARAMS = {
    "work": "",
    "model_name": "gate_model",
    "on_failure": "fail",
    "thresholds": {},
}


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    params=PARAMS,
    render_template_as_native_obj=True,
)
def evaluation_gate_test():
    evaluate = EvaluateModelOperator(
        task_id="evaluate",
        model_uri="models:/{{ params.model_name }}/latest",
        data_url="{{ params.work }}/holdout.parquet",
        target="target",
        baseline_model_uri="models:/{{ params.model_name }}@champion",
        thresholds="{{ params.thresholds }}",
        on_failure="{{ params.on_failure }}",
    )

    @task
    def promote(params=None, ti=None) -> None:
        verdict = ti.xcom_pull(task_ids="evaluate")
        Path(params["work"], "promoted").write_text(str(verdict["version"]))

    @task
    def after_promotion(params=None) -> None:
        Path(params["work"], "after").write_text("ran")

    evaluate >> promote() >> after_promotion()


evaluation_gate_test()
