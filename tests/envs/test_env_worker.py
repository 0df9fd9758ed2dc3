"""Scoring in a restored environment through a worker process."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import six
from env_helpers import PINNED_SIX, save_echo_model, save_version_model

from pyfunc_ops.errors import InvalidParameterError, SchemaEnforcementError, WorkerError
from pyfunc_ops.models.signature import ModelSignature, ParamSchema, ParamSpec, Schema, TensorSpec
from pyfunc_ops.pyfunc import PyFuncModel, load_model

FRAME = pd.DataFrame({"x": [1.0, 2.0, 3.0]})


def test_host_differs_from_the_pin() -> None:
    assert six.__version__ != PINNED_SIX  # otherwise the next test proves nothing


@pytest.mark.parametrize("manager", ["virtualenv", "uv"])
def test_virtualenv_predicts_with_the_pinned_version(six_model: Path, manager: str) -> None:
    model = load_model(six_model, env_manager=manager)
    assert isinstance(model, PyFuncModel)
    out = model.predict(FRAME)
    assert isinstance(out, pd.Series)
    assert out.name == "six"
    assert out.tolist() == [PINNED_SIX] * 3


def test_local_predicts_with_the_host_version(six_model: Path) -> None:
    out = load_model(six_model, env_manager="local").predict(FRAME)
    assert out.tolist() == [six.__version__] * 3


def test_predict_runs_in_another_process(venv_model: PyFuncModel) -> None:
    model = venv_model
    pids = model.predict(FRAME, params={"kind": "pid"})
    assert set(pids) == {model.get_raw_model().worker.pid}
    assert pids.iloc[0] != os.getpid()


def test_one_worker_per_model_and_environment(six_model: Path) -> None:
    first = load_model(six_model, env_manager="virtualenv")
    second = load_model(six_model, env_manager="virtualenv")
    assert first.get_raw_model().worker is second.get_raw_model().worker


def test_result_shapes_round_trip(venv_model: PyFuncModel) -> None:
    model = venv_model
    frame = model.predict(FRAME, params={"kind": "frame"})
    pd.testing.assert_frame_equal(
        frame, pd.DataFrame({"six": [PINNED_SIX] * 3, "n": [2.0, 4.0, 6.0]})
    )
    array = model.predict(FRAME, params={"kind": "ndarray"})
    assert isinstance(array, np.ndarray)
    assert array.dtype == np.float32
    np.testing.assert_array_equal(array, np.arange(6, dtype="float32").reshape(3, 2))
    assert model.predict(FRAME, params={"kind": "list"}) == [1.0, 2.0, 3.0]
    assert model.predict(FRAME, params={"kind": "dict"}) == {"rows": 3, "six": PINNED_SIX}


def test_series_keeps_the_input_index(venv_model: PyFuncModel) -> None:
    model = venv_model
    frame = pd.DataFrame({"x": [1.0, 2.0]}, index=[10, 20])
    assert model.predict(frame).index.tolist() == [10, 20]


def test_model_error_carries_the_remote_traceback(venv_model: PyFuncModel) -> None:
    model = venv_model
    with pytest.raises(WorkerError, match="scoring worker: ValueError: asked to fail"):
        model.predict(pd.DataFrame({"fail": [1]}))
    try:
        model.predict(pd.DataFrame({"fail": [1]}))
    except WorkerError as exc:
        assert exc.remote_traceback is not None
        assert "version_model.py" in exc.remote_traceback
    assert model.predict(FRAME).tolist() == [PINNED_SIX] * 3  # the worker survives


def test_worker_crash_is_reported_then_restarted(venv_model: PyFuncModel) -> None:
    model = venv_model
    worker = model.get_raw_model().worker
    before, starts = worker.pid, worker.starts
    with pytest.raises(WorkerError, match=r"died while predicting \(exit code 7\).*restarted"):
        model.predict(pd.DataFrame({"crash": [1]}))
    assert model.predict(FRAME).tolist() == [PINNED_SIX] * 3
    assert worker.starts == starts + 1
    assert worker.pid != before


def test_params_are_checked_before_they_reach_the_worker(venv_model: PyFuncModel) -> None:
    model = venv_model
    with pytest.raises(SchemaEnforcementError, match="kind"):
        model.predict(FRAME, params={"kind": object()})
    # What the signature lets through must still cross the pipe as JSON (the worker's check).
    with pytest.raises(InvalidParameterError, match="params must be JSON-serialisable"):
        model.get_raw_model().worker.predict(FRAME, params={"kind": object()})


def test_unwrap_python_model_explains_the_worker(venv_model: PyFuncModel) -> None:
    model = venv_model
    with pytest.raises(InvalidParameterError, match="runs in a worker process"):
        model.unwrap_python_model()


def test_model_that_cannot_load_in_its_environment(tmp_path: Path) -> None:
    # Same requirements as six_model (so its environment is reused), but the loader
    # imports a package that they do not list.
    path = save_version_model(tmp_path / "model", [f"six=={PINNED_SIX}"])
    code = path / "code" / "version_model.py"
    code.write_text("import pyfunc_ops_test_missing_module\n" + code.read_text())
    with pytest.raises(WorkerError, match="could not load the model") as info:
        load_model(path, env_manager="virtualenv")
    assert "No module named 'pyfunc_ops_test_missing_module'" in (info.value.remote_traceback or "")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is dead too
        return fh.read().split(")")[-1].split()[0] != "Z"


def test_worker_exits_with_its_parent(six_model: Path) -> None:
    """The parent is killed (no cleanup runs); its worker must go away on its own."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from pyfunc_ops.pyfunc import load_model
        model = load_model({str(six_model)!r}, env_manager="virtualenv")
        print(model.get_raw_model().worker.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    worker_pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 15
    while _alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker_pid)


def test_worker_stops_when_its_models_are_gone(six_model: Path, tmp_path: Path) -> None:
    import gc

    copy = shutil.copytree(six_model, tmp_path / "copy")  # a worker of its own
    model = load_model(copy, env_manager="virtualenv")
    pid = model.get_raw_model().worker.pid
    assert pid is not None and _alive(pid)
    del model
    gc.collect()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def test_tensor_dict_input_and_datetime_params_reach_the_worker_as_locally(
    tmp_path: Path,
) -> None:
    """Same requirements as six_model (its environment is reused); a tensor signature, so
    the model gets a dict of ndarrays, and params of types JSON does not have."""
    ours = importlib.metadata.version("pyfunc-ops")
    signature = ModelSignature(
        inputs=Schema([TensorSpec("float32", (-1, 2), "a"), TensorSpec("int64", (-1,), "b")]),
        params=ParamSchema(
            [
                ParamSpec("when", "datetime", datetime.datetime(2024, 1, 1)),
                ParamSpec("days", "datetime", [datetime.datetime(2024, 1, 2)], (-1,)),
                ParamSpec("ids", "long", [1], (-1,)),
            ]
        ),
    )
    path = save_echo_model(
        tmp_path / "echo", [f"pyfunc-ops=={ours}", f"six=={PINNED_SIX}"], signature
    )
    data = {"a": np.arange(6, dtype="float32").reshape(3, 2), "b": np.array([7, 8, 9])}
    params = {"when": "2024-05-06T07:08:09", "days": ["2024-02-03"], "ids": [4, 5]}
    local = load_model(path, env_manager="local").predict(data, params=params)
    remote = load_model(path, env_manager="virtualenv").predict(data, params=params)
    assert remote["pid"] != os.getpid() and local["pid"] == os.getpid()
    assert remote["seen"] == local["seen"]
    assert remote["seen"][0] == {
        "a": ["ndarray", "<f4", [3, 2], True],
        "b": ["ndarray", "<i8", [3], True],
    }
    assert remote["seen"][1] == {"when": "datetime", "days": ["date"], "ids": ["int", "int"]}
    assert remote["params"] == local["params"]
    assert remote["params"]["when"] == datetime.datetime(2024, 5, 6, 7, 8, 9)
    assert remote["data"].keys() == local["data"].keys()
    for name in data:
        np.testing.assert_array_equal(remote["data"][name], local["data"][name])
        assert remote["data"][name].dtype == local["data"][name].dtype
