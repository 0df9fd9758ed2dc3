"""A ``models:/`` load through a real MLflow tracking server: first and cached, ours beside
MLflow's ``mlflow.pyfunc.load_model`` on the same server and model.

The suite starts ``mlflow server`` (``common.mlflow_server``, shared with the tests: MLflow
venv, SQLite backend, proxied artifacts in a scratch folder) on 127.0.0.1, lets MLflow log
and register a scikit-learn model there, then times in one warm process per library:

* ours, first: ``load_model("models:/bench/1")`` with an empty cache folder (registry
  lookup over REST, listing and download through ``mlflow-artifacts``, load);
* ours, cached: the same call again (one listing, a cache hit, load);
* MLflow: ``mlflow.pyfunc.load_model("models:/bench/1")`` (it downloads each time; it
  keeps no cache), after one untimed warm-up call.

MLflow 3 saves the forest with skops; both loads trust skops' tree type explicitly. The
version has no digest (MLflow records none), so ours caches it by its listing. Run alone on a
quiet machine: ``.venv/bin/python benchmarks/mlflow_server.py [--runs N]``; it prints the
rows and, unless ``--no-docs``, writes them into README.md between
``<!-- mlflow-server-results:start/end -->``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from common import (
    OUR_PYTHON,
    ROOT,
    child_env,
    conditions,
    median,
    mlflow_python,
    mlflow_server,
    run_child,
)

# The tree type skops asks the caller to trust for a random forest (MLflow 3 saves skops).
TRUSTED = ["sklearn.tree._tree.Tree"]
START, END = "<!-- mlflow-server-results:start -->", "<!-- mlflow-server-results:end -->"

MLFLOW_LOG = """
import json, sys
import mlflow, numpy as np, pandas as pd
from sklearn.ensemble import RandomForestRegressor
a = json.loads(sys.argv[1])
mlflow.set_tracking_uri(a["url"])
rng = np.random.default_rng(0)
x = pd.DataFrame(rng.standard_normal((5000, 8)), columns=[f"x{i}" for i in range(8)])
est = RandomForestRegressor(n_estimators=60, random_state=0).fit(x, x["x0"])
with mlflow.start_run():
    mlflow.sklearn.log_model(est, name="model", registered_model_name="bench",
                             input_example=x.head(5), skops_trusted_types=a["trusted"])
print("RESULT " + json.dumps({"mlflow": mlflow.__version__}))
"""

OURS = """
import json, os, sys, time
import numpy as np, pandas as pd
from pyfunc_ops import tracking
from pyfunc_ops.pyfunc import load_model
a = json.loads(sys.argv[1])
tracking.set_tracking_uri(a["url"])
uri = "models:/bench/1"
os.environ["PYFUNC_OPS_CACHE_DIR"] = os.path.join(a["out"], "warm")
load_model(uri, skops_trusted_types=a["trusted"])  # imports, HTTP session: warm for both below
res = {"first": [], "cached": []}
for i in range(a["runs"]):
    os.environ["PYFUNC_OPS_CACHE_DIR"] = os.path.join(a["out"], f"cache-{i}")
    start = time.perf_counter(); load_model(uri, skops_trusted_types=a["trusted"])
    res["first"].append(time.perf_counter() - start)
    start = time.perf_counter(); load_model(uri, skops_trusted_types=a["trusted"])
    res["cached"].append(time.perf_counter() - start)
print("RESULT " + json.dumps(res))
"""

THEIRS = """
import json, sys, time
import mlflow, mlflow.pyfunc
a = json.loads(sys.argv[1])
mlflow.set_tracking_uri(a["url"])
uri = "models:/bench/1"
mlflow.pyfunc.load_model(uri)
res = {"load": []}
for _ in range(a["runs"]):
    start = time.perf_counter(); mlflow.pyfunc.load_model(uri)
    res["load"].append(time.perf_counter() - start)
print("RESULT " + json.dumps(res))
"""


def rows(ours: dict[str, Any], theirs: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    first, cached, mlflow = median(ours["first"]), median(ours["cached"]), median(theirs["load"])
    return [
        ("models:/ load via MLflow server, first (ours vs MLflow)", first, mlflow, "ours/MLflow"),
        ("models:/ load via MLflow server, cached (ours vs MLflow)", cached, mlflow, "ours/MLflow"),
        ("models:/ load via MLflow server, cached vs first (ours)", cached, first, "cached/first"),
    ]


def markdown(table: list[tuple[str, float, float, str]], summary: str) -> str:
    lines = ["| benchmark | ours (median) | reference (median) | ratio |", "|---|---:|---:|---:|"]
    for name, value, ref, kind in table:
        lines.append(f"| {name} | {value:.3f} s | {ref:.3f} s | {value / ref:.2f}x {kind} |")
    return "\n".join(lines) + "\n\n" + summary


def update_readme(block: str) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START in text and END in text:
        head, rest = text.split(START, 1)
        readme.write_text(f"{head}{START}\n{block}\n{END}{rest.split(END, 1)[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed loads per library")
    parser.add_argument("--no-docs", action="store_true", help="do not write README.md")
    opts = parser.parse_args()
    mlflow_py = mlflow_python()
    before = conditions()
    work = Path(tempfile.mkdtemp(prefix="pyfunc-ops-bench-server-"))
    try:
        with mlflow_server(mlflow_py, work) as url:
            env = child_env()
            _, info = run_child(mlflow_py, MLFLOW_LOG, {"url": url, "trusted": TRUSTED}, env)
            ours_env = child_env({"PYFUNC_OPS_HOME": str(work / "home")})
            args = {"url": url, "out": str(work / "ours"), "runs": opts.runs, "trusted": TRUSTED}
            _, ours = run_child(OUR_PYTHON, OURS, args, ours_env)
            _, theirs = run_child(mlflow_py, THEIRS, {"url": url, "runs": opts.runs}, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    after = conditions()
    summary = (
        f"RandomForestRegressor(n_estimators=60) logged and registered by MLflow "
        f"{info['mlflow']} on a local `mlflow server` (SQLite, proxied artifacts); medians of "
        f"{opts.runs} loads each; {before['cpus']} CPUs, load average "
        f"{before['load_average'][0]} before, {after['load_average'][0]} after; {after['time']}."
    )
    block = markdown(rows(ours, theirs), summary)
    print(block)
    if not opts.no_docs:
        update_readme(block)


if __name__ == "__main__":
    main()
