"""The Keras 3 flavor beyond the conformance suite: what the MLmodel records, safe mode (a
Lambda layer needs it off, which needs trust from an untrusted place), the backend choice,
save refusals, damaged files, a TensorFlow SavedModel, a missing keras.

Tests needing keras (and torch, its backend here) are marked ``torch`` (scripts/test.sh runs
them in its torch venv); the missing-framework test runs everywhere.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from flavor_cases import frame
from flavor_cases.case_keras import _model, _predict

from pyfunc_ops import keras as pyfunc_keras
from pyfunc_ops import pyfunc
from pyfunc_ops.errors import (
    InvalidParameterError,
    LoaderError,
    SerializationError,
    UntrustedModelError,
)

_HAVE_KERAS = all(importlib.util.find_spec(n) is not None for n in ("keras", "torch"))


def _keras_test(fn: Any) -> Any:
    fn = pytest.mark.skipif(not _HAVE_KERAS, reason="needs keras and torch")(fn)
    return pytest.mark.torch(fn)


def _mlmodel(path: Path) -> dict[str, Any]:
    return yaml.safe_load((path / "MLmodel").read_text())


def _write_mlmodel(path: Path, data: dict[str, Any]) -> None:
    (path / "MLmodel").write_text(yaml.safe_dump(data))


def _lambda_model() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    doubled = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(doubled))


def test_a_missing_keras_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "m" / "data").mkdir(parents=True)
    (tmp_path / "m" / "data" / "model.keras").write_bytes(b"PK")
    _write_mlmodel(
        tmp_path / "m",
        {
            "flavors": {
                "python_function": {"loader_module": "mlflow.keras", "python_version": "3.11"},
                "keras": {"data": "data", "keras_version": "3.15.1", "keras_backend": "torch"},
            }
        },
    )
    monkeypatch.setitem(sys.modules, "keras", None)
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    with pytest.raises(LoaderError, match="pip install keras") as info:
        pyfunc_keras.load_model(tmp_path / "m")
    assert "mlflow" not in str(info.value)
    with pytest.raises(LoaderError, match="pip install keras"):
        pyfunc.load_model(tmp_path / "m")


def test_code_reason_is_none() -> None:
    assert pyfunc_keras.code_reason({"keras": {"data": "data"}}) is None


@_keras_test
def test_the_mlmodel_has_mlflows_keys_and_requirements(tmp_path: Path) -> None:
    import keras

    pyfunc_keras.save_model(_model(), tmp_path / "m", metadata={"team": "vision"})
    data = _mlmodel(tmp_path / "m")
    assert data["flavors"]["keras"] == {
        "data": "data",
        "keras_version": keras.__version__,
        "keras_backend": "torch",
        "save_exported_model": False,
    }
    conf = data["flavors"]["python_function"]
    assert conf["loader_module"] == "mlflow.keras"
    assert "data" not in conf
    assert data["metadata"] == {"team": "vision"}
    assert (tmp_path / "m" / "data" / "keras_module.txt").read_text() == "keras"
    assert (tmp_path / "m" / "data" / "model.keras").is_file()
    reqs = (tmp_path / "m" / "requirements.txt").read_text().split()
    assert f"keras=={keras.__version__}" in reqs
    assert any(r.startswith("torch==") for r in reqs)
    assert not any(r.startswith("pyfunc") for r in reqs)


@_keras_test
def test_save_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    from pyfunc_ops.models.signature import ModelSignature
    from pyfunc_ops.models.types import Schema, TensorSpec

    with pytest.raises(InvalidParameterError, match="needs TensorFlow"):
        pyfunc_keras.save_model(_model(), tmp_path / "a", save_exported_model=True)
    with pytest.raises(InvalidParameterError, match=r"takes a keras\.Model"):
        pyfunc_keras.save_model(object(), tmp_path / "b")
    fixed = ModelSignature(inputs=Schema([TensorSpec("float32", (8, 4))]))
    with pytest.raises(InvalidParameterError, match="first dimension must be -1"):
        pyfunc_keras.save_model(_model(), tmp_path / "c", signature=fixed)
    assert not any((tmp_path / n).exists() for n in "abc")


@_keras_test
def test_an_array_input_gives_an_array_and_a_frame_keeps_its_index(tmp_path: Path) -> None:
    native = _model()
    pyfunc_keras.save_model(native, tmp_path / "m")
    model = pyfunc.load_model(tmp_path / "m")
    values = frame().to_numpy(dtype=np.float32)
    out = model.predict(values)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, native.predict(values, verbose=0))
    indexed = frame().set_axis(range(50, 74))
    scored = model.predict(indexed)
    pd.testing.assert_frame_equal(scored, _predict(native, indexed))
    with pytest.raises(InvalidParameterError, match="takes a DataFrame, ndarray"):
        model.get_raw_model().predict("text")


@_keras_test
def test_a_lambda_layer_needs_safe_mode_off_and_that_needs_trust(
    tmp_path: Path, s3_bucket: str
) -> None:
    from pyfunc_ops.storage.transfer import upload_tree

    native = _lambda_model()
    pyfunc_keras.save_model(native, tmp_path / "m")
    with pytest.raises(SerializationError, match="safe mode refuses"):
        pyfunc_keras.load_model(tmp_path / "m")
    with pytest.raises(SerializationError, match="safe mode refuses"):
        pyfunc.load_model(tmp_path / "m")
    # A local folder is trusted: the caller may turn safe mode off.
    loaded = pyfunc_keras.load_model(tmp_path / "m", load_model_kwargs={"safe_mode": False})
    values = frame().to_numpy(dtype=np.float32)
    np.testing.assert_array_equal(
        loaded.predict(values, verbose=0), native.predict(values, verbose=0)
    )
    url = f"{s3_bucket}/m"
    upload_tree(tmp_path / "m", url)
    with pytest.raises(UntrustedModelError, match="safe_mode=False"):
        pyfunc_keras.load_model(url, load_model_kwargs={"safe_mode": False})
    trusted = pyfunc_keras.load_model(
        url, load_model_kwargs={"safe_mode": False}, trust_remote_code=True
    )
    assert trusted is not None


@_keras_test
def test_a_damaged_model_file_names_the_file(tmp_path: Path) -> None:
    pyfunc_keras.save_model(_model(), tmp_path / "m")
    (tmp_path / "m" / "data" / "model.keras").write_bytes(b"not a keras zip")
    with pytest.raises(SerializationError, match=r"model\.keras"):
        pyfunc_keras.load_model(tmp_path / "m")
    with pytest.raises(SerializationError, match=r"model\.keras"):
        pyfunc.load_model(tmp_path / "m")


@_keras_test
def test_a_tensorflow_saved_model_says_it_needs_tensorflow(tmp_path: Path) -> None:
    pyfunc_keras.save_model(_model(), tmp_path / "m")
    data = _mlmodel(tmp_path / "m")
    data["flavors"]["keras"]["save_exported_model"] = True
    _write_mlmodel(tmp_path / "m", data)
    with pytest.raises(LoaderError, match="pip install tensorflow"):
        pyfunc_keras.load_model(tmp_path / "m")


@_keras_test
def test_a_data_path_outside_the_model_is_refused(tmp_path: Path) -> None:
    pyfunc_keras.save_model(_model(), tmp_path / "m")
    data = _mlmodel(tmp_path / "m")
    data["flavors"]["keras"]["data"] = "../../elsewhere"
    _write_mlmodel(tmp_path / "m", data)
    with pytest.raises(Exception, match="outside"):
        pyfunc_keras.load_model(tmp_path / "m")


@_keras_test
def test_read_native_reads_a_keras_file(tmp_path: Path) -> None:
    native = _model()
    native.save(tmp_path / "m.keras")
    values = frame().to_numpy(dtype=np.float32)
    np.testing.assert_array_equal(
        pyfunc_keras.read_native(tmp_path / "m.keras").predict(values, verbose=0),
        native.predict(values, verbose=0),
    )


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=300,
    )


@_keras_test
def test_the_torch_backend_is_chosen_when_none_is_configured() -> None:
    proc = _run("from pyfunc_ops.keras import _keras; print(_keras().backend.backend())")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "torch"


@_keras_test
def test_a_configured_backend_that_is_missing_is_named() -> None:
    if importlib.util.find_spec("jax") is not None:
        pytest.skip("jax is installed here")
    code = (
        "from pyfunc_ops.errors import LoaderError\n"
        "from pyfunc_ops.keras import _keras\n"
        "try:\n    _keras()\nexcept LoaderError as exc:\n    print(exc)\n"
    )
    proc = _run(code, KERAS_BACKEND="jax")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "KERAS_BACKEND" in proc.stdout and "pip install jax" in proc.stdout
    assert "mlflow" not in proc.stdout


@_keras_test
def test_log_model_registers_and_loads_back() -> None:
    native = _model()
    info = pyfunc_keras.log_model(native, "model", registered_model_name="keras-model")
    assert info.registered_model_version == 1
    for uri in (info.model_uri, "models:/keras-model/1"):
        pd.testing.assert_frame_equal(
            pyfunc.load_model(uri).predict(frame()), _predict(native, frame())
        )


@_keras_test
def test_a_missing_torch_backend_names_torch() -> None:
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "from pyfunc_ops.errors import LoaderError\n"
        "from pyfunc_ops.keras import _keras\n"
        "try:\n    _keras()\nexcept LoaderError as exc:\n    print(exc)\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "'torch' backend" in proc.stdout and "pip install torch" in proc.stdout
