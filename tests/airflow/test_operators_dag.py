"""The operators inside a real DAG run (``dag.test()``, SQLite metadata database): XCom
between them, rendered templates, the connection from ``AIRFLOW_CONN_...`` and the Asset
events recorded by Airflow."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pyfunc_ops import tracking

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_FILE = Path(__file__).parent / "dags" / "pyfunc_ops_test_dags.py"


def _load_dag(file: Path, name: str):
    spec = importlib.util.spec_from_file_location(f"test_dag_{file.stem}", file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)()


def test_package_promote_score_in_a_dag(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    registry = tmp_path / "conn-registry.db"
    artifacts = tmp_path / "conn-artifacts"
    monkeypatch.setenv(
        "AIRFLOW_CONN_PYFUNC_OPS_DEFAULT",
        json.dumps(
            {
                "conn_type": "pyfunc_ops",
                "extra": {"tracking_uri": str(registry), "artifact_root": str(artifacts)},
            }
        ),
    )
    work = tmp_path / "work"
    (work / "input").mkdir(parents=True)
    for part in range(2):
        x0 = np.arange(10, dtype=float) + 10 * part
        pd.DataFrame({"id": np.arange(10) + 10 * part, "x0": x0, "x1": np.ones(10)}).to_parquet(
            work / "input" / f"part-{part}.parquet"
        )

    dag = _load_dag(DAG_FILE, "pyfunc_ops_operators_test")
    run = dag.test(run_conf={"work": str(work), "model_name": "dag_model"})
    assert run.state == "success"

    results = json.loads((work / "results.json").read_text())
    package, promote, stage, score = (results[t] for t in ("package", "promote", "stage", "score"))
    assert package["name"] == "dag_model" and package["version"] == 1
    # The connection, not the environment's default store, received the model.
    assert package["artifact_uri"].startswith(str(artifacts))
    assert not (isolated_home / "tracking.db").exists()
    client = tracking.TrackingClient(str(registry))
    assert client.get_model_version_by_alias("dag_model", "champion").version == 1
    assert client.get_model_version("dag_model", 1).current_stage == "Production"
    assert client.get_run(package["run_id"]).info.run_name == "pkg-dag_model"  # rendered
    assert promote == {
        "name": "dag_model",
        "version": 1,
        "alias": "champion",
        "model_uri": "models:/dag_model/1",
        "requested_uri": "models:/dag_model@champion",
        "digest": client.get_model_version("dag_model", 1).digest,
    }
    assert promote["digest"].startswith("sha256:") and package["digest"] == promote["digest"]
    assert stage["stage"] == "Production"
    # Templated paths and URI reached execute rendered.
    assert score["model_uri"] == "models:/dag_model@champion"
    assert score["output_uri"] == str(work / "scored" / "predictions.parquet")
    assert (score["rows_in"], score["rows_out"], score["batches"]) == (20, 20, 4)
    out = pd.read_parquet(score["output_uri"])
    assert out["id"].tolist() == list(range(20))
    x0 = np.arange(20, dtype=float)
    np.testing.assert_allclose(out["prediction"], 3 * x0 + 1, rtol=1e-6)

    with create_session() as session:
        events = {
            (e.asset.uri, json.dumps(e.extra, sort_keys=True))
            for e in session.query(AssetEvent).filter(AssetEvent.source_run_id == run.run_id)
        }
    uris = {uri for uri, _ in events}
    assert {
        "pyfunc-ops://models/dag_model",
        "pyfunc-ops://models/dag_model@champion",
        "pyfunc-ops://models/dag_model/Production",
    } <= uris
    champion = next(json.loads(x) for u, x in events if u.endswith("@champion"))
    assert champion == promote
