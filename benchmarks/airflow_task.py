"""What a scoring task costs in Airflow: ``PyfuncPredictOperator`` beside a plain ``@task``.

Both score the same 20,000-row Parquet file with the same scikit-learn estimator and write
a Parquet file of predictions. Ours: the operator's ``execute`` (the pyfunc model is
loaded from its folder, its digest checked, the rows streamed in batches). Floor: a plain
``@task`` whose function reads the file with pandas, loads the estimator with skops and
calls ``predict``: the least any task can do. Each runs in a fresh interpreter, as a task
does on a worker, and two numbers are reported per variant: the wall time of the whole
process (interpreter start, imports, the work) and the work alone (after the imports).

``run(quick)`` returns rows ``{name, ours_s, floor_s, reference_label, target}``
(medians; no target: reported, not judged); ``quick`` is a smoke size (2,000 rows, one
repetition).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULT = "RESULT "

OURS = r"""
import json, sys, time
t0 = time.perf_counter()
from types import SimpleNamespace
from airflow.sdk.execution_time.context import OutletEventAccessors
from pyfunc_ops.airflow.operators import PyfuncPredictOperator
args = json.loads(sys.argv[1])
t1 = time.perf_counter()
op = PyfuncPredictOperator(task_id="score", model_uri=args["model"], input_url=args["data"],
                           output_url=args["out"], batch_size=10_000)
ti = SimpleNamespace(dag_id="d", run_id="r", task_id="score", map_index=-1, try_number=1)
op.execute({"ti": ti, "outlet_events": OutletEventAccessors()})
t2 = time.perf_counter()
print("RESULT " + json.dumps({"imports_s": t1 - t0, "work_s": t2 - t1}))
"""

FLOOR = r"""
import json, sys, time
t0 = time.perf_counter()
from airflow.sdk import task
args = json.loads(sys.argv[1])

@task
def score(data: str, estimator: str, out: str) -> int:
    import pandas as pd
    import skops.io

    frame = pd.read_parquet(data)
    model = skops.io.load(estimator)
    pd.DataFrame({"prediction": model.predict(frame)}).to_parquet(out)
    return len(frame)

t1 = time.perf_counter()
score.function(args["data"], args["estimator"], args["out"])
t2 = time.perf_counter()
print("RESULT " + json.dumps({"imports_s": t1 - t0, "work_s": t2 - t1}))
"""


def _prepare(folder: Path, rows: int) -> dict[str, str]:
    import numpy as np
    import pandas as pd
    import skops.io
    from sklearn.linear_model import Ridge

    from pyfunc_ops import sklearn as pk

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 8)), columns=[f"f{i}" for i in range(8)])
    estimator = Ridge().fit(frame, frame.sum(axis=1))
    frame.to_parquet(folder / "data.parquet", index=False)
    skops.io.dump(estimator, folder / "est.skops")
    pk.save_model(estimator, folder / "model", input_example=frame.head(5))
    return {
        "data": str(folder / "data.parquet"),
        "estimator": str(folder / "est.skops"),
        "model": str(folder / "model"),
    }


def _child(code: str, args: dict[str, Any], env: dict[str, str]) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    wall = time.perf_counter() - started
    line = next((x for x in proc.stdout.splitlines() if x.startswith(RESULT)), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"benchmark child failed:\n{proc.stderr[-3000:]}")
    return {"wall_s": wall, **json.loads(line[len(RESULT) :])}


def run(quick: bool) -> list[dict[str, Any]]:
    """Medians of ``repeats`` runs of each variant (see the module docstring)."""
    rows, repeats = (2_000, 1) if quick else (20_000, 5)
    with tempfile.TemporaryDirectory(prefix="pyfunc-ops-bench-airflow-") as tmp:
        folder = Path(tmp)
        paths = _prepare(folder, rows)
        env = {**os.environ, "AIRFLOW_HOME": str(folder / "airflow")}
        env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
        env["PYFUNC_OPS_HOME"] = str(folder / "home")
        results: dict[str, list[dict[str, float]]] = {"ours": [], "floor": []}
        for i in range(repeats):
            for name, code in (("ours", OURS), ("floor", FLOOR)):
                out = str(folder / f"{name}-{i}.parquet")
                results[name].append(_child(code, {**paths, "out": out}, env))

    def median(name: str, key: str) -> float:
        return round(statistics.median(r[key] for r in results[name]), 3)

    return [
        {
            "name": f"task process, {rows:,} rows (start + imports + work)",
            "ours_s": median("ours", "wall_s"),
            "floor_s": median("floor", "wall_s"),
            "reference_label": "plain @task",
            "target": None,
        },
        {
            "name": f"task work after imports, {rows:,} rows",
            "ours_s": median("ours", "work_s"),
            "floor_s": median("floor", "work_s"),
            "reference_label": "plain @task",
            "target": None,
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke size only")
    for row in run(parser.parse_args().quick):
        sys.stdout.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
