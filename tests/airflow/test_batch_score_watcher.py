"""Promotion from anywhere: the shipped ``dags/batch_score.py`` runs when the champion is
moved outside Airflow, by ``pyfunc-ops models set-alias`` in a shell.

Real processes on a private AIRFLOW_HOME (see airflow_processes.py): ``airflow dags
reserialize`` parses the example DAG (its watcher on, as shipped, with a short interval
from ``PYFUNC_OPS_DEMO_WATCH_INTERVAL``), a real ``airflow triggerer`` runs the watcher, the
CLI moves the alias, and a real ``airflow scheduler`` turns the Asset event into a DAG run
of ``batch_score``. The test stops at the run: its tasks would need an API server, and
test_dags.py runs them with ``dag.test()``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from airflow_processes import airflow_process, private_airflow_env, reserialize, tail, wait_for

from pyfunc_ops.airflow.assets import model_asset
from pyfunc_ops.tracking import TrackingClient

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

REPO_DAGS = Path(__file__).parents[2] / "dags"
MODEL = "demo_regressor"
WATCHING = (
    f"watching a change of the alias 'champion' of registered model '{MODEL}'; now: version 1"
)


def test_the_cli_moving_the_champion_schedules_batch_score(
    migrated_db: Path, airflow_env: dict[str, str], tmp_path: Path
) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session, selectinload

    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(REPO_DAGS / "batch_score.py", dags)
    tracking_uri = f"sqlite:///{tmp_path / 'registry.db'}"
    env = private_airflow_env(
        airflow_env,
        tmp_path / "airflow-home",
        migrated_db,
        dags,
        PYFUNC_OPS_TRACKING_URI=tracking_uri,
        PYFUNC_OPS_ARTIFACT_ROOT=str(tmp_path / "artifacts"),
        PYFUNC_OPS_DEMO_DIR=str(tmp_path / "out"),
        PYFUNC_OPS_DEMO_WATCH_INTERVAL="0.5",
    )
    client = TrackingClient(tracking_uri)
    for number in (1, 2):
        client.register_model(f"/models/{MODEL}/{number}", MODEL)
    client.set_registered_model_alias(MODEL, "champion", 1)
    reserialize(env)

    engine = create_engine(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    champion_uri = model_asset(MODEL, alias="champion").uri
    with Session(engine) as session:
        asset = session.scalars(select(AssetModel).where(AssetModel.uri == champion_uri)).one()
        # The shipped DAG watches its champion by default.
        assert [w.name for w in asset.watchers] == [f"pyfunc-ops-{MODEL}@champion"]

    def batch_score_run() -> tuple[str, int] | None:
        with Session(engine) as session:
            run = session.scalars(
                select(DagRun)
                .where(DagRun.dag_id == "batch_score")
                .options(selectinload(DagRun.consumed_asset_events))
            ).first()
            if run is None:
                return None
            return str(run.run_type), len(run.consumed_asset_events)

    def events() -> list[dict[str, object]]:
        with Session(engine) as session:
            return list(
                session.scalars(
                    select(AssetEvent.extra)
                    .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
                    .where(AssetModel.uri == champion_uri)
                ).all()
            )

    triggerer_log = tmp_path / "triggerer.log"
    scheduler_log = tmp_path / "scheduler.log"
    with airflow_process(["triggerer", "--skip-serve-logs"], env, triggerer_log) as triggerer:

        def watching() -> bool | None:
            assert triggerer.poll() is None, "the triggerer exited\n" + tail(triggerer_log)
            return True if WATCHING in triggerer_log.read_text(errors="replace") else None

        wait_for(watching, 90, lambda: "the watcher never started\n" + tail(triggerer_log))
        moved = subprocess.run(
            [sys.executable, "-m", "pyfunc_ops.cli", "models", "set-alias", MODEL, "champion", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert moved.returncode == 0, moved.stderr
        assert moved.stdout.strip() == f"{MODEL}: alias 'champion' -> version 2"
        [extra] = wait_for(
            lambda: events() or None,
            30,
            lambda: "no asset event after the CLI moved the alias\n" + tail(triggerer_log),
        )
        assert extra["payload"]["model_uri"] == f"models:/{MODEL}/2"  # type: ignore[index]

        with airflow_process(["scheduler", "--skip-serve-logs"], env, scheduler_log) as scheduler:

            def scheduled() -> tuple[str, int] | None:
                assert scheduler.poll() is None, "the scheduler exited\n" + tail(scheduler_log)
                return batch_score_run()

            run_type, consumed = wait_for(
                scheduled, 90, lambda: "batch_score did not run\n" + tail(scheduler_log)
            )
    assert run_type == DagRunType.ASSET_TRIGGERED
    assert consumed == 1
