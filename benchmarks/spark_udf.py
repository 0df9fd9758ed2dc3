"""Benchmark: pyfunc_ops ``spark_udf`` vs a plain pandas UDF vs MLflow's ``spark_udf``.

All three score the same fitted scikit-learn model on the same rows (default 2,000,000 in
64 partitions, 8 float columns) on ``local[2]``. Two models: ``--model linear``, a
LinearRegression whose predict costs almost nothing, so the per-batch overhead of the UDF
(frame building, enforcement, result conversion) is what is measured (targets: at most
1.05x the plain UDF and 0.70x MLflow's); ``--model hgb``, a HistGradientBoostingRegressor
whose predict cost dominates.

* ``ours``   - ``pyfunc_ops.pyfunc.spark_udf`` on the model saved by pyfunc_ops;
* ``plain``  - a hand-written iterator pandas UDF calling ``estimator.predict`` directly
  (the estimator captured in the UDF's closure, the usual way to write one);
* ``mlflow`` - ``mlflow.pyfunc.spark_udf`` on the same estimator saved by MLflow, run by
  a subprocess in the MLflow virtual environment (``scripts/mlflow_venv.sh``).

The rows are written once as Parquet; each process reads them, repartitions to the
partition count and caches them, so timed runs measure scoring only. A run is
``df.select(udf(...).alias("p")).agg(F.sum("p")).collect()``; one warm-up run, then
``--runs`` timed runs (ours and plain interleaved), medians reported. OpenMP is pinned to
one thread per worker for every variant so the two Python workers do not oversubscribe
the two cores.

    .venv/bin/python benchmarks/spark_udf.py [--model linear|hgb] [--rows N] [--runs R]

Prints a table and writes it as JSON to benchmarks/results/spark_udf[_linear].json.
``run(quick)`` runs both models and returns the rows of the suite's table (``run.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MLFLOW_SIDE, RESULT_PREFIX, ROOT, mlflow_python

FEATURES = [f"x{i}" for i in range(8)]
SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.memory": "2g",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
}
THREAD_VARS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


MODELS = {
    "linear": "LinearRegression, 8 float columns",
    "hgb": "HistGradientBoostingRegressor(max_iter=50), 8 float columns",
}
# Issue 17's targets, ours/reference at most: against the plain UDF (the floor) and
# against MLflow's spark_udf; None: the comparison is shown, not judged.
TARGETS: dict[str, dict[str, float | None]] = {
    "linear": {"floor": 1.05, "mlflow": 0.70},
    "hgb": {"floor": 1.05, "mlflow": None},
}


def fit_estimator(model: str, train: Any, target: Any) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression

    if model == "linear":
        return LinearRegression().fit(train, target)
    return HistGradientBoostingRegressor(max_iter=50, random_state=0).fit(train, target)


def write_rows(data: Path, rows: int, seed: int = 0) -> None:
    """``rows`` rows of the 8 features as Parquet files in the folder ``data``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    data.mkdir()
    chunk = 250_000
    for i, start in enumerate(range(0, rows, chunk)):
        n = min(chunk, rows - start)
        table = pa.table({name: rng.random(n) for name in FEATURES})
        pq.write_table(table, data / f"part-{i:05d}.parquet")


def make_data(work: Path, rows: int, model: str = "hgb") -> tuple[Path, Path, Path]:
    """Write the rows (Parquet), a fitting sample and the fitted estimator (pickle)."""
    import numpy as np
    import pandas as pd

    data = work / "rows.parquet"
    write_rows(data, rows)
    rng = np.random.default_rng(1)
    train = pd.DataFrame({name: rng.random(20_000) for name in FEATURES})
    target = (
        train.to_numpy() @ np.arange(1, 9) + np.sin(train["x0"] * 6) + rng.normal(0, 0.1, 20_000)
    )
    estimator = fit_estimator(model, train, target)
    sample = work / "sample.parquet"
    train.head(100).to_parquet(sample)
    est_path = work / "estimator.pkl"
    with open(est_path, "wb") as fh:
        pickle.dump(estimator, fh)
    return data, sample, est_path


def plain_udf(estimator: Any) -> Any:
    """A plain iterator pandas UDF calling the estimator directly."""
    import typing

    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    names = list(FEATURES)

    def predict(batches):  # type: ignore[no-untyped-def]
        for columns in batches:
            yield pd.Series(estimator.predict(pd.DataFrame(dict(zip(names, columns, strict=True)))))

    predict.__annotations__ = {
        "batches": typing.Iterator[typing.Tuple[pd.Series, ...]],  # noqa: UP006
        "return": typing.Iterator[pd.Series],
    }
    return pandas_udf(predict, "double")  # type: ignore[call-overload]


def run_ours_and_plain(
    args: argparse.Namespace, work: Path, data: Path, sample: Path, est_path: Path
) -> dict[str, Any]:
    import pandas as pd
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from pyfunc_ops import sklearn as pyfunc_sklearn
    from pyfunc_ops.models.signature import infer_signature
    from pyfunc_ops.pyfunc import spark_udf

    with open(est_path, "rb") as fh:
        estimator = pickle.load(fh)
    model_dir = work / "pyfunc_ops_model"
    sample_df = pd.read_parquet(sample)
    pyfunc_sklearn.save_model(
        estimator,
        model_dir,
        signature=infer_signature(sample_df, estimator.predict(sample_df)),
        serialization_format="cloudpickle",  # as MLflow saves it
    )
    builder = SparkSession.builder.master("local[2]").appName("bench-pyfunc-ops")
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.read.parquet(str(data)).repartition(args.partitions).cache()
    df.count()
    exprs = {
        "ours": spark_udf(spark, str(model_dir), result_type="double")(*FEATURES),
        "plain": plain_udf(estimator)(*FEATURES),
    }

    def run(name: str) -> tuple[float, float]:
        start = time.perf_counter()
        total = df.select(exprs[name].alias("p")).agg(F.sum("p")).collect()[0][0]
        return time.perf_counter() - start, total

    times: dict[str, list[float]] = {"ours": [], "plain": []}
    totals: dict[str, float] = {}
    for name in exprs:
        for _ in range(args.warmup):
            run(name)
    for i in range(args.runs):
        order = ["ours", "plain"] if i % 2 == 0 else ["plain", "ours"]
        for name in order:
            elapsed, totals[name] = run(name)
            times[name].append(elapsed)
            print(f"  {name:6s} run {i + 1}: {elapsed:.2f} s", flush=True)
    spark.stop()
    return {"times": times, "totals": totals}


def run_mlflow_script(code: str, payload: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run ``code`` with ``payload`` in the MLflow venv; its ``RESULT`` line, or {"error"}."""
    python = mlflow_python()
    env = dict(os.environ, PYSPARK_PYTHON=python, PYSPARK_DRIVER_PYTHON=python, **THREAD_VARS)
    proc = subprocess.run(
        [python, "-c", code, json.dumps(payload)],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        return {"error": f"exit code {proc.returncode}: {proc.stderr[-4000:]}"}
    return dict(json.loads(lines[-1].removeprefix(RESULT_PREFIX)))


def run_mlflow(
    args: argparse.Namespace, work: Path, data: Path, sample: Path, est_path: Path
) -> dict[str, Any]:
    payload = {
        "estimator": str(est_path),
        "sample": str(sample),
        "model": str(work / "mlflow_model"),
        "env_manager": "local",
        "data": str(data),
        "partitions": args.partitions,
        "features": FEATURES,
        "conf": SPARK_CONF,
        "warmup": args.warmup,
        "runs": args.runs,
    }
    result = run_mlflow_script(MLFLOW_SIDE, payload, work)
    if "error" in result:
        raise SystemExit(f"MLflow side failed: {result['error']}")
    return result


def bench_arguments(
    doc: str, rows: int, partitions: int, out_name: str, *, model_choice: bool = False
) -> argparse.Namespace:
    """The command line shared by the Spark benchmarks."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=rows)
    parser.add_argument("--partitions", type=int, default=partitions)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--skip-mlflow", action="store_true")
    if model_choice:
        parser.add_argument("--model", choices=sorted(MODELS), default="hgb")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / out_name)
    return parser.parse_args()


def prepare_process() -> str:
    """One thread per task and Spark workers on this interpreter; return the load average."""
    os.environ.update(THREAD_VARS)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    return _load()


def report(
    args: argparse.Namespace,
    runs: dict[str, list[float]],
    ratios: dict[str, float],
    result: dict[str, Any],
    load_before: str,
    mlflow_version: str | None,
) -> None:
    """Print the medians and ratios and write the JSON result (with the conditions)."""
    medians = {name: statistics.median(t) for name, t in runs.items()}
    result.update(
        rows=args.rows,
        partitions=args.partitions,
        master="local[2]",
        warmup_runs=args.warmup,
        timed_runs=args.runs,
        seconds=runs,
        median_seconds=medians,
        ratios=ratios,
        conditions={
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": _load(),
            "python": platform.python_version(),
            "thread_vars": THREAD_VARS,
            "mlflow": mlflow_version,
        },
    )
    width = max(len(n) for n in medians) + 2
    print(f"\n{'variant':{width}s} {'median s':>9s}  runs")
    for name, median in medians.items():
        print(f"{name:{width}s} {median:9.2f}  {', '.join(f'{t:.2f}' for t in runs[name])}")
    for name, ratio in ratios.items():
        print(f"{name:28s} {ratio:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.out}")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run the three variants on ``args.model``; the medians, ratios and raw figures."""
    load_before = prepare_process()
    with tempfile.TemporaryDirectory(prefix="bench_spark_udf_") as tmp:
        work = Path(tmp)
        data, sample, est_path = make_data(work, args.rows, args.model)
        print(
            f"{args.model}: {args.rows:,} rows, {args.partitions} partitions, local[2]; "
            f"load {load_before}"
        )
        ours = run_ours_and_plain(args, work, data, sample, est_path)
        mlflow = None if args.skip_mlflow else run_mlflow(args, work, data, sample, est_path)
    runs = dict(ours["times"])
    totals = dict(ours["totals"])
    if mlflow is not None:
        runs["mlflow"] = list(mlflow["times"])
        totals["mlflow"] = mlflow["total"]
    medians = {name: statistics.median(t) for name, t in runs.items()}
    ratios = {"ours/plain": medians["ours"] / medians["plain"]}
    if "mlflow" in medians:
        ratios["ours/mlflow"] = medians["ours"] / medians["mlflow"]
    result = {"model": MODELS[args.model], "prediction_sums": totals}
    report(args, runs, ratios, result, load_before, mlflow["mlflow"] if mlflow else None)
    return {"medians": medians, "ratios": ratios}


def run(quick: bool) -> list[dict[str, Any]]:
    """Both models at the issue's size (``quick``: a small smoke size, one timed run); one
    row per model and reference for the suite's table: seconds of ours against the plain
    UDF (the floor) and against MLflow's ``spark_udf`` (when it ran), each with its target."""
    rows, partitions, runs = (100_000, 8, 1) if quick else (2_000_000, 64, 9)
    out = []
    for model in ("linear", "hgb"):
        suffix = "" if model == "hgb" else f"_{model}"
        args = argparse.Namespace(
            rows=rows,
            partitions=partitions,
            runs=runs,
            warmup=1,
            skip_mlflow=False,
            model=model,
            out=ROOT / "benchmarks" / "results" / f"spark_udf{suffix}.json",
        )
        medians = measure(args)["medians"]
        name = f"spark_udf, {MODELS[model]}, {rows:,} rows"
        out.append(
            {
                "name": f"{name} vs plain pandas UDF",
                "ours_s": medians["ours"],
                "floor_s": medians["plain"],
                "reference_label": "plain pandas UDF",
                "target": TARGETS[model]["floor"],
            }
        )
        if medians.get("mlflow") is not None:
            out.append(
                {
                    "name": f"{name} vs MLflow",
                    "ours_s": medians["ours"],
                    "mlflow_s": medians["mlflow"],
                    "reference_label": "MLflow spark_udf",
                    "target": TARGETS[model]["mlflow"],
                }
            )
    return out


def main() -> None:
    args = bench_arguments(__doc__ or "", 2_000_000, 64, "spark_udf.json", model_choice=True)
    if args.model != "hgb" and args.out.name == "spark_udf.json":
        args.out = args.out.with_name(f"spark_udf_{args.model}.json")
    measure(args)


if __name__ == "__main__":
    main()
