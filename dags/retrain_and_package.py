"""Retrain, package, evaluate and (maybe) promote a model every day.

build_training_set -> train -> package (log + register) -> log_run_params -> evaluate
(EvaluateModelOperator, the gate) -> set_champion

The training set is synthetic and deterministic for a logical date, so a rerun of a day
rebuilds the same data. ``log_run_params`` records the training parameters on the run the
package step created; ``evaluate`` scores the holdout with the new version and with the
current champion, records the metrics on the new version's run (and as its tags, with a
JSON + PNG report among its artifacts), and lets the promotion run only when the new
version's RMSE is at least 1% lower than the champion's (MLflow's ``MetricThreshold``
semantics; the first version, with no champion to beat, only has to reach R² 0.5).
Otherwise it short-circuits: ``set_champion`` is skipped. ``set_champion`` emits the Asset
event ``pyfunc-ops://models/<name>@champion`` that schedules ``batch_score``.

Promotion is a compare-and-set: ``evaluate`` returns the champion version it compared
against (``baseline_version``) and ``set_champion`` moves the alias only if it still points
there (``expected_version``; ``0`` when there was no champion), so a run that lost a race
with another promotion fails with ``AliasConflictError`` instead of overwriting a better
model. ``max_active_runs=1`` keeps a manual trigger and the scheduled run of a day from
racing in the first place.

Everything is written under ``PYFUNC_OPS_DEMO_DIR`` (default: ``out/`` in the repository):
data and estimator files in a folder of their own per run (``<day>/<run_id>``, so two runs
never write the same files), the model and the registry wherever the ``pyfunc_ops``
connection or the ``PYFUNC_OPS_*`` variables point (``scripts/main_job.sh`` puts them under
``out/`` too).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import dag, get_current_context, task

from pyfunc_ops.airflow.operators import (
    EvaluateModelOperator,
    SavePyfuncModelOperator,
    SetModelAliasOperator,
)
from pyfunc_ops.core.uri import models_uri

MODEL_NAME = os.environ.get("PYFUNC_OPS_DEMO_MODEL", "demo_regressor")
FEATURES = ["f0", "f1", "f2", "f3"]
OUT_DIR = os.environ.get("PYFUNC_OPS_DEMO_DIR") or str(Path(__file__).resolve().parents[1] / "out")


def _day() -> str:
    """The run's logical date (or, for runs without one, the time it ran after)."""
    context = get_current_context()
    run = context["dag_run"]
    return (run.logical_date or run.run_after).strftime("%Y%m%d")


def _run_folder() -> str:
    """``<day>/<run_id>``: this run's own working folder (the day first, so a listing stays
    ordered; the run id, made a single path component, so reruns and a manual trigger on
    the same day never share files)."""
    run_id = str(get_current_context()["dag_run"].run_id)
    return f"{_day()}/{re.sub(r'[^A-Za-z0-9._-]+', '_', run_id)}"


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={"out_dir": OUT_DIR, "rows": 2000},
    tags=["pyfunc_ops", "example"],
    doc_md=__doc__,
)
def retrain_and_package():
    @task
    def build_training_set(params: dict[str, Any] | None = None) -> dict[str, str]:
        import numpy as np
        import pandas as pd

        assert params is not None
        day = _day()
        rng = np.random.default_rng(int(day))
        rows = int(params["rows"])
        x = rng.normal(size=(rows, len(FEATURES)))
        y = (
            x @ np.array([1.5, -2.0, 0.5, 0.0])
            + 0.8 * np.sin(3 * x[:, 3])
            + 0.2 * rng.normal(size=rows)
        )
        frame = pd.DataFrame(x, columns=FEATURES).assign(target=y)
        folder = Path(params["out_dir"]) / "data" / "training" / _run_folder()
        folder.mkdir(parents=True, exist_ok=True)
        cut = int(rows * 0.8)
        frame.iloc[:cut].to_parquet(folder / "train.parquet", index=False)
        frame.iloc[cut:].to_parquet(folder / "holdout.parquet", index=False)
        return {"train": str(folder / "train.parquet"), "holdout": str(folder / "holdout.parquet")}

    @task
    def train(data: dict[str, str], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Fit a ridge regression whose strength varies by day, so champions come and go."""
        import numpy as np
        import pandas as pd
        from sklearn.linear_model import Ridge

        # Not a bare ``import skops.io``: inside a task, skops' module scan at import
        # touches every Airflow deprecation shim and floods the task log with warnings.
        from pyfunc_ops.sklearn import import_skops_io

        assert params is not None
        day = _day()
        alpha = float(np.random.default_rng(int(day) + 1).choice([0.1, 1.0, 30.0, 300.0]))
        frame = pd.read_parquet(data["train"])
        model = Ridge(alpha=alpha).fit(frame[FEATURES], frame["target"])
        folder = Path(params["out_dir"]) / "estimators" / _run_folder()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "ridge.skops"
        import_skops_io().dump(model, path)
        return {"estimator": str(path), "alpha": alpha, "training_rows": len(frame)}

    package = SavePyfuncModelOperator(
        task_id="package",
        estimator_path="{{ ti.xcom_pull(task_ids='train')['estimator'] }}",
        registered_model_name=MODEL_NAME,
        tags={"features": ",".join(FEATURES)},
        signature={"inputs": [{"name": f, "type": "double"} for f in FEATURES]},
    )

    @task
    def log_run_params(
        trained: dict[str, Any], packaged: dict[str, Any], params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The training parameters, on the run that holds the model (``describe`` shows them
        with the metrics ``evaluate`` adds)."""
        from pyfunc_ops.airflow.hooks import PyfuncOpsHook

        assert params is not None
        logged = {
            "model": "Ridge",
            "alpha": trained["alpha"],
            "features": ",".join(FEATURES),
            "training_rows": trained["training_rows"],
            "day": _day(),
        }
        hook = PyfuncOpsHook()
        with hook.configured():
            hook.get_client().log_batch(packaged["run_id"], params=logged)
        return logged

    evaluate = EvaluateModelOperator(
        task_id="evaluate",
        model_uri=f"models:/{MODEL_NAME}/" + "{{ ti.xcom_pull(task_ids='package')['version'] }}",
        data_url="{{ ti.xcom_pull(task_ids='build_training_set')['holdout'] }}",
        target="target",
        columns=FEATURES,
        model_type="regressor",
        baseline_model_uri=models_uri(MODEL_NAME, alias="champion"),
        thresholds={
            "r2_score": {"threshold": 0.5},
            "root_mean_squared_error": {"min_relative_change": 0.01},
        },
        on_failure="short_circuit",
    )

    set_champion = SetModelAliasOperator(
        task_id="set_champion",
        name=MODEL_NAME,
        alias="champion",
        version="{{ ti.xcom_pull(task_ids='evaluate')['version'] }}",
        # The champion evaluate compared against (0: there was none): compare-and-set.
        expected_version="{{ ti.xcom_pull(task_ids='evaluate')['baseline_version'] or 0 }}",
    )

    data = build_training_set()
    trained = train(data)
    trained >> package
    log_run_params(trained, package.output) >> evaluate >> set_champion


retrain_and_package()
