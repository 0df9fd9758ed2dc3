"""OpenLineage events of the packaging and scoring operators, from a real ``dag.test()``
with the OpenLineage provider's file transport.

The provider reads its transport once per process (cached), so the DAG runs in a
subprocess whose environment configures it; the test reads the event files it wrote.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pyfunc_ops.airflow.operators.base import MODEL_FACET, lineage_dataset_name

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_FILE = Path(__file__).parent / "dags" / "pyfunc_ops_test_dags.py"
_RUN = """
import importlib.util, sys
from pathlib import Path
import numpy as np, pandas as pd

work = Path(sys.argv[1])
(work / "input").mkdir(parents=True)
for part in range(2):
    x0 = np.arange(10, dtype=float) + 10 * part
    frame = pd.DataFrame({"id": np.arange(10) + 10 * part, "x0": x0, "x1": np.ones(10)})
    frame.to_parquet(work / "input" / f"part-{part}.parquet")
spec = importlib.util.spec_from_file_location("lineage_dags", sys.argv[2])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
run = module.pyfunc_ops_operators_test().test(
    run_conf={"work": str(work), "model_name": "lineage_model"}
)
assert run.state == "success", run.state
"""


def _events(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """{(task id, event type): event} of the run's task events."""
    found = {}
    for path in sorted(folder.glob("events*.json")):
        event = json.loads(path.read_text())
        job = event["job"]["name"]
        if "." in job:
            found[(job.rsplit(".", 1)[1], event["eventType"])] = event
    return found


def _names(datasets: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in datasets]


def test_package_and_score_emit_datasets_and_the_model_version(
    airflow_db: Path, airflow_env: dict[str, str], tmp_path: Path, isolated_home: Path
) -> None:
    events_dir = tmp_path / "ol"
    events_dir.mkdir()
    env = {
        **airflow_env,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_dir / "events"), "append": False}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "pyfunc-ops-test",
    }
    work = tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_RUN), str(work), str(DAG_FILE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    events = _events(events_dir)
    from pyfunc_ops import tracking

    version = tracking.TrackingClient().get_model_version("lineage_model", 1)
    model_dir = version.source

    start = events[("package", "START")]
    assert _names(start["inputs"]) == [("file", str(work / "estimator.skops"))]
    package = events[("package", "COMPLETE")]
    assert _names(package["outputs"]) == [("file", model_dir)]
    facet = package["run"]["facets"][MODEL_FACET]
    assert {k: facet[k] for k in ("name", "version", "digest", "model_uri", "source")} == {
        "name": "lineage_model",
        "version": 1,
        "digest": version.digest,
        "model_uri": "models:/lineage_model/1",
        "source": model_dir,
    }
    assert facet["digest"].startswith("sha256:")

    # START: the rendered arguments; the alias is not resolved yet.
    start = events[("score", "START")]
    assert _names(start["inputs"]) == [("file", str(work / "input"))]
    assert _names(start["outputs"]) == [("file", str(work / "scored" / "predictions.parquet"))]
    assert start["run"]["facets"][MODEL_FACET]["model_uri"] == "models:/lineage_model@champion"
    # COMPLETE: the files read, the model's files, and the version the alias gave.
    score = events[("score", "COMPLETE")]
    assert _names(score["inputs"]) == [
        ("file", str(work / "input" / "part-0.parquet")),
        ("file", str(work / "input" / "part-1.parquet")),
        ("file", model_dir),
    ]
    assert _names(score["outputs"]) == [("file", str(work / "scored" / "predictions.parquet"))]
    facet = score["run"]["facets"][MODEL_FACET]
    assert (facet["name"], facet["version"], facet["digest"]) == (
        "lineage_model",
        1,
        version.digest,
    )
    assert facet["model_uri"] == "models:/lineage_model@champion"
    assert facet["_schemaURL"].endswith("PyfuncOpsModelRunFacet.json")


def test_dataset_naming_follows_openlineage() -> None:
    assert lineage_dataset_name("/data/in.parquet") == ("file", "/data/in.parquet")
    assert lineage_dataset_name("file:///data/in") == ("file", "/data/in")
    assert lineage_dataset_name("s3://bucket/a/b.parquet") == ("s3://bucket", "a/b.parquet")
    assert lineage_dataset_name("s3a://bucket/a") == ("s3://bucket", "a")
    assert lineage_dataset_name("s3://aws_default@bucket/k") == ("s3://bucket", "k")
    assert lineage_dataset_name("gs://b/k") == ("gs://b", "k")
    assert lineage_dataset_name("relative/x.csv")[1].endswith("/relative/x.csv")


def test_lineage_without_running_reports_the_rendered_arguments() -> None:
    from pyfunc_ops.airflow.operators import PyfuncPredictOperator

    op = PyfuncPredictOperator(
        task_id="s", model_uri="models:/m/3", input_url="s3://b/in/", output_url="/o.parquet"
    )
    lineage = op.get_openlineage_facets_on_start()
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("s3://b", "in/")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("file", "/o.parquet")]
    assert lineage.run_facets[MODEL_FACET].model_uri == "models:/m/3"
    # Nothing ran: the completion reports the same as the start.
    assert op.get_openlineage_facets_on_complete(None).inputs == lineage.inputs
