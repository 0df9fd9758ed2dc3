"""The example DAGs: they import cleanly, and retrain_and_package then batch_score run end
to end (dag.test, small data, Spark local) on the embedded defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pendulum
import pytest

from pyfunc_ops import tracking

REPO_DAGS = Path(__file__).parents[2] / "dags"


def test_dag_files_import_without_errors(airflow_db: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"retrain_and_package", "batch_score", "fanout_score"}
    retrain = bag.get_dag("retrain_and_package")
    assert [t.task_id for t in retrain.topological_sort()] == [
        "build_training_set",
        "train",
        "package",
        "log_run_params",
        "evaluate",
        "set_champion",
    ]
    score = bag.get_dag("batch_score")
    assert "pyfunc-ops://models/demo_regressor@champion" in str(score.timetable.asset_condition)


def test_batch_score_watches_its_champion_unless_turned_off(
    airflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def watchers() -> list[str]:
        dag = _load("batch_score")
        [asset] = dag.timetable.asset_condition.objects
        return [w.name for w in asset.watchers]

    monkeypatch.setenv("PYFUNC_OPS_DEMO_WATCH_INTERVAL", "5")
    assert watchers() == ["pyfunc-ops-demo_regressor@champion"]
    monkeypatch.setenv("PYFUNC_OPS_DEMO_WATCH_CHAMPION", "false")
    assert watchers() == []


def _load(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"example_{name}", REPO_DAGS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)()


@pytest.mark.airflow
@pytest.mark.spark
@pytest.mark.slow
def test_retrain_then_batch_score(airflow_db: Path, tmp_path: Path) -> None:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    out = tmp_path / "out"
    retrain = _load("retrain_and_package")
    run = retrain.test(
        logical_date=pendulum.datetime(2024, 3, 1, tz="UTC"),
        run_conf={"out_dir": str(out), "rows": 300},
    )
    assert run.state == "success"
    client = tracking.TrackingClient()
    champion = client.get_model_version_by_alias("demo_regressor", "champion")
    assert champion.version == 1  # no champion before: the first version wins
    # Working files live in a folder of the run's own (<day>/<run_id>).
    [holdout_file] = (out / "data" / "training" / "20240301").glob("*/holdout.parquet")
    holdout = pd.read_parquet(holdout_file)
    # Better than predicting the mean: the model learned something.
    rmse = float(champion.tags["pyfunc_ops.eval.root_mean_squared_error"])
    assert 0 < rmse < holdout["target"].std()
    assert champion.tags["pyfunc_ops.eval.passed"] == "true"
    # The run tells the story: training params and the gate's metrics (what describe shows).
    logged = client.get_run(str(champion.run_id)).data
    assert set(logged.params) >= {"alpha", "features", "training_rows"}
    assert logged.metrics["root_mean_squared_error"] == pytest.approx(rmse, rel=1e-5)
    assert "r2_score" in logged.metrics
    with create_session() as session:
        uris = {e.asset.uri for e in session.query(AssetEvent).filter_by(source_run_id=run.run_id)}
    assert "pyfunc-ops://models/demo_regressor@champion" in uris

    scoring = _load("batch_score")
    run = scoring.test(run_conf={"out_dir": str(out), "rows": 400, "parts": 2})
    assert run.state == "success"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == {"name": "demo_regressor", "version": 1, "alias": "champion"}
    assert summary["latest_version"] == 1
    assert summary["registry"] == tracking.get_tracking_uri()  # the embedded default store
    assert summary["pyfunc"]["rows_out"] == summary["spark"]["rows_out"] == 400
    local = pd.read_parquet(summary["pyfunc"]["output_uri"]).sort_values("id")
    spark = pd.read_parquet(summary["spark"]["output_uri"]).sort_values("id")
    assert summary["pyfunc"]["output_uri"] == str(out / "predictions" / "pyfunc" / "v1.parquet")
    assert local["id"].tolist() == spark["id"].tolist() == list(range(400))
    pd.testing.assert_series_equal(
        local["prediction"].reset_index(drop=True), spark["prediction"].reset_index(drop=True)
    )
    # The same champion seen again (the watcher's event after the operator's): nothing to do.
    again = scoring.test(run_conf={"out_dir": str(out), "rows": 400, "parts": 2})
    states = {ti.task_id: str(ti.state) for ti in again.get_task_instances()}
    assert states["not_scored_yet"] == "success"
    assert states["score_pyfunc"] == states["score_spark"] == states["summarize"] == "skipped"
