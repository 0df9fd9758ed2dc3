"""The conformance suite every flavor runs, one parametrized test per property and case.

Cases come from ``flavor_cases/case_<flavor>.py``. Each property is what a user of the
format relies on: our save then load predicts what the framework predicts; the native object
round-trips; a model MLflow wrote loads here and predicts exactly what MLflow predicts;
a model we wrote loads in stock MLflow (no pyfunc_ops) and predicts the same; an untrusted
source loads a code-free format and refuses a pickle; ``spark_udf`` and
``env_manager="virtualenv"`` score it; ``mlflow models predict --env-manager uv`` restores
our environment files and scores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flavor_cases import Case, all_cases
from flavor_harness import SideResults, assert_same, mlflow_env, save_ours

from pyfunc_ops import pyfunc
from pyfunc_ops.errors import SerializationError, UntrustedModelError
from pyfunc_ops.models.flavors import FLAVORS, import_flavor

CASES = all_cases()


def _params(cases: list[Case]) -> list[Any]:
    marks = {True: [pytest.mark.torch]}
    return [pytest.param(c, id=c.id, marks=marks.get(c.heavy, [])) for c in cases]


ALL = _params(CASES)
# One case per flavor for the expensive environment-restoring tests.
FIRST_OF_EACH = _params(list({c.flavor: c for c in reversed(CASES)}.values())[::-1])


def need(case: Case) -> None:
    if not case.available():
        pytest.skip(f"{case.id} needs {case.requires}, not installed in this venv")


@pytest.mark.parametrize("case", ALL)
def test_save_load_predict_matches_the_framework(case: Case, tmp_path: Path) -> None:
    need(case)
    native = save_ours(case, tmp_path / "m")
    data = case.model_input()
    assert_same(pyfunc.load_model(tmp_path / "m").predict(data), case.native_predict(native, data))


@pytest.mark.parametrize("case", ALL)
def test_the_native_object_round_trips(case: Case, tmp_path: Path) -> None:
    need(case)
    native = save_ours(case, tmp_path / "m")
    loaded = import_flavor(FLAVORS[case.flavor]).load_model(tmp_path / "m")
    data = case.model_input()
    assert_same(case.native_predict(loaded, data), case.native_predict(native, data))


# The first test of a session runs MLflow's side for every case (minutes on CI).
@pytest.mark.timeout(1800)
@pytest.mark.mlflow
@pytest.mark.parametrize("case", ALL)
def test_an_mlflow_written_model_loads_and_predicts_as_mlflow(
    case: Case, mlflow_written: SideResults
) -> None:
    need(case)
    expected = mlflow_written.get(case.id, "expected")
    path = mlflow_written.root / case.id
    data = case.model_input()
    assert_same(pyfunc.load_model(path).predict(data), expected)
    native = import_flavor(FLAVORS[case.flavor]).load_model(path)
    assert native is not None
    # The native object against one built afresh here (Spark fits on another partitioning
    # than MLflow's side did): the same model up to the last bits. The exact check is the
    # prediction above, against MLflow's own on the same files.
    fresh = case.native_predict(case.build(), data)
    assert_same(case.native_predict(native, data), fresh, rtol=1e-9)


# The first test of a session runs MLflow's side for every case (minutes on CI).
@pytest.mark.timeout(1800)
@pytest.mark.mlflow
@pytest.mark.parametrize("case", ALL)
def test_ours_loads_in_stock_mlflow(
    case: Case, ours_in_mlflow: SideResults, tmp_path: Path
) -> None:
    need(case)
    native = save_ours(case, tmp_path / "m")
    data = case.model_input()
    ours = pyfunc.load_model(tmp_path / "m").predict(data)
    assert_same(ours_in_mlflow.get(case.id, "pyfunc"), ours)
    assert_same(ours_in_mlflow.get(case.id, "native"), case.native_predict(native, data))


@pytest.mark.parametrize("case", ALL)
def test_an_untrusted_source(case: Case, tmp_path: Path, s3_bucket: str) -> None:
    from pyfunc_ops.storage.transfer import upload_tree

    need(case)
    save_ours(case, tmp_path / "m")
    url = f"{s3_bucket}/{case.id}"
    upload_tree(tmp_path / "m", url)
    data = case.model_input()
    local = pyfunc.load_model(tmp_path / "m").predict(data)
    if case.runs_code:
        with pytest.raises(UntrustedModelError, match="unpickling runs code"):
            pyfunc.load_model(url)
        with pytest.raises(UntrustedModelError, match="untrusted"):
            import_flavor(FLAVORS[case.flavor]).load_model(url)
        assert_same(pyfunc.load_model(url, trust_remote_code=True).predict(data), local)
    elif case.caller_types:
        # The types the model records count only from a trusted source: here the caller's.
        with pytest.raises(SerializationError, match="untrusted model file cannot widen"):
            pyfunc.load_model(url)
        loaded = pyfunc.load_model(url, skops_trusted_types=list(case.caller_types))
        assert_same(loaded.predict(data), local)
    else:
        assert_same(pyfunc.load_model(url).predict(data), local)
        assert import_flavor(FLAVORS[case.flavor]).load_model(url) is not None


def _rtol(prediction: Any, default: float) -> float:
    """A float32 model (torch, keras) may round a last bit differently in another batch size,
    process or environment (another torch build): compare it at float32's precision."""
    if isinstance(prediction, pd.DataFrame):
        dtypes = list(prediction.dtypes)
    else:
        dtypes = [np.asarray(prediction).dtype]
    return 1e-5 if any(d == np.float32 for d in dtypes) else default


def _as_rows(value: Any) -> np.ndarray:
    if isinstance(value, (pd.DataFrame, pd.Series)):
        value = value.to_numpy()
    return np.asarray(value, dtype=np.float64).reshape(len(value), -1)


@pytest.mark.spark
@pytest.mark.parametrize("case", ALL)
def test_spark_udf_scores_it(case: Case, tmp_path: Path, spark: Any) -> None:
    need(case)
    if not isinstance(case.model_input(), pd.DataFrame) or case.udf_result_type is None:
        pytest.skip(f"{case.id} takes no tabular input")
    if case.udf_result_type == "string":
        save_ours(case, tmp_path / "m")
        data = case.model_input()
        udf = pyfunc.spark_udf(spark, str(tmp_path / "m"), result_type="string")
        scored = spark.createDataFrame(data).withColumn("p", udf(*data.columns)).toPandas()
        expected = pyfunc.load_model(tmp_path / "m").predict(data)
        assert scored["p"].tolist() == [str(v) for v in np.asarray(expected).ravel()]
        return
    save_ours(case, tmp_path / "m")
    data = case.model_input()
    udf = pyfunc.spark_udf(spark, str(tmp_path / "m"), result_type=case.udf_result_type)
    scored = spark.createDataFrame(data).withColumn("p", udf(*data.columns)).toPandas()
    raw = pyfunc.load_model(tmp_path / "m").predict(data)
    expected = _as_rows(raw)
    got = np.asarray([np.asarray(v, dtype=np.float64).ravel() for v in scored["p"]])
    np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=_rtol(raw, 1e-6))


@pytest.mark.slow
@pytest.mark.parametrize("case", FIRST_OF_EACH)
def test_env_manager_virtualenv_restores_and_scores_it(case: Case, tmp_path: Path) -> None:
    need(case)
    save_ours(case, tmp_path / "m")
    data = case.model_input()
    local = pyfunc.load_model(tmp_path / "m").predict(data)
    remote = pyfunc.load_model(tmp_path / "m", env_manager="virtualenv")
    assert_same(remote.predict(data), local, rtol=_rtol(local, 1e-12))  # another env's BLAS


@pytest.mark.slow
@pytest.mark.mlflow
@pytest.mark.parametrize("case", FIRST_OF_EACH)
def test_mlflow_models_predict_restores_our_environment(
    case: Case, tmp_path: Path, mlflow_venv: Path
) -> None:
    """Stock MLflow's CLI with its recommended manager, uv: it builds the environment from
    our requirements.txt and python_env.yaml alone (no pyfunc_ops there) and scores."""
    need(case)
    if not isinstance(case.model_input(), pd.DataFrame):
        pytest.skip(f"{case.id} takes no tabular input")
    if shutil.which("uv") is None:
        pytest.fail("uv is not on PATH; scripts/test.sh installs it")
    save_ours(case, tmp_path / "m")
    assert "pyfunc" not in (tmp_path / "m" / "requirements.txt").read_text()
    data = case.model_input()
    (tmp_path / "in.json").write_text(
        json.dumps({"dataframe_split": json.loads(data.to_json(orient="split", index=False))})
    )
    env = mlflow_env(tmp_path)
    # The registry we install from lacks mlflow-tracing 3.18.0 (scripts/mlflow_venv.sh says
    # why); the restored environment installs mlflow 3.18 under the same override.
    env["UV_OVERRIDE"] = str(mlflow_venv / "uv-override.txt")
    env["PATH"] = f"{mlflow_venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        [
            str(mlflow_venv / "bin" / "mlflow"),
            "models",
            "predict",
            "-m",
            str(tmp_path / "m"),
            "-i",
            str(tmp_path / "in.json"),
            "-t",
            "json",
            "-o",
            str(tmp_path / "out.json"),
            "--env-manager",
            "uv",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    got = json.loads((tmp_path / "out.json").read_text())["predictions"]
    raw = pyfunc.load_model(tmp_path / "m").predict(data)
    expected = _as_rows(raw)
    rows = got if not isinstance(got, dict) else pd.DataFrame(got).to_numpy()
    rows = [list(r.values()) if isinstance(r, dict) else r for r in rows]
    np.testing.assert_allclose(
        np.asarray(rows, dtype=np.float64).reshape(expected.shape), expected, rtol=_rtol(raw, 1e-7)
    )
