"""Benchmark: signature enforcement on a wide input, pyfunc_ops vs MLflow's ``_enforce_schema``.

The model has 600 columns (double, long and string in turn) and the frame 10,000 rows
(issue 17: MLflow users report ~175 ms per call on such a model, mlflow/mlflow#7948). Two
frames are timed, each against the same signature:

* ``matching`` - every column already has the signature's dtype (the usual batch);
* ``castable`` - every numeric column needs a safe cast (float32 -> double,
  int32 -> long) and the string columns are plain object columns.

Ours runs in this process (``pyfunc_ops.models.signature.enforce_schema``), MLflow's in a
child process of the MLflow venv (``mlflow.models.utils._enforce_schema``) on the same
frames, read from Parquet. Medians of ``runs`` calls after one warm-up call.

    .venv/bin/python benchmarks/wide_schema.py [--quick]

``run(quick)`` returns the rows for ``benchmarks/run.py``, two per frame: ours against
the issue's absolute limit (``{name, ours_ms, kind: "abs", target}``, milliseconds) and
ours against MLflow (``{name, ours_ms, mlflow_ms, target}``, at most 0.2x).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import child_env, median, mlflow_python, run_child, time_calls

COLUMNS = 600
ROWS = 10_000
TYPES = ("double", "long", "string")
# Issue 17: milliseconds per call at most (on a matching frame, when casting), and at most
# 0.2x MLflow's time.
LIMITS = {"matching": 10.0, "castable": 50.0}
MLFLOW_TARGET = 0.2

MLFLOW_SIDE = r"""
import json, sys, time
import pandas as pd
from mlflow.models.utils import _enforce_schema
from mlflow.types.schema import ColSpec, Schema

args = json.loads(sys.argv[1])
schema = Schema([ColSpec(t, n) for n, t in args["specs"]])
result = {}
for name, path in args["frames"].items():
    frame = pd.read_parquet(path)
    _enforce_schema(frame, schema)
    times = []
    for _ in range(args["runs"]):
        start = time.perf_counter()
        _enforce_schema(frame, schema)
        times.append(time.perf_counter() - start)
    result[name] = sorted(times)[len(times) // 2]
print("RESULT " + json.dumps(result))
"""


def make_frames(columns: int, rows: int) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The signature's (name, type) pairs and the two frames (matching, castable)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    specs, matching, castable = [], {}, {}
    words = np.array([f"w{i}" for i in range(rows)], dtype=object)
    for i in range(columns):
        kind, name = TYPES[i % 3], f"c{i}"
        specs.append((name, kind))
        if kind == "double":
            values = rng.random(rows)
            matching[name], castable[name] = values, values.astype("float32")
        elif kind == "long":
            values = rng.integers(0, 1000, rows)
            matching[name], castable[name] = values, values.astype("int32")
        else:
            matching[name] = castable[name] = words
    return specs, {"matching": pd.DataFrame(matching), "castable": pd.DataFrame(castable)}


def run(quick: bool) -> list[dict[str, Any]]:
    """Two rows per frame: the absolute limit and the ratio to MLflow (module docstring)."""
    from pyfunc_ops.models.signature import ColSpec, Schema, enforce_schema

    columns, rows = (60, 1_000) if quick else (COLUMNS, ROWS)
    runs = 3 if quick else 21
    specs, frames = make_frames(columns, rows)
    schema = Schema([ColSpec(t, n) for n, t in specs])
    ours = {
        name: median(time_calls(lambda f=frame: enforce_schema(f, schema), runs))
        for name, frame in frames.items()
    }
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, frame in frames.items():
            paths[name] = str(Path(tmp) / f"{name}.parquet")
            frame.to_parquet(paths[name])
        _, theirs = run_child(
            mlflow_python(),
            MLFLOW_SIDE,
            {"specs": specs, "frames": paths, "runs": runs},
            env=child_env(),
        )
    shape = f"{columns} columns x {rows} rows"
    out = []
    for name in frames:
        label = f"wide schema enforcement, {name} ({shape})"
        out.append(
            {
                "name": f"{label} (abs)",
                "ours_ms": ours[name] * 1000,
                "kind": "abs",
                "target": LIMITS[name],
            }
        )
        out.append(
            {
                "name": label,
                "ours_ms": ours[name] * 1000,
                "mlflow_ms": theirs[name] * 1000,
                "reference_label": "MLflow",
                "target": MLFLOW_TARGET,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke-size run")
    args = parser.parse_args()
    rows = run(args.quick)
    for row in rows:
        if "mlflow_ms" in row:
            ratio = row["ours_ms"] / row["mlflow_ms"] if row["mlflow_ms"] else float("nan")
            sys.stdout.write(
                f"{row['name']}: ours {row['ours_ms']:.2f} ms, MLflow "
                f"{row['mlflow_ms']:.2f} ms ({ratio:.3f}x); target <= {row['target']}x\n"
            )
        else:
            sys.stdout.write(
                f"{row['name']}: ours {row['ours_ms']:.2f} ms; target <= {row['target']:.0f} ms\n"
            )
    sys.stdout.write(json.dumps(rows) + "\n")


if __name__ == "__main__":
    main()
