"""Score a dataset with the champion model, in-process and on Spark.

Scheduled on the Asset ``pyfunc-ops://models/<name>@champion``: runs whenever the
champion moves, whoever moves it. ``retrain_and_package`` promoting a version emits the
Asset event itself; a move outside Airflow (``pyfunc-ops models set-alias``, a notebook,
the MLflow UI on an MLflow-server registry) is seen by the asset's watcher, a
``RegistryEventTrigger`` in the triggerer that asks the registry every
``PYFUNC_OPS_DEMO_WATCH_INTERVAL`` seconds (default 60) which version the alias points
at. ``PYFUNC_OPS_DEMO_WATCH_CHAMPION=false`` (when the DAG is parsed) leaves the watcher
out: then only promotions inside Airflow schedule this DAG. See docs/airflow_sensors.md
("Promotion from anywhere") for what watching costs.

wait_for_champion (ModelVersionSensor) -> not_scored_yet + build_scoring_set ->
score_pyfunc (PyfuncPredictOperator, bounded-memory batches) and score_spark
(SparkUDFScoreOperator) -> summarize

A promotion inside Airflow is seen twice (the operator's event, then the watcher's a poll
later); ``not_scored_yet`` short-circuits the second run, which finds the version's
predictions written already.

The sensor pins the version it saw (``models:/<name>/<version>``), so both scorers use the
same version even if the alias moves meanwhile. Predictions go to
``<out_dir>/predictions/{pyfunc,spark}/v<version>``; ``summarize`` writes
``<out_dir>/summary.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import dag, task

from pyfunc_ops.airflow.assets import model_asset, model_watcher
from pyfunc_ops.airflow.operators import PyfuncPredictOperator, SparkUDFScoreOperator
from pyfunc_ops.airflow.sensors import ModelVersionSensor

MODEL_NAME = os.environ.get("PYFUNC_OPS_DEMO_MODEL", "demo_regressor")
FEATURES = ["f0", "f1", "f2", "f3"]
OUT_DIR = os.environ.get("PYFUNC_OPS_DEMO_DIR") or str(Path(__file__).resolve().parents[1] / "out")
MODEL_URI = "{{ ti.xcom_pull(task_ids='wait_for_champion')['model_uri'] }}"
VERSION = "{{ ti.xcom_pull(task_ids='wait_for_champion')['version'] }}"
# Where the pyfunc scoring of a version goes: the operator's output and the "scored yet?"
# check both read this one pattern.
PYFUNC_OUTPUT = "{out_dir}/predictions/pyfunc/v{version}.parquet"
WATCH = os.environ.get("PYFUNC_OPS_DEMO_WATCH_CHAMPION", "true").strip().lower() not in (
    "0",
    "false",
    "no",
    "off",
)
WATCH_INTERVAL = float(os.environ.get("PYFUNC_OPS_DEMO_WATCH_INTERVAL", "60"))
CHAMPION = model_asset(
    MODEL_NAME,
    alias="champion",
    watchers=(
        [model_watcher(MODEL_NAME, alias="champion", poll_interval=WATCH_INTERVAL)] if WATCH else []
    ),
)


@dag(
    schedule=[CHAMPION],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={"out_dir": OUT_DIR, "rows": 20_000, "parts": 4},
    tags=["pyfunc_ops", "example"],
    doc_md=__doc__,
)
def batch_score():
    champion = ModelVersionSensor(
        task_id="wait_for_champion",
        name=MODEL_NAME,
        alias="champion",
        poke_interval=15,
        timeout=30 * 60,
        mode="reschedule",
    )

    @task
    def build_scoring_set(params: dict[str, Any] | None = None) -> str:
        """A fixed dataset of ``rows`` rows in ``parts`` Parquet files (built once)."""
        import numpy as np
        import pandas as pd

        assert params is not None
        rows, parts = int(params["rows"]), int(params["parts"])
        folder = Path(params["out_dir"]) / "data" / "scoring" / f"{rows}x{parts}"
        if folder.is_dir() and len(list(folder.glob("*.parquet"))) == parts:
            return str(folder)
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(42)
        per_part = rows // parts
        for part in range(parts):
            ids = np.arange(part * per_part, (part + 1) * per_part)
            frame = pd.DataFrame(rng.normal(size=(len(ids), len(FEATURES))), columns=FEATURES)
            frame.insert(0, "id", ids)
            frame.to_parquet(folder / f"part-{part:03d}.parquet", index=False)
        return str(folder)

    @task.short_circuit
    def not_scored_yet(params: dict[str, Any] | None = None, ti: Any = None) -> bool:
        """False when this champion's predictions exist (an event seen twice)."""
        assert params is not None
        version = ti.xcom_pull(task_ids="wait_for_champion")["version"]
        return not Path(PYFUNC_OUTPUT.format(out_dir=params["out_dir"], version=version)).exists()

    fresh = not_scored_yet()
    scoring_set = build_scoring_set()
    score_pyfunc = PyfuncPredictOperator(
        task_id="score_pyfunc",
        model_uri=MODEL_URI,
        input_url="{{ ti.xcom_pull(task_ids='build_scoring_set') }}",
        output_url=PYFUNC_OUTPUT.format(out_dir="{{ params.out_dir }}", version=VERSION),
        key_column="id",
        columns=FEATURES,
        batch_size=2_000,
    )
    score_spark = SparkUDFScoreOperator(
        task_id="score_spark",
        model_uri=MODEL_URI,
        input_path="{{ ti.xcom_pull(task_ids='build_scoring_set') }}",
        output_path="{{ params.out_dir }}/predictions/spark/v" + VERSION,
        columns=FEATURES,
        keep_columns=["id"],
        master="local[2]",
        conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"},
    )

    @task
    def summarize(params: dict[str, Any] | None = None, ti: Any = None) -> dict[str, Any]:
        import json

        from pyfunc_ops.airflow.hooks import PyfuncOpsHook

        assert params is not None
        found = ti.xcom_pull(task_ids="wait_for_champion")
        pyfunc_result = ti.xcom_pull(task_ids="score_pyfunc")
        spark_result = ti.xcom_pull(task_ids="score_spark")
        hook = PyfuncOpsHook()
        config = hook.get_config()
        latest = hook.get_client().search_model_versions(name=found["name"], max_results=1)
        summary = {
            "model": {"name": found["name"], "version": found["version"], "alias": "champion"},
            "latest_version": latest[0].version if latest else None,
            "model_uri": found["model_uri"],
            "model_location": found["source"],
            "registry": config.tracking_uri,
            "artifact_root": config.artifact_root,
            "pyfunc": pyfunc_result,
            "spark": spark_result,
        }
        path = Path(params["out_dir"]) / "summary.json"
        path.write_text(json.dumps(summary, indent=2))
        return summary

    champion >> fresh
    [fresh, scoring_set] >> score_pyfunc
    [fresh, scoring_set] >> score_spark
    [score_pyfunc, score_spark] >> summarize()


batch_score()
