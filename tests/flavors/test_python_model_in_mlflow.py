"""A custom ``PythonModel`` we save is an MLflow model: stock MLflow unpickles it with its own
base class (pyfunc_ops unimportable there), and we load it through the class mapping."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import pandas as pd
import pytest
from flavor_harness import mlflow_env

from pyfunc_ops import pyfunc

SCRIPT = """
import sys
sys.modules["pyfunc_ops"] = None  # stock MLflow only
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
print(model.metadata.flavors["python_function"]["loader_module"])
print(type(model.unwrap_python_model()).__mro__[1].__module__)
print(model.predict(pd.DataFrame({"a": [1.0, 2.5]})).to_json(orient="split"))
"""


@pytest.mark.mlflow
def test_a_python_model_we_pickle_loads_in_stock_mlflow(
    tmp_path: Path, mlflow_venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tripler_model.py").write_text(
        textwrap.dedent(
            """
            from pyfunc_ops.pyfunc import PythonModel

            class Tripler(PythonModel):
                def predict(self, context, model_input, params=None):
                    return model_input * 3
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("tripler_model")
    # Pickled by value, as a class defined in __main__ or a notebook is.
    cloudpickle.register_pickle_by_value(module)
    try:
        pyfunc.save_model(tmp_path / "m", python_model=module.Tripler())
    finally:
        cloudpickle.unregister_pickle_by_value(module)
    raw = (tmp_path / "m" / "python_model.pkl").read_bytes()
    assert b"pyfunc_ops" not in raw and b"mlflow.pyfunc.model" in raw
    assert "pyfunc" not in (tmp_path / "m" / "requirements.txt").read_text()

    sys.modules.pop("tripler_model", None)  # ours loads it from the pickle alone too
    data = pd.DataFrame({"a": [1.0, 2.5]})
    ours = pyfunc.load_model(tmp_path / "m").predict(data)
    pd.testing.assert_frame_equal(ours, data * 3)

    proc = subprocess.run(
        [str(mlflow_venv / "bin" / "python"), "-c", SCRIPT, str(tmp_path / "m")],
        capture_output=True,
        text=True,
        env=mlflow_env(tmp_path),
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    loader, base_module, predicted = proc.stdout.strip().splitlines()[-3:]
    assert loader == "mlflow.pyfunc.model"
    assert base_module == "mlflow.pyfunc.model"  # MLflow's own PythonModel
    assert json.loads(predicted) == json.loads(ours.to_json(orient="split"))
