"""ModelVersionSensor in ``dag.test()`` DAGs, waiting for versions MLflow itself registers on
a real ``mlflow server`` (poke and deferrable mode).

Airflow may only be imported under tests/airflow (its conftest sets AIRFLOW_HOME first), so
this lives here rather than beside tests/interop/test_mlflow_server.py; the server is
started the same way (SQLite backend, proxied artifacts in tmp). The sensor reads the
server through the ``pyfunc_ops`` connection's ``tracking_uri``. "Appears later" is made
deterministic as in test_sensors.py: right after the sensor's (or trigger's) first "not
yet", MLflow's client registers the version in a subprocess of the MLflow venv.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import test_sensors
from airflow.sdk import DAG
from test_sensors import FAST, Recorder, _after_first_miss, _dag, _record, _states

from benchmarks.common import clean_env, mlflow_server
from pyfunc_ops.airflow.sensors import ModelVersionSensor
from pyfunc_ops.airflow.sensors import model_version as version_sensor_module
from pyfunc_ops.airflow.triggers import model_version as trigger_module

pytestmark = [pytest.mark.airflow, pytest.mark.mlflow]

run_dag = test_sensors.run_dag  # the fixture that serializes a DAG, then dag.test()

# MLflow's own client registers a version (and optionally sets an alias).
_MLFLOW_REGISTERS = """
import sys
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

client = MlflowClient(sys.argv[1])
name, alias = sys.argv[2], sys.argv[3]
try:
    client.create_registered_model(name)
except MlflowException:
    pass  # registered already: add a version
run = client.create_run("0")  # the server accepts a source inside the version's run
source = run.info.artifact_uri + "/model"
version = client.create_model_version(name, source=source, run_id=run.info.run_id)
if alias:
    client.set_registered_model_alias(name, alias, version.version)
print(version.version)
"""


@pytest.fixture(scope="module")
def mlflow_python() -> Path:
    """The MLflow venv scripts/test.sh builds (PYFUNC_OPS_MLFLOW_VENV)."""
    venv = os.environ.get("PYFUNC_OPS_MLFLOW_VENV")
    python = Path(venv or "/nonexistent") / "bin" / "python"
    if not python.is_file():
        pytest.skip("no MLflow venv (PYFUNC_OPS_MLFLOW_VENV); run through scripts/test.sh")
    return python


@pytest.fixture(scope="module")
def server_url(mlflow_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_server(mlflow_python, tmp_path_factory.mktemp("mlflow_server_sensors")) as url:
        yield url


@pytest.fixture
def mlflow_registers(mlflow_python: Path, server_url: str) -> Callable[..., Callable[[], None]]:
    """``mlflow_registers(name, alias="")``: an action that has MLflow register a version."""

    def action(name: str, alias: str = "") -> Callable[[], None]:
        def register() -> None:
            proc = subprocess.run(
                [str(mlflow_python), "-c", _MLFLOW_REGISTERS, server_url, name, alias],
                capture_output=True,
                text=True,
                env=clean_env(),
                timeout=120,
            )
            assert proc.returncode == 0, f"MLflow could not register {name!r}:\n{proc.stderr}"

        return register

    return action


@pytest.fixture
def at_server(server_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The default ``pyfunc_ops`` connection points at the server."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_PYFUNC_OPS_DEFAULT",
        json.dumps({"conn_type": "pyfunc_ops", "extra": {"tracking_uri": server_url}}),
    )
    return server_url


def test_poke_mode_waits_for_a_version_mlflow_registers(
    run_dag: Callable[[DAG], Any],
    at_server: str,
    mlflow_registers: Callable[..., Callable[[], None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _after_first_miss(
        monkeypatch, version_sensor_module, "find_model_version", mlflow_registers("srv-poke")
    )
    recorder = Recorder()
    with _dag("mv_server_poke") as dag:
        wait = ModelVersionSensor(task_id="wait", name="srv-poke", **FAST)
        _record(recorder)(wait.output)

    dag_run = run_dag(dag)

    assert _states(dag_run) == {"wait": "success", "record": "success"}
    assert seen[0] is None and seen[-1] is not None  # it did wait
    [info] = recorder.values
    assert (info["name"], info["version"], info["model_uri"]) == (
        "srv-poke",
        1,
        "models:/srv-poke/1",
    )
    assert info["source"].startswith("mlflow-artifacts:/")
    assert info["source"].endswith("/artifacts/model")


def test_deferrable_mode_waits_in_the_trigger_for_an_alias_mlflow_sets(
    run_dag: Callable[[DAG], Any],
    at_server: str,
    mlflow_registers: Callable[..., Callable[[], None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mlflow_registers("srv-deferred")()  # v1 exists; the sensor waits for v2 as champion
    sensor_checks = _after_first_miss(
        monkeypatch, version_sensor_module, "find_model_version", lambda: None
    )
    trigger_checks = _after_first_miss(
        monkeypatch,
        trigger_module,
        "find_model_version",
        mlflow_registers("srv-deferred", "champion"),
    )
    recorder = Recorder()
    with _dag("mv_server_deferrable") as dag:
        wait = ModelVersionSensor(
            task_id="wait",
            name="srv-deferred",
            alias="champion",
            min_version=1,
            deferrable=True,
            poll_interval=0.2,
            **FAST,
        )
        _record(recorder)(wait.output)

    dag_run = run_dag(dag)

    assert _states(dag_run) == {"wait": "success", "record": "success"}
    assert sensor_checks == [None]
    assert trigger_checks[0] is None and trigger_checks[-1] is not None
    [info] = recorder.values
    assert (info["version"], info["aliases"]) == (2, ["champion"])
