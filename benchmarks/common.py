"""Shared helpers of the benchmark suite: timing, child processes, the MLflow venv, results.

Every measurement is repeated and summarised by its median, because the machine is
shared and single runs are noisy. Code that must not share a process with the suite (cold
loads, anything MLflow) runs in a child interpreter and reports back one ``RESULT <json>``
line on stdout.

It is a plain module (standard library only, no pytest) so that the tests can use it too:
``mlflow_server`` is the one way both the benchmarks and tests/interop and the Airflow
sensor tests start a real ``mlflow server`` (``from benchmarks.common import ...``).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
OUR_PYTHON = str(ROOT / ".venv" / "bin" / "python")
RESULT_PREFIX = "RESULT "

# Runs in the MLflow venv, for every benchmark: with "estimator", saves it with MLflow at
# "model" (cloudpickle unless "serialization_format" says otherwise, with
# "skops_trusted_types" for skops); with "data", times mlflow.pyfunc.spark_udf on it.
MLFLOW_SIDE = r"""
import json, sys, time
import mlflow, mlflow.pyfunc, mlflow.sklearn

args = json.loads(sys.argv[1])
result = {"mlflow": mlflow.__version__}
if "estimator" in args:
    import pickle
    import pandas as pd
    from mlflow.models import infer_signature
    with open(args["estimator"], "rb") as fh:
        estimator = pickle.load(fh)
    sample = pd.read_parquet(args["sample"])
    trusted = args.get("skops_trusted_types")
    mlflow.sklearn.save_model(
        estimator,
        args["model"],
        signature=infer_signature(sample, estimator.predict(sample)),
        serialization_format=args.get("serialization_format", "cloudpickle"),
        **({"skops_trusted_types": trusted} if trusted is not None else {}),
    )
if "data" in args:
    from pyspark.sql import SparkSession, functions as F
    builder = SparkSession.builder.master("local[2]").appName("bench-mlflow")
    for key, value in args["conf"].items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.read.parquet(args["data"]).repartition(args["partitions"]).cache()
    df.count()
    start = time.perf_counter()
    udf = mlflow.pyfunc.spark_udf(
        spark, args["model"], result_type="double", env_manager=args["env_manager"]
    )
    result["prepare"] = time.perf_counter() - start
    expr = udf(*args["features"]).alias("p")
    def run():
        start = time.perf_counter()
        total = df.select(expr).agg(F.sum("p")).collect()[0][0]
        return time.perf_counter() - start, total
    for _ in range(args["warmup"]):
        run()
    times, totals = zip(*(run() for _ in range(args["runs"])))
    spark.stop()
    result.update(times=times, total=totals[0])
print("RESULT " + json.dumps(result))
"""


def mlflow_python() -> str:
    """The interpreter of the MLflow venv (built on first use by ``scripts/mlflow_venv.sh``).

    ``PYFUNC_OPS_BENCH_MLFLOW_PYTHON`` names an existing one instead: the script also
    reinstalls this checkout into the venv, which a smoke run from a second checkout
    should not do to a venv others share.
    """
    given = os.environ.get("PYFUNC_OPS_BENCH_MLFLOW_PYTHON")
    if given:
        return given
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "mlflow_venv.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return str(Path(out.splitlines()[-1]) / "bin" / "python")


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def time_calls(fn: Callable[[], Any], runs: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``runs`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for child processes: ours, minus anything that would redirect them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYFUNC_OPS_", "MLFLOW_"))}
    env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"
    env["TQDM_DISABLE"] = "1"
    env.update(extra or {})
    return env


def run_child(
    python: str,
    code: str,
    args: Any = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
) -> tuple[float, dict[str, Any]]:
    """Run ``code`` in a new ``python`` process; return (wall seconds, its RESULT payload).

    The payload gains ``_cpu``: the CPU seconds (user + system) the process used, which a
    busy shared machine disturbs less than the wall time.

    The wall time is measured around the whole process (start-up, imports, exit), which
    is what a cold load costs a user. ``args`` reaches the child as JSON in ``sys.argv[1]``.
    """
    cmd = [python, "-c", code, json.dumps(args if args is not None else {})]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=dict(env or child_env()), timeout=timeout
    )
    elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    if proc.returncode != 0:
        raise RuntimeError(
            f"benchmark child failed ({python}, exit {proc.returncode}):\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        )
    payload: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            payload = json.loads(line[len(RESULT_PREFIX) :])
    payload["_cpu"] = cpu
    return elapsed, payload


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    """For the server and MLflow-side processes: our environment without ``PYTHON*``
    (which would redirect the MLflow venv's interpreter, e.g. PYTHONPATH into this
    checkout) or our own settings. Unlike :func:`child_env` it keeps ``MLFLOW_*``: a
    caller may configure the server with them."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYFUNC_OPS_"))}


@contextmanager
def mlflow_server(mlflow_python: str | Path, root: Path, timeout: float = 120) -> Iterator[str]:
    """A running ``mlflow server``'s URL, stopped on exit: from the MLflow venv whose
    interpreter is ``mlflow_python``, on a free port of 127.0.0.1, one worker, SQLite backend
    and proxied artifacts under ``root``; its output goes to ``root / "server.log"``.

    Raises RuntimeError with that log when the server exits or does not answer ``/health``
    within ``timeout`` seconds (a starting server offers nothing to wait on but polling).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = root / "server.log"
    command = [
        str(Path(mlflow_python).parent / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
    ]
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            command, cwd=root, stdout=log_file, stderr=subprocess.STDOUT, env=clean_env()
        )
        try:
            deadline = time.monotonic() + timeout
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = log_path.read_text(errors="replace")
                    raise RuntimeError(f"mlflow server did not start at {url}:\n{log}")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:  # refused, reset or timed out while starting; HTTP errors are OSErrors too
        return False


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def conditions() -> dict[str, Any]:
    """What the numbers depend on: machine, load, interpreters."""
    return {
        "time": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_average": [round(x, 2) for x in load_average()],
    }


def write_json(name: str, data: Any) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / name
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path
