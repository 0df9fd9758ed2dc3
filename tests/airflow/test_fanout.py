"""The fan-out example DAG (dags/fanout_score.py) end to end with ``dag.test()``: the model
is resolved once upstream, the mapped scoring tasks all get the pinned URI and write one
part per input file into one folder, and the check finds every part."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from pyfunc_ops import tracking

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_FILE = Path(__file__).parents[2] / "dags" / "fanout_score.py"


def _register_champion(tmp_path: Path, name: str) -> None:
    from sklearn.linear_model import LinearRegression

    from pyfunc_ops.jobs.packaging import package_model
    from pyfunc_ops.sklearn import import_skops_io

    frame = pd.DataFrame({f"f{i}": [float(i + j) for j in range(8)] for i in range(4)})
    estimator = LinearRegression().fit(frame, frame.sum(axis=1))
    import_skops_io().dump(estimator, tmp_path / "est.skops")
    sample = tmp_path / "sample.parquet"
    frame.to_parquet(sample)
    package_model(
        estimator_path=str(tmp_path / "est.skops"),
        registered_model_name=name,
        input_example=str(sample),
    )
    tracking.TrackingClient().set_registered_model_alias(name, "champion", 1)


def test_fanout_scores_every_file_with_one_pinned_version(airflow_db: Path, tmp_path: Path) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    _register_champion(tmp_path, "fanout_model")
    spec = importlib.util.spec_from_file_location("example_fanout_score", DAG_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "out"
    conf = {"out_dir": str(out), "model_name": "fanout_model", "shards": 3}
    run = module.fanout_score().test(run_conf={**conf, "files_per_shard": 2, "rows_per_file": 50})
    assert run.state == "success"

    with create_session() as session:
        rows = session.query(XComModel).filter_by(run_id=run.run_id, key="return_value").all()
        values = {(r.task_id, r.map_index): r.value for r in rows}
    pinned = values[("resolve_model", -1)]
    pinned = json.loads(pinned) if isinstance(pinned, str) else pinned
    assert pinned["model_uri"] == "models:/fanout_model/1"
    mapped = [
        json.loads(v) if isinstance(v, str) else v for (t, i), v in values.items() if t == "score"
    ]
    assert len(mapped) == 3  # one task per shard
    assert {m["model_uri"] for m in mapped} == {"models:/fanout_model/1"}
    parts = sorted((out / "predictions" / "fanout" / "v1").glob("*.parquet"))
    assert len(parts) == 6  # one part per input file
    assert sum(len(pd.read_parquet(p)) for p in parts) == 300
    assert values[("check", -1)] is not None
    # Every mapped task attached an event to the output's Asset through the alias.
    from airflow.models.asset import AssetEvent

    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == run.run_id).all()
        uris = [e.asset.uri for e in events]
    assert len(uris) == 3
    assert all(u.startswith(f"file://{out}/predictions/fanout/v1") for u in uris)
