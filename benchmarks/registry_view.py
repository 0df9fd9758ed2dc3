"""How fast the registry view renders a model with 500 versions.

A child process (its own AIRFLOW_HOME and PYFUNC_OPS_HOME, the Airflow metadata database
migrated or copied from the test suite's cache) builds a SQLite registry with one model of
500 versions, each with a run (params, metrics, the tags of the Airflow task that
registered it) and evaluation tags, and 500 scoring Asset events in Airflow's database (one
per version). It then requests the model's page from the plugin's FastAPI app (in
process, through Starlette's test client; the auth check, which is Airflow's, is replaced
by "may read every DAG") and reports the median time of the first page (the newest 50
versions, the chart over all 500) and of the last one. Target: under one second.

``run(quick)`` returns rows ``{name, ours_ms, kind: "abs", target}``; ``quick`` builds 100
versions and times 3 requests instead of 9.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULT = "RESULT "
TARGET_MS = 1000.0
MODEL = "bench_model"


def _airflow_db(home: Path) -> None:
    """A migrated metadata database in ``home`` (the test suite's cached copy if any)."""
    from importlib.metadata import version

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pyfunc_ops"
    cached = cache / f"airflow-{version('apache-airflow')}-test.db"
    if cached.is_file():
        shutil.copyfile(cached, home / "airflow.db")
        return
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True)


def _build(versions: int) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    from pyfunc_ops.tracking import TrackingClient
    from pyfunc_ops.tracking.entities import Metric

    client = TrackingClient()
    for number in range(1, versions + 1):
        run = client.create_run(run_name=f"train-{number}")
        run_id = run.info.run_id
        client.log_batch(
            run_id,
            metrics=[
                Metric("root_mean_squared_error", 1.0 / number, 0, 0),
                Metric("r2", 0.5, 0, 0),
            ],
            params={"alpha": str(number % 7), "rows": "20000", "features": "f0,f1,f2,f3"},
            tags={
                "airflow.dag_id": "retrain_and_package",
                "airflow.run_id": f"scheduled__{number}",
                "airflow.task_id": "package",
            },
        )
        client.register_model(f"/models/{MODEL}/{number}", MODEL, run_id=run_id)
        for key, value in (("root_mean_squared_error", 1.0 / number), ("r2_score", 0.5)):
            client.set_model_version_tag(MODEL, number, f"pyfunc_ops.eval.{key}", f"{value:.6g}")
        client.set_model_version_tag(MODEL, number, "pyfunc_ops.eval.passed", "true")
    client.set_registered_model_alias(MODEL, "champion", versions)
    with create_session() as session:
        for number in range(1, versions + 1):
            uri = f"file:///out/predictions/v{number}.parquet"
            asset = AssetModel(name=uri, uri=uri)
            session.add(asset)
            session.flush()
            session.add(
                AssetEvent(
                    asset_id=asset.id,
                    extra={"name": MODEL, "version": number, "output_uri": uri},
                    source_dag_id="batch_score",
                    source_run_id=f"asset_triggered__{number}",
                    source_task_id="score_pyfunc",
                )
            )


def child(args: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from pyfunc_ops.airflow.plugins import registry

    _build(args["versions"])
    app = registry.create_app()

    async def everything_readable() -> set[str]:
        return {"retrain_and_package", "batch_score"}

    app.dependency_overrides[registry._readable_dags] = everything_readable
    client = TestClient(app, root_path=registry.URL_PREFIX)
    pages = {"first page": 1, "last page": -(-args["versions"] // 50)}
    timings: dict[str, float] = {}
    for label, page in pages.items():
        url = f"{registry.VIEW_PATH}/models/{MODEL}?page={page}"
        answer = client.get(url)  # warm-up (imports, connections)
        assert answer.status_code == 200, answer.text[:500]
        assert answer.text.count("<circle") == args["versions"], "the chart misses versions"
        samples = []
        for _ in range(args["runs"]):
            start = time.perf_counter()
            answer = client.get(url)
            samples.append(time.perf_counter() - start)
            assert answer.status_code == 200
        timings[label] = statistics.median(samples)
    sys.stdout.write(RESULT + json.dumps(timings) + "\n")


def run(quick: bool) -> list[dict[str, Any]]:
    versions, runs = (100, 3) if quick else (500, 9)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow' / 'airflow.db'}",
            "PYFUNC_OPS_HOME": str(home / "pyfunc_ops"),
        }
        for key in ("PYFUNC_OPS_TRACKING_URI", "PYFUNC_OPS_ARTIFACT_ROOT"):
            env.pop(key, None)
        (home / "airflow").mkdir()
        done = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps({"versions": versions, "runs": runs})],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the registry view benchmark failed:\n{done.stderr[-3000:]}")
        line = next(x for x in done.stdout.splitlines() if x.startswith(RESULT))
        timings = json.loads(line[len(RESULT) :])
    return [
        {
            "name": f"registry view, model with {versions} versions, {label} (abs)",
            "ours_ms": seconds * 1000,
            "kind": "abs",
            "target": TARGET_MS,
        }
        for label, seconds in timings.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 versions, 3 requests")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        os.makedirs(os.environ["AIRFLOW_HOME"], exist_ok=True)
        _airflow_db(Path(os.environ["AIRFLOW_HOME"]))
        child(json.loads(args.child))
        return
    rows = run(args.quick)
    for row in rows:
        sys.stdout.write(
            f"{row['name']}: {row['ours_ms']:.1f} ms; target <= {row['target']:.0f} ms\n"
        )
    results = Path(__file__).parent / "results" / "registry_view.json"
    if not args.quick:
        results.write_text(json.dumps(rows, indent=2) + "\n")
    sys.stdout.write(json.dumps(rows) + "\n")


if __name__ == "__main__":
    main()
