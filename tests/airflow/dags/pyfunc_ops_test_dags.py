"""DAGs the provider's tests run with ``dag.test()`` (Airflow 3.3 runs only DAGs it can
serialize from a bundle, so they live in a file). Every path and name comes in through
``params`` so a test points a run at its own temporary folder; the operators receive those
values through templates, which the tests check were rendered."""

from __future__ import annotations

import json
from pathlib import Path

import pendulum
from airflow.sdk import dag, task

from pyfunc_ops.airflow.operators import (
    PyfuncPredictOperator,
    SavePyfuncModelOperator,
    SetModelAliasOperator,
    TransitionModelStageOperator,
)

PARAMS = {"work": "", "model_name": "test_model"}


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), params=PARAMS)
def pyfunc_ops_operators_test():
    @task
    def train(params=None) -> str:
        import numpy as np
        import skops.io
        from sklearn.linear_model import LinearRegression

        x = np.random.default_rng(0).normal(size=(50, 2))
        model = LinearRegression().fit(x, x[:, 0] * 3 + x[:, 1])
        path = str(Path(params["work"]) / "estimator.skops")
        skops.io.dump(model, path)
        return path

    package = SavePyfuncModelOperator(
        task_id="package",
        estimator_path="{{ ti.xcom_pull(task_ids='train') }}",
        registered_model_name="{{ params.model_name }}",
        run_name="pkg-{{ params.model_name }}",
    )
    promote = SetModelAliasOperator(
        task_id="promote",
        name="{{ params.model_name }}",
        alias="champion",
        version="{{ ti.xcom_pull(task_ids='package')['version'] }}",
    )
    stage = TransitionModelStageOperator(
        task_id="stage",
        name="{{ params.model_name }}",
        version="{{ ti.xcom_pull(task_ids='package')['version'] }}",
        stage="Production",
    )
    score = PyfuncPredictOperator(
        task_id="score",
        model_uri="models:/{{ params.model_name }}@champion",
        input_url="{{ params.work }}/input",
        output_url="{{ params.work }}/scored/predictions.parquet",
        key_column="id",
        columns=["x0", "x1"],
        batch_size=7,
    )

    @task
    def report(params=None, ti=None) -> None:
        """Write every task's XCom for the test to read."""
        results = {t: ti.xcom_pull(task_ids=t) for t in ("package", "promote", "stage", "score")}
        (Path(params["work"]) / "results.json").write_text(json.dumps(results))

    train() >> package >> [promote, stage] >> score >> report()


pyfunc_ops_operators_test()
