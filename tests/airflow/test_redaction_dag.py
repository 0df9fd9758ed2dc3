"""Point 6 in a real DAG run: a connection whose password, extras and storage options
carry secrets runs the package/promote/score DAG; the secrets appear in no log line, no
XCom and no connection test message."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_FILE = Path(__file__).parent / "dags" / "pyfunc_ops_test_dags.py"
SECRETS = ("S3CRETsk", "S3CRETso", "S3CRETtok")


def _load_dag(file: Path, name: str):
    spec = importlib.util.spec_from_file_location(f"test_dag_redact_{file.stem}", file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)()


def test_dag_run_leaks_no_connection_secret(
    airflow_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from pyfunc_ops.airflow.hooks.pyfunc_ops import PyfuncOpsHook

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(
        "AIRFLOW_CONN_PYFUNC_OPS_DEFAULT",
        json.dumps(
            {
                "conn_type": "pyfunc_ops",
                "login": "KEY",
                "password": "S3CRETsk",
                "extra": {
                    "tracking_uri": str(tmp_path / "reg.db"),
                    "artifact_root": str(tmp_path / "artifacts"),
                    "aws_session_token": "S3CRETtok",
                    "storage_options": {"secret": "S3CRETso"},
                    "unknown_extra": "x",
                },
            }
        ),
    )
    work = tmp_path / "work"
    (work / "input").mkdir(parents=True)
    pd.DataFrame({"id": np.arange(5), "x0": np.arange(5.0), "x1": np.ones(5)}).to_parquet(
        work / "input" / "part-0.parquet"
    )
    run = _load_dag(DAG_FILE, "pyfunc_ops_operators_test").test(
        run_conf={"work": str(work), "model_name": "redact_model"}
    )
    assert run.state == "success"
    hook = PyfuncOpsHook()
    ok, message = hook.test_connection()
    assert ok, message
    texts = [caplog.text, *capfd.readouterr(), (work / "results.json").read_text(), message]
    texts.append(repr(hook.get_config()))
    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.run_id == run.run_id).all()
        texts.extend(json.dumps(row.value, default=str) for row in rows)
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaked in: {text[:300]}"


def test_connection_test_refuses_a_missing_sqlite_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyfunc_ops.airflow.hooks.pyfunc_ops import PyfuncOpsHook

    target = tmp_path / "no" / "such" / "folder" / "reg.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_PYFUNC_OPS_DEFAULT",
        json.dumps({"conn_type": "pyfunc_ops", "extra": {"tracking_uri": str(target)}}),
    )
    ok, message = PyfuncOpsHook().test_connection()
    assert not ok and "does not exist" in message and str(tmp_path / "no") in message
    assert not (tmp_path / "no").exists()
