"""End to end with real Airflow processes: a DAG scheduled on a watched champion asset,
parsed by ``airflow dags reserialize``, a real ``airflow triggerer`` running
``RegistryEventTrigger`` from the stored watcher, the alias moved from outside Airflow (the
pyfunc_ops ``TrackingClient`` in this test process), and then a real ``airflow scheduler``
for a few seconds, which turns the queued asset event into a DAG run.

The processes get a private AIRFLOW_HOME with a copy of the session's migrated (cached)
metadata database, so they see no DAG or trigger of the other tests, and one fixed Fernet
key: without it every Airflow process generates its own, and the triggerer cannot decrypt
the trigger kwargs the DAG parse stored (``cryptography.fernet.InvalidToken``). They bind
no port: ``--skip-serve-logs``, and the triggerer talks to the in-process execution API.
The test DAG has no task, so the scheduler's LocalExecutor never starts one (it would
need an API server) and the run completes at once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from airflow_processes import airflow_process, tail, wait_for
from cryptography.fernet import Fernet

from pyfunc_ops.airflow.assets import model_asset
from pyfunc_ops.tracking import TrackingClient

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

MODEL = "watched_by_triggerer"
DAG_ID = "score_on_the_watched_champion"
CONN_ID = "watched_registry"
DAG_SOURCE = f'''
"""Scheduled on the champion of {MODEL!r}, watched by the triggerer (written by
tests/airflow/test_triggerer_process.py)."""
import pendulum
from airflow.sdk import dag

from pyfunc_ops.airflow.assets import model_asset, model_watcher

WATCHER = model_watcher(
    {MODEL!r}, alias="champion", pyfunc_ops_conn_id={CONN_ID!r}, poll_interval=0.5
)


@dag(
    schedule=[model_asset({MODEL!r}, alias="champion", watchers=[WATCHER])],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
)
def {DAG_ID}():
    pass


{DAG_ID}()
'''
WATCHING = (
    f"watching a change of the alias 'champion' of registered model '{MODEL}'; now: version 1"
)


@contextmanager
def _airflow(command: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``airflow <command> --skip-serve-logs`` (no port bound)."""
    with airflow_process([command, "--skip-serve-logs"], env, log) as proc:
        yield proc


def test_a_real_triggerer_fires_the_asset_and_the_scheduler_runs_the_dag(
    migrated_db: Path, airflow_env: dict[str, str], tmp_path: Path
) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session, selectinload

    home = tmp_path / "airflow-home"
    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / "watched_champion.py").write_text(DAG_SOURCE)
    database = home / "airflow.db"
    shutil.copyfile(migrated_db, database)
    registry = {"tracking_uri": str(tmp_path / "registry.db"), "artifact_root": str(tmp_path / "a")}
    env = {
        **airflow_env,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{database}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [
                {
                    "name": "watched",
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(dags)},
                }
            ]
        ),
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        # Watchers are registered only for active, unpaused DAGs: one parse is then enough.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": "1",  # LocalExecutor workers (2 shared cores)
        f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(
            {"conn_type": "pyfunc_ops", "extra": registry}
        ),
    }
    client = TrackingClient(**registry)
    for number in (1, 2):
        client.register_model(f"/models/{MODEL}/{number}", MODEL)
    client.set_registered_model_alias(MODEL, "champion", 1)

    parsed = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "reserialize"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert parsed.returncode == 0, parsed.stdout[-3000:] + parsed.stderr[-3000:]

    engine = create_engine(f"sqlite:///{database}", connect_args={"timeout": 30})
    champion_uri = model_asset(MODEL, alias="champion").uri
    with Session(engine) as session:
        asset = session.scalars(select(AssetModel).where(AssetModel.uri == champion_uri)).one()
        assert [w.name for w in asset.watchers] == [f"pyfunc-ops-{MODEL}@champion"]

    def asset_event() -> dict[str, Any] | None:
        with Session(engine) as session:
            event = session.scalars(
                select(AssetEvent)
                .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
                .where(AssetModel.uri == champion_uri)
            ).first()
            return None if event is None else {"id": event.id, "extra": event.extra}

    def dag_run() -> tuple[str, list[int]] | None:
        with Session(engine) as session:
            run = session.scalars(
                select(DagRun)
                .where(DagRun.dag_id == DAG_ID)
                .options(selectinload(DagRun.consumed_asset_events))
            ).first()
            if run is None:
                return None
            return str(run.run_type), [e.id for e in run.consumed_asset_events]

    triggerer_log = tmp_path / "triggerer.log"
    scheduler_log = tmp_path / "scheduler.log"
    with _airflow("triggerer", env, triggerer_log) as triggerer:

        def watching() -> bool | None:
            assert triggerer.poll() is None, "the triggerer exited\n" + tail(triggerer_log)
            return True if WATCHING in triggerer_log.read_text(errors="replace") else None

        # The baseline is read when the trigger starts: move the alias only after that.
        wait_for(watching, 90, lambda: "the trigger never started\n" + tail(triggerer_log))
        assert asset_event() is None
        client.set_registered_model_alias(MODEL, "champion", 2)
        event = wait_for(
            asset_event, 30, lambda: "no asset event after the move\n" + tail(triggerer_log)
        )
        assert event["extra"]["from_trigger"] is True
        payload = event["extra"]["payload"]
        assert (payload["version"], payload["previous_version"], payload["alias"]) == (
            2,
            1,
            "champion",
        )
        assert (payload["model_uri"], payload["requested_uri"]) == (
            f"models:/{MODEL}/2",
            f"models:/{MODEL}@champion",
        )

        with _airflow("scheduler", env, scheduler_log) as scheduler:

            def scheduled() -> tuple[str, list[int]] | None:
                assert scheduler.poll() is None, "the scheduler exited\n" + tail(scheduler_log)
                return dag_run()

            run_type, consumed = wait_for(
                scheduled, 90, lambda: "no DAG run was created\n" + tail(scheduler_log)
            )
        assert run_type == DagRunType.ASSET_TRIGGERED
        assert consumed == [event["id"]]
        # One move, one event: the watch goes on without firing again.
        with Session(engine) as session:
            events = session.scalars(
                select(AssetEvent.id)
                .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
                .where(AssetModel.uri == champion_uri)
            ).all()
        assert events == [event["id"]], tail(triggerer_log)
