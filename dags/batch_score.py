"""Score a dataset with the champion model, in-process and on Spark.

Scheduled on the Asset ``pyfunc-ops://models/<name>@champion``: runs whenever
``retrain_and_package`` promotes a new champion.

wait_for_champion (ModelVersionSensor) + build_scoring_set -> score_pyfunc
(PyfuncPredictOperator, bounded-memory batches) and score_spark (SparkUDFScoreOperator)
-> summarize

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

from pyfunc_ops.airflow.assets import model_asset
from pyfunc_ops.airflow.operators import PyfuncPredictOperator, SparkUDFScoreOperator
from pyfunc_ops.airflow.sensors import ModelVersionSensor

MODEL_NAME = os.environ.get("PYFUNC_OPS_DEMO_MODEL", "demo_regressor")
FEATURES = ["f0", "f1", "f2", "f3"]
OUT_DIR = os.environ.get("PYFUNC_OPS_DEMO_DIR") or str(Path(__file__).resolve().parents[1] / "out")
MODEL_URI = "{{ ti.xcom_pull(task_ids='wait_for_champion')['model_uri'] }}"
VERSION = "{{ ti.xcom_pull(task_ids='wait_for_champion')['version'] }}"


@dag(
    schedule=[model_asset(MODEL_NAME, alias="champion")],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
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

    scoring_set = build_scoring_set()
    score_pyfunc = PyfuncPredictOperator(
        task_id="score_pyfunc",
        model_uri=MODEL_URI,
        input_url="{{ ti.xcom_pull(task_ids='build_scoring_set') }}",
        output_url="{{ params.out_dir }}/predictions/pyfunc/v" + VERSION + ".parquet",
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

    [champion, scoring_set] >> score_pyfunc
    [champion, scoring_set] >> score_spark
    [score_pyfunc, score_spark] >> summarize()


batch_score()
