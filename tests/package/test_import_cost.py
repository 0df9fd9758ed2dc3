"""Importing the format and load path stays cheap; pandas arrives only with a model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

HEAVY = ("pandas", "pyspark", "airflow", "sqlalchemy")


def run(code: str, cwd: Path, env: dict[str, str] | None = None) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_pyfunc_api_loads_no_heavy_package(tmp_path: Path) -> None:
    found = run(
        f"""
        import json, sys
        import pyfunc_ops, pyfunc_ops.pyfunc, pyfunc_ops.models, pyfunc_ops.sklearn
        from pyfunc_ops.pyfunc import load_model, save_model, PythonModel
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
        """,
        tmp_path,
    )
    assert found == []


def test_pandas_is_imported_by_load_and_predict(tmp_path: Path) -> None:
    (tmp_path / "cheap_loader.py").write_text(
        "class M:\n"
        "    def predict(self, model_input):\n"
        "        import pandas\n"
        "        return pandas.DataFrame(model_input)['x'] + 1\n"
        "def _load_pyfunc(path):\n"
        "    return M()\n"
    )
    model = tmp_path / "model"
    from pyfunc_ops.pyfunc import save_model

    save_model(model, loader_module="cheap_loader", code_path=[tmp_path / "cheap_loader.py"])
    out = run(
        f"""
        import json, sys
        from pyfunc_ops.pyfunc import load_model
        before = "pandas" in sys.modules
        model = load_model({str(model)!r})
        prediction = model.predict({{"x": [1, 2]}}).tolist()
        print(json.dumps({{"before": before, "after": "pandas" in sys.modules,
                           "prediction": prediction,
                           "others": [m for m in ("pyspark", "airflow", "sqlalchemy")
                                      if m in sys.modules]}}))
        """,
        tmp_path,
    )
    assert out == {"before": False, "after": True, "prediction": [2, 3], "others": []}


def test_parsing_a_dag_with_the_operators_loads_no_data_library(tmp_path: Path) -> None:
    """What every DAG file parse pays: importing the operators (and the hooks and sensors)
    brings Airflow, never pandas, pyarrow, scikit-learn, skops, pyspark or OpenLineage."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow")}
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    heavy = ("pandas", "pyarrow", "sklearn", "skops", "pyspark", "openlineage")
    found = run(
        f"""
        import json, sys
        import pyfunc_ops.airflow.operators
        import pyfunc_ops.airflow.hooks
        print(json.dumps([m for m in {heavy!r} if m in sys.modules]))
        """,
        tmp_path,
        env,
    )
    assert found == []


_SKOPS_UNDER_AIRFLOW = """
import json, sys, warnings
import airflow.sdk, airflow.models  # loads Airflow's deprecated-import shims
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    {importer}
names = [type(w.message).__name__ for w in caught]
print(json.dumps({{"deprecated_imports": names.count("DeprecatedImportWarning")}}))
"""


def test_skops_is_imported_without_airflows_deprecation_flood(tmp_path: Path) -> None:
    """skops probes every loaded module when imported; under Airflow each deprecated-import
    shim warns. Our import silences exactly those; a bare import shows the flood."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow")}
    ours = "from pyfunc_ops.sklearn import import_skops_io; import_skops_io()"
    quiet = run(_SKOPS_UNDER_AIRFLOW.format(importer=ours), tmp_path, env)
    assert quiet == {"deprecated_imports": 0}
    bare = run(_SKOPS_UNDER_AIRFLOW.format(importer="import skops.io"), tmp_path, env)
    assert bare["deprecated_imports"] > 100
