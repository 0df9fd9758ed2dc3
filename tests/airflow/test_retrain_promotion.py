"""dags/retrain_and_package.py promotes with a compare-and-set: one run at a time, working
files in a folder of the run's own, and a promotion that someone else beat (between
``evaluate`` and ``set_champion``) fails instead of overwriting their champion."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pendulum
import pytest

from pyfunc_ops import tracking

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_FILE = Path(__file__).parents[2] / "dags" / "retrain_and_package.py"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("example_retrain_cas", DAG_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.retrain_and_package()


def test_one_run_at_a_time_and_a_run_folder_of_its_own(airflow_db: Path) -> None:
    dag = _load()
    assert dag.max_active_runs == 1
    set_champion = dag.get_task("set_champion")
    assert "baseline_version" in set_champion.expected_version


def test_a_promotion_beaten_by_another_fails_and_keeps_theirs(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyfunc_ops.airflow.operators.registry import SetModelAliasOperator

    client = tracking.TrackingClient()
    theirs = client.register_model("/elsewhere/model", "demo_regressor")  # version 1
    real = SetModelAliasOperator.execute_job

    def someone_promotes_first(self: SetModelAliasOperator, context: Any) -> Any:
        # Another run (or the CLI) moves the champion after evaluate saw "none".
        client.set_registered_model_alias("demo_regressor", "champion", theirs.version)
        return real(self, context)

    monkeypatch.setattr(SetModelAliasOperator, "execute_job", someone_promotes_first)
    out = tmp_path / "out"
    run = _load().test(
        logical_date=pendulum.datetime(2024, 3, 1, tz="UTC"),
        run_conf={"out_dir": str(out), "rows": 300},
    )

    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["evaluate"] == "success" and states["set_champion"] == "failed"
    assert client.get_model_version_by_alias("demo_regressor", "champion").version == 1
    # The run's files are under <day>/<run_id>, not shared with other runs of the day.
    [run_folder] = (out / "data" / "training" / "20240301").iterdir()
    assert run_folder.name == re.sub(r"[^A-Za-z0-9._-]+", "_", run.run_id)
    assert (run_folder / "train.parquet").is_file()
    assert (out / "estimators" / "20240301" / run_folder.name / "ridge.skops").is_file()
