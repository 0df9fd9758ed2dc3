"""``EvaluateModelOperator`` in a real DAG run (``dag.test()``): the verdict in XCom and as
the extra of the evaluations asset's event, and what each ``on_failure`` does to the
promotion step downstream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pyfunc_ops.tracking import TrackingClient

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_FILE = Path(__file__).parent / "dags" / "evaluation_gate_test.py"
FEATURES = ["f0", "f1"]
MODEL = "gate_model"


def _frame(seed: int, rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 2))
    return pd.DataFrame(x, columns=FEATURES).assign(target=2 * x[:, 0] - x[:, 1])


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A champion (version 1, a constant) and a better candidate (version 2) of
    ``gate_model`` in the default store, and the holdout."""
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression

    from pyfunc_ops import sklearn

    train = _frame(1)
    for estimator in (DummyRegressor(), LinearRegression()):
        fitted = estimator.fit(train[FEATURES], train["target"])
        sklearn.log_model(fitted, "model", registered_model_name=MODEL)
    TrackingClient().set_registered_model_alias(MODEL, "champion", 1)
    folder = tmp_path / "work"
    folder.mkdir()
    _frame(2).to_parquet(folder / "holdout.parquet", index=False)
    return folder


def _run(work: Path, **conf: Any) -> tuple[Any, dict[str, str]]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("evaluation_gate_test", DAG_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.evaluation_gate_test()
    run = dag.test(run_conf={"work": str(work), "model_name": MODEL, **conf})
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    return run, states


def _verdict(run: Any) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        value = (
            session.query(XComModel.value)
            .filter(
                XComModel.run_id == run.run_id,
                XComModel.task_id == "evaluate",
                XComModel.key == "return_value",
            )
            .scalar()
        )
    return json.loads(value) if isinstance(value, str) else value


def _events(run: Any) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        return [
            {"uri": e.asset.uri, "extra": e.extra}
            for e in session.query(AssetEvent).filter(AssetEvent.source_run_id == run.run_id)
        ]


def test_a_pass_lets_the_promotion_run(airflow_db: Path, work: Path) -> None:
    run, states = _run(work, thresholds={"root_mean_squared_error": {"min_relative_change": 0.5}})
    assert run.state == "success", states
    assert states == {"evaluate": "success", "promote": "success", "after_promotion": "success"}
    assert (work / "promoted").read_text() == "2"
    verdict = _verdict(run)
    assert verdict["passed"] is True and verdict["model_uri"] == f"models:/{MODEL}/2"
    assert verdict["baseline"]["version"] == verdict["baseline_version"] == 1
    assert verdict["metrics"]["root_mean_squared_error"] < 1e-6
    [event] = _events(run)
    assert event["uri"] == f"pyfunc-ops://evaluations/{MODEL}"
    assert event["extra"]["passed"] is True
    assert event["extra"]["metrics"] == verdict["metrics"]
    # The run of version 2 carries the metrics the gate computed.
    version = TrackingClient().get_model_version(MODEL, 2)
    assert version.tags["pyfunc_ops.eval.passed"] == "true"
    assert "r2_score" in TrackingClient().get_run(str(version.run_id)).data.metrics


def test_short_circuit_succeeds_and_skips_the_promotion(airflow_db: Path, work: Path) -> None:
    TrackingClient().set_registered_model_alias(MODEL, "champion", 2)
    run, states = _run(
        work, thresholds={"r2_score": {"min_absolute_change": 0.1}}, on_failure="short_circuit"
    )
    assert states == {"evaluate": "success", "promote": "skipped", "after_promotion": "skipped"}
    assert not (work / "promoted").exists()
    verdict = _verdict(run)
    assert verdict["passed"] is False
    assert "min_absolute_change 0.1" in verdict["failures"][0]
    [event] = _events(run)
    assert event["extra"]["passed"] is False


def test_skip_skips_the_gate_and_what_follows(airflow_db: Path, work: Path) -> None:
    TrackingClient().set_registered_model_alias(MODEL, "champion", 2)
    run, states = _run(
        work, thresholds={"r2_score": {"min_absolute_change": 0.1}}, on_failure="skip"
    )
    assert states == {"evaluate": "skipped", "promote": "skipped", "after_promotion": "skipped"}
    assert _events(run) == []


def test_fail_fails_the_task_without_retrying(airflow_db: Path, work: Path) -> None:
    TrackingClient().set_registered_model_alias(MODEL, "champion", 2)
    run, states = _run(work, thresholds={"r2_score": {"min_absolute_change": 0.1}})
    assert run.state == "failed"
    assert states["evaluate"] == "failed"
    assert states["promote"] == "upstream_failed"
    assert not (work / "promoted").exists()
    # The failed verdict is on record all the same.
    assert TrackingClient().get_model_version(MODEL, 2).tags["pyfunc_ops.eval.passed"] == "false"
