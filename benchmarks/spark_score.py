"""Benchmark: ``score_spark`` vs the plain Spark job doing the same thing by hand.

Both read the same Parquet rows (default 2,000,000 rows of 8 float columns plus an id,
in 64 files), score them with the same LinearRegression and write Parquet, on
``local[2]``:

* ``ours``  - ``pyfunc_ops.jobs.spark.score_spark`` (one job: score, write, and count the
  rows from the write's observed metrics);
* ``plain`` - ``spark.read.parquet(...).withColumn("prediction", udf(...))
  .write.parquet(...)`` with a hand-written iterator pandas UDF calling the estimator.

The target is at most 1.05x the plain job. One warm-up run each, then ``--runs`` timed
runs, interleaved, medians reported (no MLflow column: MLflow has no such job).

    .venv/bin/python benchmarks/spark_score.py [--rows N] [--partitions P] [--runs R]

Writes benchmarks/results/spark_score.json; ``run(quick)`` returns the suite's table row.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT
from spark_udf import (
    FEATURES,
    SPARK_CONF,
    bench_arguments,
    fit_estimator,
    plain_udf,
    prepare_process,
    report,
)

# Issue 17: ours at most 1.05x the plain Spark job.
TARGET = 1.05


def make_inputs(work: Path, rows: int, files: int) -> tuple[Path, Path]:
    """The input folder (``files`` Parquet files, an id and the features) and the model."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pyfunc_ops import sklearn as pyfunc_sklearn
    from pyfunc_ops.models.signature import infer_signature

    rng = np.random.default_rng(0)
    data = work / "input"
    data.mkdir()
    per_file = -(-rows // files)
    for i, start in enumerate(range(0, rows, per_file)):
        n = min(per_file, rows - start)
        columns = {"id": np.arange(start, start + n)}
        columns.update({name: rng.random(n) for name in FEATURES})
        pq.write_table(pa.table(columns), data / f"part-{i:05d}.parquet")
    train = pd.DataFrame({name: rng.random(20_000) for name in FEATURES})
    estimator = fit_estimator("linear", train, train.to_numpy() @ np.arange(1, 9))
    model = work / "model"
    pyfunc_sklearn.save_model(
        estimator,
        model,
        signature=infer_signature(train.head(100), estimator.predict(train.head(100))),
        serialization_format="cloudpickle",
    )
    with open(work / "estimator.pkl", "wb") as fh:
        pickle.dump(estimator, fh)
    return data, model


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from pyspark.sql import SparkSession

    from pyfunc_ops.jobs.spark import score_spark

    load_before = prepare_process()
    with tempfile.TemporaryDirectory(prefix="bench_spark_score_") as tmp:
        work = Path(tmp)
        data, model = make_inputs(work, args.rows, args.partitions)
        with open(work / "estimator.pkl", "rb") as fh:
            estimator = pickle.load(fh)
        builder = SparkSession.builder.master("local[2]").appName("bench-score-spark")
        for key, value in SPARK_CONF.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        plain = plain_udf(estimator)
        out = work / "output"

        def ours_job() -> int:
            result = score_spark(spark, str(model), input_path=str(data), output_path=str(out))
            return result.rows_out

        def plain_job() -> int:
            frame = spark.read.parquet(str(data))
            frame.withColumn("prediction", plain(*FEATURES)).write.mode("overwrite").parquet(
                str(out)
            )
            return args.rows

        jobs = {"ours": ours_job, "plain": plain_job}

        def timed(name: str) -> float:
            shutil.rmtree(out, ignore_errors=True)
            start = time.perf_counter()
            rows = jobs[name]()
            elapsed = time.perf_counter() - start
            assert rows == args.rows, (name, rows)
            return elapsed

        for name in jobs:
            for _ in range(args.warmup):
                timed(name)
        times: dict[str, list[float]] = {"ours": [], "plain": []}
        for i in range(args.runs):
            for name in ("ours", "plain") if i % 2 == 0 else ("plain", "ours"):
                times[name].append(timed(name))
                print(f"  {name:6s} run {i + 1}: {times[name][-1]:.2f} s", flush=True)
        spark.stop()
    medians = {name: statistics.median(t) for name, t in times.items()}
    ratios = {"ours/plain": medians["ours"] / medians["plain"]}
    result = {"model": "LinearRegression, 8 float columns + id, Parquet in and out"}
    report(args, times, ratios, result, load_before, None)
    return {"medians": medians, "ratios": ratios}


def run(quick: bool) -> list[dict[str, Any]]:
    """The suite's row: ``score_spark`` against the plain job (``quick``: a smoke size)."""
    rows, partitions, runs = (100_000, 8, 1) if quick else (2_000_000, 64, 9)
    args = argparse.Namespace(
        rows=rows,
        partitions=partitions,
        runs=runs,
        warmup=1,
        skip_mlflow=True,
        out=ROOT / "benchmarks" / "results" / "spark_score.json",
    )
    medians = measure(args)["medians"]
    return [
        {
            "name": f"score_spark, Parquet to Parquet, {rows:,} rows vs plain Spark job",
            "ours_s": medians["ours"],
            "floor_s": medians["plain"],
            "reference_label": "read.parquet/withColumn(udf)/write.parquet",
            "target": TARGET,
        }
    ]


def main() -> None:
    measure(bench_arguments(__doc__ or "", 2_000_000, 64, "spark_score.json"))


if __name__ == "__main__":
    main()
