"""The benchmark suite: pyfunc_ops against MLflow and against the raw floor, side by side.

One scikit-learn model for everything: ``HistGradientBoostingRegressor(max_iter=50,
random_state=0)`` fitted on 20,000 rows of 8 float64 columns ``x0..x7``. It is saved

* by pyfunc_ops with its default skops serialization (and, for a like-with-like cold-load
  comparison, once more with ``serialization_format="pickle"``), with a signature;
* by MLflow 3.x (its own venv, ``scripts/mlflow_venv.sh``) with its default skops
  serialization (the same file format as ours), with a signature.

Measured (medians of several runs; ``--quick`` runs fewer):

1. cold load: a new process that loads the model from a local folder and predicts one row,
   wall time of the whole process. Floor: a new process with the bare imports (pandas,
   scikit-learn, skops.io or pickle) deserializing the same file and predicting one row;
2. batch predict: ``PyFuncModel.predict`` (schema enforced) on 2,000,000 x 8 against
   ``estimator.predict`` on the same DataFrame;
3. single-row predict: 1,000 calls, per-call latency, against ``estimator.predict``;
4. transfer: a 200-file, 100 MB model folder to and from S3 (moto server on 127.0.0.1),
   ``upload_tree``/``download_tree`` against MLflow's ``S3ArtifactRepository``;
5. cache: ``load_model("models:/...")`` with an empty cache (resolve + download + full
   verification + load) against the same call again (resolve + cache hit by digest, checked
   with one stat per file, no request to S3 + load).

    .venv/bin/python benchmarks/run.py [--quick] [--only cache]

``--only cache`` runs just the cache measurement (no MLflow, no table or docs refresh) and
prints its figures; ``--only <section>`` runs one of the sections below alone and prints
its rows.

Sections in their own modules, each exposing ``run(quick: bool) -> list[dict]``, are run
after the measurements above when their module is present (issue 17):
``score_files.py`` (batch scoring against the plain loop and MLflow's script, time and
peak RSS), ``spark_udf.py`` (the cheap-model ``spark_udf`` rows), any other
``spark_*.py`` (``score_spark`` against a plain Spark job), ``wide_schema.py``
(600-column signature enforcement) and ``flavors.py`` (the xgboost, LightGBM, ONNX and
PyTorch flavors: a cold process and a 1M-row batch against the framework alone and
MLflow). A row is one comparison: ``{"name", "ours_s", "floor_s" or "mlflow_s" (or
another ``<who>_s``; none for an absolute limit), "reference_label", "target"}``, with
``_ms``/``_mb`` instead of ``_s`` for milliseconds or megabytes; ``target`` is a number,
or None for a comparison shown but not judged; optional ``"kind"`` (``"max"``:
ours/reference at most the target, the default with a reference; ``"min"``:
reference/ours at least it; ``"abs"``: ours at most the target in its unit, the default
without one; ``"info"``, the default without a target) and ``"note"``. A section
whose module is absent or fails gets a "not measured" row naming its targets.

Prints the table, writes benchmarks/results/results.json and benchmarks/results/ratios.png
and rewrites the block between ``<!-- results:start -->`` and ``<!-- results:end -->`` in
docs/benchmarks.md and README.md (the table, the run's conditions and the plot); the prose
around the block is never touched.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    MLFLOW_SIDE,
    OUR_PYTHON,
    RESULTS_DIR,
    ROOT,
    child_env,
    conditions,
    free_port,
    median,
    mlflow_python,
    run_child,
    write_json,
)

FEATURES = [f"x{i}" for i in range(8)]
MODEL_DESCRIPTION = "HistGradientBoostingRegressor(max_iter=50), 8 float64 columns"
BATCH_ROWS = 2_000_000
SINGLE_CALLS = 1_000
TREE_FILES = 200
TREE_BYTES = 100 * 1024 * 1024
DOCS = ROOT / "docs" / "benchmarks.md"
DOCS_START = "<!-- results:start -->"
# skops refuses HistGradientBoosting's TreePredictor unless the caller trusts it (saving
# records nothing a load would honour: the types come from the loading caller only).
SKOPS_TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
DOCS_END = "<!-- results:end -->"

# The one-row input every cold-load variant scores (built after the imports it needs).
ROW = "pd.DataFrame(np.full((1, 8), 0.5), columns=[f'x{i}' for i in range(8)])"

# --- cold load: the processes whose whole wall time is measured --------------------------
COLD = {
    "floor-skops": f"""
import json, sys
import numpy as np, pandas as pd, sklearn, skops.io
a = json.loads(sys.argv[1])
est = skops.io.load(a["file"], trusted=a["trusted"])
print("RESULT " + json.dumps({{"p": float(est.predict({ROW})[0])}}))
""",
    "floor-pickle": f"""
import json, pickle, sys
import numpy as np, pandas as pd, sklearn
a = json.loads(sys.argv[1])
with open(a["file"], "rb") as fh:
    est = pickle.load(fh)
print("RESULT " + json.dumps({{"p": float(est.predict({ROW})[0])}}))
""",
    "ours": f"""
import json, sys
from pyfunc_ops.pyfunc import load_model
import numpy as np, pandas as pd
a = json.loads(sys.argv[1])
model = load_model(a["path"], skops_trusted_types=a.get("trusted", []))
print("RESULT " + json.dumps({{"p": float(model.predict({ROW})[0])}}))
""",
    "mlflow": f"""
import json, sys
import mlflow.pyfunc
import numpy as np, pandas as pd
a = json.loads(sys.argv[1])
print("RESULT " + json.dumps({{"p": float(mlflow.pyfunc.load_model(a["path"]).predict({ROW})[0])}}))
""",
}

# --- batch and single-row predict, in one warm process per library ----------------------
PREDICT = """
import json, pickle, sys, time
import numpy as np, pandas as pd
a = json.loads(sys.argv[1])
if a["lib"] == "ours":
    from pyfunc_ops.pyfunc import load_model
    model = load_model(a["path"], skops_trusted_types=a["trusted"])
else:
    from mlflow.pyfunc import load_model
    model = load_model(a["path"])
with open(a["estimator"], "rb") as fh:
    raw = pickle.load(fh)
rng = np.random.default_rng(1)
batch = pd.DataFrame(rng.standard_normal((a["rows"], 8)), columns=[f"x{i}" for i in range(8)])
row = batch.iloc[:1].copy()

def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start

check = float(np.max(np.abs(np.asarray(model.predict(batch[:1000])).ravel()
                            - raw.predict(batch[:1000]))))
res = {"batch_model": [], "batch_raw": [], "single_model": [], "single_raw": [], "check": check}
timed(lambda: model.predict(batch))  # warm-up (first-call allocations, lazy imports)
for _ in range(a["runs"]):  # interleaved so that load drifts hit both alike
    res["batch_raw"].append(timed(lambda: raw.predict(batch)))
    res["batch_model"].append(timed(lambda: model.predict(batch)))
del batch

def calls(fn):
    def run():
        for _ in range(a["calls"]):
            fn(row)
    return timed(run) / a["calls"]

# One OpenMP thread for single rows, as a serving process would use: with two threads
# on a shared machine, thread wake-ups (not the model) dominate a one-row call.
from threadpoolctl import threadpool_limits
with threadpool_limits(limits=1):
    calls(raw.predict); calls(model.predict)
    for _ in range(a["runs"]):
        res["single_raw"].append(calls(raw.predict))
        res["single_model"].append(calls(model.predict))
print("RESULT " + json.dumps(res))
"""

# --- S3 transfer -------------------------------------------------------------------------
MOTO = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
print("READY", flush=True)
sys.stdin.read()
server.stop()
"""

SERVER_CPU = """
def server_cpu():  # the moto server's CPU seconds so far (Linux /proc; no dependency)
    fields = open(f"/proc/{a['server_pid']}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
"""

TRANSFER_OURS = (
    """
import json, os, shutil, sys, time
from pathlib import Path
from pyfunc_ops.storage.transfer import download_tree, upload_tree
a = json.loads(sys.argv[1])
"""
    + SERVER_CPU
    + """
out = Path(a["out"])
upload_tree(a["small"], "s3://bench/warm/ours")  # imports, session, connection pool
download_tree("s3://bench/warm/ours", out / "warm")
res = {"up": [], "down": [], "server_up": [], "server_down": []}
for i in range(a["runs"]):
    url = f"s3://bench/ours/{i}"
    cpu, start = server_cpu(), time.perf_counter(); upload_tree(a["tree"], url)
    res["up"].append(time.perf_counter() - start); res["server_up"].append(server_cpu() - cpu)
    cpu, start = server_cpu(), time.perf_counter(); download_tree(url, out / str(i))
    res["down"].append(time.perf_counter() - start); res["server_down"].append(server_cpu() - cpu)
    shutil.rmtree(out / str(i))
print("RESULT " + json.dumps(res))
"""
)

TRANSFER_MLFLOW = (
    """
import json, os, shutil, sys, time
from pathlib import Path
from mlflow.store.artifact.s3_artifact_repo import S3ArtifactRepository
a = json.loads(sys.argv[1])
"""
    + SERVER_CPU
    + """
out = Path(a["out"])
warm = S3ArtifactRepository("s3://bench/warm/mlflow")
warm.log_artifacts(a["small"])
(out / "warm").mkdir()
warm.download_artifacts("", str(out / "warm"))
res = {"up": [], "down": [], "server_up": [], "server_down": []}
for i in range(a["runs"]):
    repo = S3ArtifactRepository(f"s3://bench/mlflow/{i}")
    cpu, start = server_cpu(), time.perf_counter(); repo.log_artifacts(a["tree"])
    res["up"].append(time.perf_counter() - start); res["server_up"].append(server_cpu() - cpu)
    (out / str(i)).mkdir()
    cpu, start = server_cpu(), time.perf_counter(); repo.download_artifacts("", str(out / str(i)))
    res["down"].append(time.perf_counter() - start); res["server_down"].append(server_cpu() - cpu)
    shutil.rmtree(out / str(i))
print("RESULT " + json.dumps(res))
"""
)

CACHE = """
import json, os, sys, time
import numpy as np, pandas as pd
from pyfunc_ops.pyfunc import load_model
from pyfunc_ops.storage.transfer import list_tree, upload_tree
from pyfunc_ops.tracking import TrackingClient
a = json.loads(sys.argv[1])
client = TrackingClient()
run = client.create_run(run_name="bench")
upload_tree(a["tree"], run.info.artifact_uri + "/model")
version = client.register_model(f"runs:/{run.info.run_id}/model", "bench-model").version
uri = f"models:/bench-model/{version}"
os.environ["PYFUNC_OPS_CACHE_DIR"] = os.path.join(a["out"], "warm")
trusted = a["trusted"]
load_model(uri, skops_trusted_types=trusted)  # imports, engine, S3 session: as below
res = {"first": [], "second": [], "listing": []}
for i in range(a["runs"]):
    os.environ["PYFUNC_OPS_CACHE_DIR"] = os.path.join(a["out"], f"cache-{i}")
    start = time.perf_counter(); load_model(uri, skops_trusted_types=trusted)
    res["first"].append(time.perf_counter() - start)
    start = time.perf_counter(); load_model(uri, skops_trusted_types=trusted)
    res["second"].append(time.perf_counter() - start)
    # What a hit by digest avoids: one listing of the whole tree.
    start = time.perf_counter(); list_tree(run.info.artifact_uri + "/model")
    res["listing"].append(time.perf_counter() - start)
print("RESULT " + json.dumps(res))
"""

# --- preparation -------------------------------------------------------------------------


def prepare(work: Path, mlflow_py: str | None) -> dict[str, Any]:
    """Fit the estimator; save it by us (skops, pickle) and by MLflow (unless
    ``mlflow_py`` is None); build the S3 tree."""
    import subprocess

    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor

    # Bytecode as an installed package has it: a checkout edited since its last import
    # (and an interpreter with PYTHONDONTWRITEBYTECODE=1) would otherwise compile our
    # changed modules again in every cold-load process, which no user pays.
    subprocess.run([OUR_PYTHON, "-m", "compileall", "-q", str(ROOT / "pyfunc_ops")], check=True)

    from pyfunc_ops.models.manifest import write_manifest
    from pyfunc_ops.models.signature import infer_signature
    from pyfunc_ops.sklearn import save_model

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.standard_normal((20_000, 8)), columns=FEATURES)
    y = x["x0"] * 2 - x["x1"] ** 2 + np.sin(x["x2"]) + rng.normal(0, 0.1, len(x))
    est = HistGradientBoostingRegressor(max_iter=50, random_state=0).fit(x, y)
    paths = {"estimator": str(work / "estimator.pkl"), "sample": str(work / "sample.parquet")}
    with open(paths["estimator"], "wb") as fh:
        pickle.dump(est, fh)
    sample = x.head(100)
    sample.to_parquet(paths["sample"])
    signature = infer_signature(sample, est.predict(sample))
    trusted = SKOPS_TRUSTED
    for fmt in ("skops", "pickle"):
        paths[f"ours-{fmt}"] = str(work / f"ours-{fmt}")
        save_model(
            est,
            paths[f"ours-{fmt}"],
            signature=signature,
            serialization_format=fmt,
            skops_trusted_types=trusted if fmt == "skops" else None,
        )
    paths["mlflow"] = str(work / "mlflow-model")
    args = {
        "estimator": paths["estimator"],
        "sample": paths["sample"],
        "model": paths["mlflow"],
        "serialization_format": "skops",
        "skops_trusted_types": trusted,
    }
    if mlflow_py is not None:
        _, info = run_child(mlflow_py, MLFLOW_SIDE, args)
        paths["mlflow_version"] = info["mlflow"]

    # The transfer tree: the skops model plus 200 - n payload files, 100 MB in total,
    # sizes spread from a few KB to a few MB as in real model folders.
    tree = work / "tree"
    shutil.copytree(paths["ours-skops"], tree)
    existing = [p for p in tree.rglob("*") if p.is_file()]
    count = TREE_FILES - len(existing)
    budget = TREE_BYTES - sum(p.stat().st_size for p in existing)
    weights = rng.pareto(1.5, count) + 0.05
    sizes = (weights / weights.sum() * budget).astype(int)
    sizes[0] += budget - int(sizes.sum())
    for i, size in enumerate(sizes):
        target = tree / "artifacts" / f"part-{i // 50}" / f"blob-{i:03d}.bin"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(rng.bytes(int(size)))
    write_manifest(tree)  # the payload is part of the model: its manifest must list it
    files = [p for p in tree.rglob("*") if p.is_file()]
    paths["tree"] = str(tree)
    # The same tree around the pickled estimator: the cache measurement below is about
    # the download the cache saves, so it is also taken with the fastest deserializer,
    # where the estimator's own load time does not hide it.
    tree_pickle = work / "tree-pickle"
    shutil.copytree(paths["ours-pickle"], tree_pickle)
    shutil.copytree(tree / "artifacts", tree_pickle / "artifacts")
    write_manifest(tree_pickle)
    paths["tree_pickle"] = str(tree_pickle)
    paths["tree_files"] = len(files)
    paths["tree_bytes"] = sum(p.stat().st_size for p in files)
    small = work / "small"
    small.mkdir()
    (small / "a.txt").write_text("warm-up")
    paths["small"] = str(small)
    return paths


# --- the measurements --------------------------------------------------------------------
def bench_cold_load(paths: dict[str, Any], mlflow_py: str, runs: int) -> dict[str, Any]:
    from pyfunc_ops.models.mlmodel import Model

    skops_conf = Model.load(paths["ours-skops"]).get_flavor("sklearn")
    variants = {
        "floor-skops": (
            OUR_PYTHON,
            {
                "file": str(Path(paths["ours-skops"]) / skops_conf["pickled_model"]),
                "trusted": SKOPS_TRUSTED,
            },
        ),
        "floor-pickle": (OUR_PYTHON, {"file": str(Path(paths["ours-pickle"]) / "model.pkl")}),
        "ours-skops": (OUR_PYTHON, {"path": paths["ours-skops"], "trusted": SKOPS_TRUSTED}),
        "ours-pickle": (OUR_PYTHON, {"path": paths["ours-pickle"]}),
        "mlflow": (mlflow_py, {"path": paths["mlflow"]}),
    }
    code = {
        name: COLD[name if name.startswith(("floor", "mlflow")) else "ours"] for name in variants
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    predictions = {}
    for round_ in range(runs + 1):  # round 0 warms the page cache and .pyc files
        for name, (python, args) in variants.items():
            elapsed, out = run_child(python, code[name], args)
            predictions[name] = out["p"]
            if round_:
                times[name].append(elapsed)
                cpu[name].append(out["_cpu"])
        print(
            f"  cold load round {round_}/{runs}: "
            + ", ".join(f"{n} {t[-1]:.2f}s" for n, t in times.items() if t),
            flush=True,
        )
    spread = max(predictions.values()) - min(predictions.values())
    assert spread < 1e-9, f"the variants predicted different values: {predictions}"
    return {"times": times, "cpu": cpu, "prediction": predictions["ours-skops"]}


def bench_predict(paths: dict[str, Any], mlflow_py: str, runs: int) -> dict[str, Any]:
    env = child_env()
    out = {}
    for lib, python, path in (
        ("ours", OUR_PYTHON, paths["ours-skops"]),
        ("mlflow", mlflow_py, paths["mlflow"]),
    ):
        args = {
            "lib": lib,
            "path": path,
            "estimator": paths["estimator"],
            "rows": BATCH_ROWS,
            "calls": SINGLE_CALLS,
            "runs": runs,
            "trusted": SKOPS_TRUSTED,
        }
        _, res = run_child(python, PREDICT, args, env)
        assert res["check"] < 1e-9, f"{lib} predictions differ from the estimator's: {res}"
        out[lib] = res
        print(
            f"  predict ({lib}): batch {median(res['batch_model']):.3f}s vs raw "
            f"{median(res['batch_raw']):.3f}s; single {median(res['single_model']) * 1e3:.3f}ms "
            f"vs raw {median(res['single_raw']) * 1e3:.3f}ms",
            flush=True,
        )
    return out


class MotoServer:
    """moto's S3 in a child process, so that serving requests never competes for the GIL
    with the client being measured."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [OUR_PYTHON, "-c", MOTO, str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=child_env(),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "READY" not in line:
            raise RuntimeError("the moto server did not start")

    def env(self) -> dict[str, str]:
        return child_env(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_ENDPOINT_URL_S3": self.endpoint,
                "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
            }
        )

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def bench_s3(
    paths: dict[str, Any], mlflow_py: str, runs: int, work: Path, transfer: bool = True
) -> dict[str, Any]:
    server = MotoServer()
    try:
        env = server.env()
        make_bucket = "import boto3; boto3.client('s3').create_bucket(Bucket='bench')"
        subprocess.run([OUR_PYTHON, "-c", make_bucket], check=True, env=env)
        out: dict[str, Any] = {}
        libs = (("ours", OUR_PYTHON, TRANSFER_OURS), ("mlflow", mlflow_py, TRANSFER_MLFLOW))
        for lib, python, code in libs if transfer else ():
            scratch = Path(tempfile.mkdtemp(dir=work, prefix=f"dl-{lib}-"))
            args = {
                "tree": paths["tree"],
                "small": paths["small"],
                "out": str(scratch),
                "runs": runs,
                "server_pid": server.proc.pid,
            }
            _, out[lib] = run_child(python, code, args, env)
            print(
                f"  transfer ({lib}): up {median(out[lib]['up']):.2f}s, "
                f"down {median(out[lib]['down']):.2f}s",
                flush=True,
            )
        home = work / "home"
        cache_env = {
            **env,
            "PYFUNC_OPS_HOME": str(home),
            "PYFUNC_OPS_TRACKING_URI": f"sqlite:///{home / 'registry.db'}",
            "PYFUNC_OPS_ARTIFACT_ROOT": "s3://bench/artifacts",
        }
        for key, tree in (("cache", paths["tree"]), ("cache_pickle", paths["tree_pickle"])):
            args = {"tree": tree, "out": str(work / key), "runs": runs, "trusted": SKOPS_TRUSTED}
            _, out[key] = run_child(OUR_PYTHON, CACHE, args, cache_env)
            print(
                f"  {key}: first {median(out[key]['first']):.2f}s, "
                f"second {median(out[key]['second']):.3f}s",
                flush=True,
            )
        return out
    finally:
        server.stop()


# --- sections in their own modules (issue 17) --------------------------------------------
HERE = Path(__file__).resolve().parent
# (module, what it measures and its targets): shown as "not measured" when absent.
SECTIONS = [
    (
        "score_files",
        "score_files, 2M rows into one Parquet file: <= 0.90x the plain loop, <= 0.50x "
        "MLflow's script, peak RSS <= 1.3x the loop",
    ),
    (
        "spark_udf",
        "spark_udf, cheap LinearRegression: <= 1.05x a plain pandas UDF, <= 0.70x MLflow's "
        "spark_udf (and the HistGradientBoosting variant)",
    ),
    ("spark_*", "score_spark: <= 1.05x a plain read.parquet/withColumn(udf)/write.parquet job"),
    (
        "wide_schema",
        "600-column signature enforcement: <= 10 ms matched, <= 50 ms cast, <= 0.2x MLflow",
    ),
    (
        "flavors",
        "xgboost, LightGBM, ONNX and PyTorch flavors: cold import+load+1 row <= 1.10x the "
        "framework alone and <= 0.70x mlflow.pyfunc, batch predict of 1M rows <= 1.05x the "
        "framework",
    ),
    (
        "airflow_task",
        "a PyfuncPredictOperator task on 20,000 rows beside a plain @task calling the "
        "estimator (reported, no target)",
    ),
    ("registry_view", "the registry view's page of a model with 500 versions: <= 1000 ms"),
]
_UNITS = {"_s": "s", "_ms": "ms", "_mb": "MB"}
_WHO = {"floor": "floor", "loop": "plain loop", "plain": "plain", "mlflow": "MLflow"}


def section_modules() -> list[tuple[str, str, list[str]]]:
    """(section, description, module names present) for each section, in order."""
    found = []
    for section, description in SECTIONS:
        if section == "spark_*":
            names = sorted(p.stem for p in HERE.glob("spark_*.py") if p.stem not in {"spark_udf"})
        else:
            names = [section] if (HERE / f"{section}.py").is_file() else []
        found.append((section, description, names))
    return found


def _missing(description: str, reason: str) -> dict[str, Any]:
    return {
        "benchmark": f"(not measured) {description}",
        "kind": "missing",
        "reason": reason,
        "pass": None,
    }


def section_rows(raw_rows: list[dict[str, Any]], module: str) -> list[dict[str, Any]]:
    """A section module's raw rows in the table's form."""
    return [extra_row(row, module) for row in raw_rows]


def extra_row(row: dict[str, Any], module: str) -> dict[str, Any]:
    """A section module's row in the table's form (see the module docstring)."""
    ours_key = next((f"ours{u}" for u in _UNITS if f"ours{u}" in row), None)
    if ours_key is None:
        raise ValueError(f"{module}: row {row.get('name')!r} has no ours_s/ours_ms/ours_mb")
    suffix = ours_key[len("ours") :]
    unit = _UNITS[suffix]
    refs = [k for k in row if k.endswith(suffix) and k != ours_key and not k.startswith("target")]
    target = row.get("target")
    if len(refs) > 1 or (target is not None and not isinstance(target, (int, float))):
        raise ValueError(
            f"{module}: row {row.get('name')!r} must compare ours with at most one reference "
            f"against a numeric target or None; found references {refs} and target "
            f"{target!r}: emit one row per comparison"
        )
    ref_key = refs[0] if refs else None
    ours = float(row[ours_key])
    ref = float(row[ref_key]) if ref_key is not None else None
    who = ref_key[: -len(suffix)] if ref_key is not None else ""
    kind = row.get("kind") or ("info" if target is None else ("max" if ref is not None else "abs"))
    ratio = None
    if ref is not None and ref > 0:
        ratio = ref / ours if kind == "min" else ours / ref
    if kind == "max":
        passed: bool | None = ratio is not None and ratio <= target
    elif kind == "min":
        passed = ratio is not None and ratio >= target
    elif kind == "abs":
        passed = ours <= target
    else:
        passed = None
    return {
        "benchmark": row["name"] if kind != "info" else f"(info) {row['name']}",
        "ours": ours,
        "reference": ref,
        "reference_label": row.get("reference_label") or _WHO.get(who, who or "-"),
        "ratio": ratio,
        "ratio_label": "ours/ref",
        "target": target,
        "kind": kind,
        "unit": unit,
        "pass": passed,
        "section": module,
    }


def run_sections(quick: bool, only: str | None = None) -> tuple[list[dict[str, Any]], dict]:
    """Run each present section module's ``run(quick)``; its rows, or "not measured"."""
    rows: list[dict[str, Any]] = []
    raw: dict[str, Any] = {}
    for section, description, names in section_modules():
        if only is not None and only != section and only not in names:
            continue
        if not names:
            rows.append(_missing(description, f"benchmarks/{section}.py is not there"))
            continue
        for name in names:
            try:
                module = importlib.import_module(name)
                if not hasattr(module, "run"):
                    rows.append(_missing(description, f"benchmarks/{name}.py has no run(quick)"))
                    continue
                print(f"{name} ...", flush=True)
                measured = module.run(quick)
                raw[name] = measured
                rows.extend(section_rows(measured, name))
            except Exception as exc:  # one failing section must not lose the others' figures
                print(f"  {name} failed: {type(exc).__name__}: {exc}", flush=True)
                rows.append(_missing(description, f"benchmarks/{name}.py failed: {exc}"[:200]))
    return rows, raw


# --- report ------------------------------------------------------------------------------
def summarise(
    cold: dict[str, Any], pred: dict[str, Any], s3: dict[str, Any]
) -> list[dict[str, Any]]:
    """One row per target: medians, the ratio, its target and whether it is met.

    ``kind`` "max": the ratio (ours / reference) must be at most the target; "min": the
    speed-up (reference / ours) must be at least the target.
    """
    m = {name: median(t) for name, t in cold["times"].items()}
    rows = []

    def add(label, ours, ref, ref_label, ratio, target, kind, unit="s"):
        passed = ratio <= target if kind == "max" else ratio >= target
        rows.append(
            {
                "benchmark": label,
                "ours": ours,
                "reference": ref,
                "reference_label": ref_label,
                "ratio": ratio,
                "target": target,
                "kind": kind,
                "unit": unit,
                "pass": passed,
            }
        )

    add(
        "cold load vs floor (skops)",
        m["ours-skops"],
        m["floor-skops"],
        "floor (skops)",
        m["ours-skops"] / m["floor-skops"],
        1.15,
        "max",
    )
    add(
        "cold load vs floor (pickle)",
        m["ours-pickle"],
        m["floor-pickle"],
        "floor (pickle)",
        m["ours-pickle"] / m["floor-pickle"],
        1.15,
        "max",
    )
    add(
        "cold load vs MLflow",
        m["ours-skops"],
        m["mlflow"],
        "MLflow (skops)",
        m["ours-skops"] / m["mlflow"],
        0.75,
        "max",
    )
    ours, ml = pred["ours"], pred["mlflow"]
    add(
        "batch predict 2M rows vs raw",
        median(ours["batch_model"]),
        median(ours["batch_raw"]),
        "estimator.predict",
        median(ours["batch_model"]) / median(ours["batch_raw"]),
        1.10,
        "max",
    )
    add(
        "single-row predict vs raw",
        median(ours["single_model"]) * 1e3,
        median(ours["single_raw"]) * 1e3,
        "estimator.predict",
        median(ours["single_model"]) / median(ours["single_raw"]),
        1.3,
        "max",
        "ms",
    )
    add(
        "S3 upload 200 files/100 MB vs MLflow",
        median(s3["ours"]["up"]),
        median(s3["mlflow"]["up"]),
        "MLflow log_artifacts",
        median(s3["mlflow"]["up"]) / median(s3["ours"]["up"]),
        2.0,
        "min",
    )
    add(
        "S3 download vs MLflow",
        median(s3["ours"]["down"]),
        median(s3["mlflow"]["down"]),
        "MLflow download_artifacts",
        median(s3["mlflow"]["down"]) / median(s3["ours"]["down"]),
        2.0,
        "min",
    )
    for key, fmt in (("cache", "skops"), ("cache_pickle", "pickle")):
        add(
            f"models:/ load, cached vs first ({fmt})",
            median(s3[key]["second"]),
            median(s3[key]["first"]),
            "first load (empty cache)",
            median(s3[key]["first"]) / median(s3[key]["second"]),
            30.0,
            "min",
        )

    def info(label, ours, ours_label, ref, ref_label, ratio_label, unit="s"):
        rows.append(
            {
                "benchmark": f"(info) {label}",
                "ours": ours,
                "ours_label": ours_label,
                "reference": ref,
                "reference_label": ref_label,
                "ratio": ours / ref,
                "ratio_label": ratio_label,
                "target": None,
                "kind": "info",
                "unit": unit,
                "pass": None,
            }
        )

    # CPU seconds of the cold-load processes: less disturbed by other jobs on a shared
    # machine than the wall time.
    c = {name: median(t) for name, t in cold["cpu"].items()}
    for ref, label in (("floor-skops", "floor (skops)"), ("mlflow", "MLflow (skops)")):
        info(f"cold load CPU time vs {label}", c["ours-skops"], "ours", c[ref], label, "ours/ref")
    # MLflow against the same raw estimator, in its own venv.
    info(
        "MLflow batch predict vs raw",
        median(ml["batch_model"]),
        "MLflow",
        median(ml["batch_raw"]),
        "estimator.predict",
        "MLflow/raw",
    )
    info(
        "MLflow single-row vs raw",
        median(ml["single_model"]) * 1e3,
        "MLflow",
        median(ml["single_raw"]) * 1e3,
        "estimator.predict",
        "MLflow/raw",
        "ms",
    )
    # What bounds the transfers: the moto server's CPU time during each transfer. A ratio
    # near 1 means the single-process server was busy the whole time, whatever the client.
    for lib, who in (("ours", "ours"), ("mlflow", "MLflow")):
        for way, what in (("up", "upload"), ("down", "download")):
            info(
                f"moto server CPU during {who} {what}",
                median(s3[lib][f"server_{way}"]),
                "server CPU",
                median(s3[lib][way]),
                f"{who} {what} wall",
                "server CPU/wall",
            )
    # What a cache hit no longer pays: one listing of the remote tree (a hit by digest
    # makes no request to S3).
    for key, fmt in (("cache", "skops"), ("cache_pickle", "pickle")):
        info(
            f"S3 listing a cached load avoids ({fmt})",
            median(s3[key]["listing"]),
            "listing",
            median(s3[key]["second"]),
            "cached load",
            "listing/cached load",
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a markdown table (also readable on a terminal)."""
    lines = [
        "| benchmark | ours (median) | reference (median) | ratio | target | result |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r["kind"] == "missing":
            lines.append(f"| {r['benchmark']} | - | - | - | - | not run: {r['reason']} |")
            continue
        fmt = {"ms": "{:.3f} ms", "MB": "{:.0f} MB"}.get(r["unit"], "{:.3f} s")
        if r["kind"] == "abs":
            ratio, target = "-", f"<= {r['target']} {r['unit']}"
        elif r["ratio"] is None:
            ratio, target = "-", "-"
        elif r["kind"] == "max":
            ratio, target = f"{_ratio(r['ratio'])} ours/ref", f"<= {r['target']}x"
        elif r["kind"] == "min":
            ratio, target = f"{r['ratio']:.1f}x faster", f">= {r['target']}x"
        else:
            ratio, target = f"{_ratio(r['ratio'])} {r['ratio_label']}", "-"
        result = "-" if r["pass"] is None else ("pass" if r["pass"] else "MISS")
        ours_label = r.get("ours_label", "ours")
        reference = (
            "-"
            if r["reference"] is None
            else f"{fmt.format(r['reference'])} ({r['reference_label']})"
        )
        lines.append(
            f"| {r['benchmark']} | {fmt.format(r['ours'])} ({ours_label}) | "
            f"{reference} | {ratio} | {target} | {result} |"
        )
    return "\n".join(lines)


def _ratio(value: float) -> str:
    """A ratio as text: two decimals, or two significant digits below 0.01 (a 0.0005x
    row must not read as 0.00x)."""
    return f"{value:.2g}x" if abs(value) < 0.01 else f"{value:.2f}x"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Bar per target, as "how much better than needed": ratio / target on a log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [
        r for r in rows if r["kind"] in ("max", "min", "abs") and (r["kind"] == "abs" or r["ratio"])
    ]
    labels = [r["benchmark"] for r in scored]

    # Normalise so that every bar reads "higher is better" and the target sits at 1.
    def _margin(r: dict[str, Any]) -> float:
        if r["kind"] == "abs":
            return float(r["target"]) / r["ours"]
        if r["kind"] == "max":
            return float(r["target"]) / r["ratio"]
        return float(r["ratio"]) / r["target"]

    margin = [_margin(r) for r in scored]
    fig, ax = plt.subplots(figsize=(13, 0.45 * len(scored) + 1.5))
    colors = ["tab:green" if r["pass"] else "tab:red" for r in scored]
    # Bars by position, labelled afterwards: names may repeat (one row per reference).
    positions = list(range(len(scored)))
    ax.barh(positions, margin, color=colors)
    ax.set_yticks(positions, labels, fontsize=8)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.invert_yaxis()
    for i, r in enumerate(scored):
        if r["kind"] == "abs":
            text = f"{r['ours']:.3g} {r['unit']} (<= {r['target']} {r['unit']})"
        elif r["kind"] == "max":
            text = f"{_ratio(r['ratio'])} (<= {r['target']}x)"
        else:
            text = f"{r['ratio']:.1f}x (>= {r['target']}x)"
        ax.text(margin[i], i, "  " + text, va="center", fontsize=8)
    ax.set_xlabel("measured vs target (>1: target met; log scale)")
    ax.set_title("pyfunc_ops vs floor / raw estimator / MLflow (medians)")
    # Room on the right for the text after the longest bar (a log axis: a factor).
    ax.set_xlim(min(min(margin) * 0.5, 0.5), max(margin) * 60)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


PLOT_ALT = "Measured ratios against their targets"


def results_block(markdown: str, doc: Path) -> str:
    """What goes between the markers of ``doc``: the table and conditions, then the plot
    (its path relative to ``doc``)."""
    plot_path = Path(os.path.relpath(RESULTS_DIR / "ratios.png", doc.parent)).as_posix()
    return f"{markdown}\n\n![{PLOT_ALT}]({plot_path})"


def replace_block(text: str, block: str) -> str | None:
    """``text`` with the part between the markers replaced by ``block``; everything
    outside them kept byte for byte. ``None`` if the markers are not there."""
    if DOCS_START not in text or DOCS_END not in text:
        return None
    head, rest = text.split(DOCS_START, 1)
    _, tail = rest.split(DOCS_END, 1)
    return f"{head}{DOCS_START}\n{block}\n{DOCS_END}{tail}"


def update_docs(markdown: str) -> None:
    """Replace the results block in docs/benchmarks.md and in the README (nothing else)."""
    for doc in (DOCS, ROOT / "README.md"):
        if not doc.is_file():
            continue
        new = replace_block(doc.read_text(), results_block(markdown, doc))
        if new is not None:
            doc.write_text(new)


def run_cache_only(runs: int, keep: bool) -> None:
    """The cache section alone: prints first and cached load medians and their ratio."""
    work = Path(tempfile.mkdtemp(prefix="pyfunc-ops-bench-cache-"))
    try:
        paths = prepare(work, None)
        s3 = bench_s3(paths, "", runs, work, transfer=False)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    for key in ("cache", "cache_pickle"):
        first, second = median(s3[key]["first"]), median(s3[key]["second"])
        print(
            f"{key}: first {first:.3f}s, cached {second:.4f}s, ratio {first / second:.1f}x "
            f"(target 30x); listing avoided {median(s3[key]['listing']):.4f}s",
            flush=True,
        )


def rerender() -> None:
    """The table, plot and docs block again from the last run's saved figures (the section
    rows rebuilt from their raw rows, so a change in how rows are read needs no new run)."""
    import json

    path = RESULTS_DIR / "results.json"
    saved = json.loads(path.read_text())
    sections = saved.get("raw", {}).get("sections", {})
    rows = [r for r in saved["rows"] if "section" not in r and r.get("kind") != "missing"]
    for section, description, names in section_modules():
        for name in names or [section]:
            if name in sections:
                rows.extend(section_rows(sections[name], name))
            else:
                rows.append(_missing(description, f"benchmarks/{name}.py was not measured"))
    saved["rows"] = rows
    summary = saved.get("summary") or (
        f"Model: {saved.get('model')}; MLflow {saved.get('mlflow_version')}; "
        f"{'quick' if saved.get('quick') else 'full'} run; load average "
        f"{saved['conditions_before']['load_average'][0]} before, "
        f"{saved['conditions_after']['load_average'][0]} after; "
        f"{saved['conditions_after']['time']}."
    )
    saved["summary"] = summary
    path.write_text(json.dumps(saved, indent=2, default=str) + "\n")
    markdown = table(rows)
    plot(rows, RESULTS_DIR / "ratios.png")
    update_docs(f"{markdown}\n\n{summary}")
    print(markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 runs of everything (default: 9 cold, 5 others)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--no-docs", action="store_true", help="do not refresh docs/benchmarks.md")
    parser.add_argument(
        "--only",
        choices=["cache"] + [s for s, _ in SECTIONS if s != "spark_*"] + ["spark"],
        help="run one section only and print its figures (no docs refresh)",
    )
    parser.add_argument(
        "--rerender",
        action="store_true",
        help="rebuild the table, plot and docs block from results/results.json (no runs)",
    )
    opts = parser.parse_args()
    if opts.rerender:
        rerender()
        return
    # Cold loads are single processes on a shared 2-CPU machine: more rounds keep their
    # median steady.
    cold_runs, runs = (3, 3) if opts.quick else (9, 5)
    if opts.only == "cache":
        run_cache_only(runs, opts.keep)
        return
    if opts.only is not None:
        section_rows, _ = run_sections(opts.quick, "spark_*" if opts.only == "spark" else opts.only)
        print(table(section_rows))
        return
    started = time.perf_counter()
    before = conditions()
    print(f"load average before: {before['load_average']}", flush=True)
    mlflow_py = mlflow_python()
    work = Path(tempfile.mkdtemp(prefix="pyfunc-ops-bench-"))
    try:
        print("preparing models and data ...", flush=True)
        paths = prepare(work, mlflow_py)
        print("cold load ...", flush=True)
        cold = bench_cold_load(paths, mlflow_py, cold_runs)
        print("batch and single-row predict ...", flush=True)
        pred = bench_predict(paths, mlflow_py, runs)
        print("S3 transfer and cache ...", flush=True)
        s3 = bench_s3(paths, mlflow_py, runs, work)
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    rows = summarise(cold, pred, s3)
    section_rows, section_raw = run_sections(opts.quick)
    rows += section_rows
    after = conditions()
    markdown = table(rows)
    summary = (
        f"Model: {MODEL_DESCRIPTION}; MLflow {paths['mlflow_version']}; "
        f"{'quick' if opts.quick else 'full'} run ({cold_runs} cold-load rounds, {runs} runs "
        f"otherwise, {'1 run' if opts.quick else '9 runs'} of the Spark sections, "
        f"{'2 runs' if opts.quick else '5 runs'} of score_files, "
        f"{'1 cold round' if opts.quick else '5 cold rounds'} of the flavors); "
        f"transfer tree: {paths['tree_files']} files, "
        f"{paths['tree_bytes'] / 2**20:.1f} MiB. {before['cpus']} CPUs; load average "
        f"{before['load_average'][0]} before, {after['load_average'][0]} after; "
        f"{after['time']}; suite took {time.perf_counter() - started:.0f} s."
    )
    print()
    print(markdown)
    print()
    print(summary)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    write_json(
        "results.json",
        {
            "model": MODEL_DESCRIPTION,
            "mlflow_version": paths["mlflow_version"],
            "quick": opts.quick,
            "conditions_before": before,
            "conditions_after": after,
            "tree": {"files": paths["tree_files"], "bytes": paths["tree_bytes"]},
            "rows": rows,
            "summary": summary,
            "raw": {"cold_load": cold, "predict": pred, "s3": s3, "sections": section_raw},
        },
    )
    plot(rows, RESULTS_DIR / "ratios.png")
    if not opts.no_docs:
        update_docs(f"{markdown}\n\n{summary}")
    print(f"wrote {RESULTS_DIR / 'results.json'} and {RESULTS_DIR / 'ratios.png'}")


if __name__ == "__main__":
    main()
