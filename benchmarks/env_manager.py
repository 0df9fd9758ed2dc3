"""Benchmark: Spark scoring in the model's restored environment.

One scikit-learn model (HistGradientBoostingRegressor, 8 float columns), saved by MLflow so
that all variants read the same folder, scored on the same rows (default 400,000 in 8
partitions) on ``local[2]``:

* ``ours-local``      - ``pyfunc_ops.pyfunc.spark_udf(env_manager="local")``;
* ``ours-virtualenv`` - ``pyfunc_ops.pyfunc.spark_udf(env_manager="virtualenv")``: a
  virtualenv built from the model's requirements, one long-lived worker per Spark Python
  worker, batches sent as Arrow;
* ``mlflow-uv``       - ``mlflow.pyfunc.spark_udf(env_manager="uv")`` in the MLflow venv.

Warm: one untimed run first (it builds the environment and starts the workers), then
``--runs`` timed runs, medians reported. Data preparation and the timed expression are the
ones of ``benchmarks/spark_udf.py``.

    .venv/bin/python benchmarks/env_manager.py [--rows N] [--partitions P] [--runs R]

Prints a table and writes benchmarks/results/env_manager.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MLFLOW_SIDE
from spark_udf import (
    FEATURES,
    SPARK_CONF,
    bench_arguments,
    make_data,
    prepare_process,
    report,
    run_mlflow_script,
)


def _mlflow(payload: dict[str, Any], work: Path) -> dict[str, Any]:
    return run_mlflow_script(MLFLOW_SIDE, payload, work)


def run_ours(args: argparse.Namespace, model_dir: Path, data: Path) -> dict[str, Any]:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from pyfunc_ops.pyfunc import spark_udf

    builder = SparkSession.builder.master("local[2]").appName("bench-env-manager")
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    builder = builder.config(
        "spark.executorEnv.PYFUNC_OPS_ENV_DIR", os.environ["PYFUNC_OPS_ENV_DIR"]
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.read.parquet(str(data)).repartition(args.partitions).cache()
    df.count()
    exprs = {
        name: spark_udf(spark, str(model_dir), result_type="double", env_manager=manager)(*FEATURES)
        for name, manager in (("ours-local", "local"), ("ours-virtualenv", "virtualenv"))
    }

    def run(name: str) -> tuple[float, float]:
        start = time.perf_counter()
        total = df.select(exprs[name].alias("p")).agg(F.sum("p")).collect()[0][0]
        return time.perf_counter() - start, total

    cold: dict[str, float] = {}
    for name in exprs:
        cold[name] = run(name)[0]
        for _ in range(args.warmup - 1):
            run(name)
    times: dict[str, list[float]] = {name: [] for name in exprs}
    totals: dict[str, float] = {}
    for i in range(args.runs):
        for name in exprs if i % 2 == 0 else reversed(exprs):
            elapsed, totals[name] = run(name)
            times[name].append(elapsed)
            print(f"  {name:16s} run {i + 1}: {elapsed:.2f} s", flush=True)
    spark.stop()
    return {"times": times, "totals": totals, "first_run": cold}


def main() -> None:
    args = bench_arguments(__doc__ or "", 400_000, 8, "env_manager.json")
    load_before = prepare_process()
    with tempfile.TemporaryDirectory(prefix="bench_env_manager_") as tmp:
        work = Path(tmp)
        os.environ["PYFUNC_OPS_ENV_DIR"] = str(work / "envs")
        data, sample, est_path = make_data(work, args.rows)
        model_dir = work / "model"
        saved = _mlflow(
            {
                "estimator": str(est_path),
                "sample": str(sample),
                "model": str(model_dir),
            },
            work,
        )
        if "error" in saved:
            raise SystemExit(f"Saving the model with MLflow failed: {saved['error']}")
        print(f"{args.rows:,} rows, {args.partitions} partitions, local[2]; load {load_before}")
        ours = run_ours(args, model_dir, data)
        mlflow: dict[str, Any] | None = None
        if not args.skip_mlflow:
            mlflow = _mlflow(
                {
                    "env_manager": "uv",
                    "model": str(model_dir),
                    "data": str(data),
                    "partitions": args.partitions,
                    "features": FEATURES,
                    "conf": SPARK_CONF,
                    "warmup": args.warmup,
                    "runs": args.runs,
                },
                work,
            )
    runs = dict(ours["times"])
    totals = dict(ours["totals"])
    if mlflow is not None and "times" in mlflow:
        runs["mlflow-uv"] = list(mlflow["times"])
        totals["mlflow-uv"] = mlflow["total"]
    medians = {name: statistics.median(t) for name, t in runs.items()}
    ratios = {"ours-virtualenv/ours-local": medians["ours-virtualenv"] / medians["ours-local"]}
    if "mlflow-uv" in medians:
        ratios["mlflow-uv/ours-local"] = medians["mlflow-uv"] / medians["ours-local"]
        ratios["mlflow-uv/ours-virtualenv"] = medians["mlflow-uv"] / medians["ours-virtualenv"]
    result = {
        "model": (
            "HistGradientBoostingRegressor(max_iter=100), 8 float columns, "
            "saved by MLflow (cloudpickle)"
        ),
        "first_run_seconds": ours["first_run"],
        "prediction_sums": totals,
        "mlflow_uv": mlflow if mlflow is None or "error" in mlflow else {"ok": True},
    }
    if mlflow is not None and "error" in mlflow:
        print(f"mlflow-uv failed: {mlflow['error'][-1500:]}")
    report(args, runs, ratios, result, load_before, saved.get("mlflow"))


if __name__ == "__main__":
    main()
