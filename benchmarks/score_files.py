"""Benchmark: ``score_files`` against the hand-written loop and MLflow's usual script.

Workload (issue 17): 2,000,000 rows of 8 float64 columns ``x0..x7`` plus an int64 ``id``,
in four Parquet files, scored by a ``LinearRegression`` into one Parquet file of ``id``
and ``prediction``, 100,000 rows per batch:

* ``ours``  - ``score_files(model_uri, folder, out, batch_size=100_000, key_column="id")``
  on the model saved by pyfunc_ops (pickle, as the loop's estimator, with a signature):
  read, predict and write overlap in three threads;
* ``loop``  - the plain loop a user writes: ``ParquetFile.iter_batches`` -> the
  estimator's ``predict`` -> ``ParquetWriter``, single-threaded, the estimator unpickled;
* ``mlflow`` - MLflow's usual script in its own venv: ``mlflow.pyfunc.load_model`` +
  ``pandas.read_parquet(folder)`` + ``predict`` + ``DataFrame.to_parquet``.

Each run of each variant is a new process (so its peak RSS, ``ru_maxrss``, is its own);
the time is measured inside it from loading the model to the closed output file (the
imports of pandas, pyarrow and scikit-learn, and MLflow's, are not timed). Variants are
interleaved run by run; medians reported.

    .venv/bin/python benchmarks/score_files.py [--quick]

``run(quick)`` returns the rows ``benchmarks/run.py`` renders.
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MLFLOW_SIDE, OUR_PYTHON, median, mlflow_python, run_child, write_json

FEATURES = [f"x{i}" for i in range(8)]
FULL_ROWS = 2_000_000
QUICK_ROWS = 200_000
FILES = 4
BATCH_SIZE = 100_000
QUICK_BATCH_SIZE = 20_000

# What every variant imports before its clock starts: the libraries all three use.
_PRELUDE = """
import json, resource, sys, time
import numpy as np, pandas as pd, pyarrow as pa, pyarrow.parquet as pq, sklearn.linear_model
a = json.loads(sys.argv[1])
def report(start):
    print("RESULT " + json.dumps({
        "seconds": time.perf_counter() - start,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))
"""

OURS = (
    _PRELUDE
    + """
from pyfunc_ops.jobs.scoring import score_files
start = time.perf_counter()
score_files(a["model"], a["input"], a["output"], batch_size=a["batch_size"], key_column="id")
report(start)
"""
)

LOOP = (
    _PRELUDE
    + """
import glob, pickle
start = time.perf_counter()
with open(a["estimator"], "rb") as fh:
    est = pickle.load(fh)
writer = None
for path in sorted(glob.glob(a["input"] + "/*.parquet")):
    for batch in pq.ParquetFile(path).iter_batches(batch_size=a["batch_size"]):
        frame = batch.to_pandas()
        table = pa.table({"id": batch.column("id"),
                          "prediction": est.predict(frame[a["features"]])})
        if writer is None:
            writer = pq.ParquetWriter(a["output"], table.schema)
        writer.write_table(table)
writer.close()
report(start)
"""
)

MLFLOW = (
    _PRELUDE
    + """
import mlflow.pyfunc
start = time.perf_counter()
model = mlflow.pyfunc.load_model(a["model"])
frame = pd.read_parquet(a["input"])
out = pd.DataFrame({"id": frame["id"], "prediction": model.predict(frame[a["features"]])})
out.to_parquet(a["output"])
report(start)
"""
)


def prepare(work: Path, rows: int, mlflow_py: str | None) -> dict[str, str]:
    """Write the input files, fit the model, save it by pyfunc_ops and by MLflow."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.linear_model import LinearRegression

    from pyfunc_ops.models.signature import infer_signature
    from pyfunc_ops.sklearn import save_model

    rng = np.random.default_rng(0)
    data = work / "in"
    data.mkdir()
    per_file = rows // FILES
    for i in range(FILES):
        cols = {"id": np.arange(i * per_file, (i + 1) * per_file, dtype="int64")}
        cols.update({name: rng.standard_normal(per_file) for name in FEATURES})
        pq.write_table(pa.table(cols), data / f"part-{i}.parquet")
    x = pd.DataFrame(rng.standard_normal((10_000, len(FEATURES))), columns=FEATURES)
    est = LinearRegression().fit(x, x @ np.arange(1.0, 9.0))
    paths = {
        "input": str(data),
        "estimator": str(work / "estimator.pkl"),
        "sample": str(work / "sample.parquet"),
        "ours": str(work / "ours-model"),
        "mlflow": str(work / "mlflow-model"),
    }
    with open(paths["estimator"], "wb") as fh:
        pickle.dump(est, fh)
    sample = x.head(100)
    sample.to_parquet(paths["sample"])
    # Pickle, as the loop unpickles its estimator (and MLflow cloudpickles it): the rows
    # compare the scoring, not skops' import (measured by the cold-load rows of run.py).
    signature = infer_signature(sample, est.predict(sample))
    save_model(est, paths["ours"], signature=signature, serialization_format="pickle")
    if mlflow_py is not None:
        args = {
            "estimator": paths["estimator"],
            "sample": paths["sample"],
            "model": paths["mlflow"],
        }
        run_child(mlflow_py, MLFLOW_SIDE, args)
    return paths


def measure(rows: int, batch_size: int, runs: int, with_mlflow: bool = True) -> dict[str, Any]:
    """Run the variants ``runs`` times each, interleaved; their seconds and peak RSS."""
    mlflow_py = mlflow_python() if with_mlflow else None
    work = Path(tempfile.mkdtemp(prefix="pyfunc-ops-bench-score-"))
    try:
        paths = prepare(work, rows, mlflow_py)
        variants: dict[str, tuple[str, str, dict[str, Any]]] = {
            "ours": (OUR_PYTHON, OURS, {"model": paths["ours"]}),
            "loop": (OUR_PYTHON, LOOP, {"estimator": paths["estimator"]}),
        }
        if mlflow_py is not None:
            variants["mlflow"] = (mlflow_py, MLFLOW, {"model": paths["mlflow"]})
        out: dict[str, dict[str, list[float]]] = {
            name: {"seconds": [], "rss_mb": []} for name in variants
        }
        for i in range(runs):
            for name, (python, code, extra) in variants.items():
                target = work / f"out-{name}-{i}.parquet"
                args = {
                    "input": paths["input"],
                    "output": str(target),
                    "batch_size": batch_size,
                    "features": FEATURES,
                    **extra,
                }
                _, result = run_child(python, code, args)
                out[name]["seconds"].append(result["seconds"])
                out[name]["rss_mb"].append(result["rss_mb"])
                target.unlink()
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(quick: bool) -> list[dict[str, Any]]:
    """The benchmark rows: time against the loop and against MLflow, peak RSS against the
    loop (and MLflow's RSS for information)."""
    rows, batch, runs = (QUICK_ROWS, QUICK_BATCH_SIZE, 2) if quick else (FULL_ROWS, BATCH_SIZE, 5)
    raw = measure(rows, batch, runs)
    write_json("score_files.json", {"rows": rows, "batch_size": batch, "runs": raw})
    m = {name: {k: median(v) for k, v in d.items()} for name, d in raw.items()}
    size = f"{rows / 1e6:g}M rows"
    result = [
        {
            "name": f"score_files {size} vs plain loop",
            "ours_s": m["ours"]["seconds"],
            "floor_s": m["loop"]["seconds"],
            "reference_label": "iter_batches/predict/ParquetWriter",
            "target": 0.90,
        },
        {
            "name": f"score_files {size} vs MLflow script",
            "ours_s": m["ours"]["seconds"],
            "mlflow_s": m["mlflow"]["seconds"],
            "reference_label": "MLflow load_model/read_parquet/predict/to_parquet",
            "target": 0.50,
        },
        {
            "name": f"score_files {size} peak RSS vs plain loop",
            "ours_mb": m["ours"]["rss_mb"],
            "floor_mb": m["loop"]["rss_mb"],
            "reference_label": "plain loop",
            "target": 1.3,
        },
        {
            "name": f"score_files {size} peak RSS vs MLflow script",
            "ours_mb": m["ours"]["rss_mb"],
            "mlflow_mb": m["mlflow"]["rss_mb"],
            "reference_label": "MLflow script",
            "target": None,
        },
    ]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows, 2 runs")
    opts = parser.parse_args()
    print(json.dumps(run(opts.quick), indent=2))


if __name__ == "__main__":
    main()
