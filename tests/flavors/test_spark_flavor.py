"""The Spark ML flavor beyond the conformance suite: MLflow's layout, the checks before
Spark reads a model (recorded classes, stage metadata, stage folders), bad files, a missing
pyspark, and ``score_spark`` scoring with the model's own ``transform``.

Every test runs on the session-wide ``local[2]`` SparkSession (``spark`` fixture): the
flavor reuses the active session, as MLflow's does.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from flavor_cases import frame
from flavor_cases.case_spark import _pipeline, _predict_pipeline, _regression

from pyfunc_ops import pyfunc
from pyfunc_ops import spark as pyfunc_spark
from pyfunc_ops.errors import (
    InvalidParameterError,
    LoaderError,
    ModelFormatError,
    SerializationError,
    UntrustedModelError,
)
from pyfunc_ops.jobs.spark import score_spark

pytestmark = [pytest.mark.spark]


@pytest.fixture(scope="module")
def pipeline(spark: Any) -> Any:
    return _pipeline()


@pytest.fixture(scope="module")
def saved(pipeline: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spark-flavor") / "model"
    pyfunc_spark.save_model(pipeline, path, input_example=frame().head(3), metadata={"team": "a"})
    return path


def _copy(saved: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(saved, target)
    return target


def _edit_mlmodel(path: Path, **spark_keys: Any) -> None:
    mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    mlmodel["flavors"]["spark"].update(spark_keys)
    (path / "MLmodel").write_text(yaml.safe_dump(mlmodel))


def _metadata_file(folder: Path) -> Path:
    return next(p for p in (folder / "metadata").iterdir() if p.name.startswith("part-"))


def _stage(path: Path, index: int) -> Path:
    return next(
        p for p in (path / "sparkml" / "stages").iterdir() if p.name.startswith(f"{index}_")
    )


# -- the layout --------------------------------------------------------------------------


def test_the_layout_is_mlflows(saved: Path) -> None:
    import pyspark

    mlmodel = yaml.safe_load((saved / "MLmodel").read_text())
    assert mlmodel["flavors"]["spark"] == {
        "pyspark_version": pyspark.__version__,
        "model_data": "sparkml",
        "model_class": "pyspark.ml.pipeline.PipelineModel",
        "code": None,
    }
    pyfunc_conf = mlmodel["flavors"]["python_function"]
    assert (pyfunc_conf["loader_module"], pyfunc_conf["data"]) == ("mlflow.spark", "sparkml")
    assert mlmodel["metadata"] == {"team": "a"}
    # The signature comes from the example and the model's own predictions, as MLflow's.
    signature = mlmodel["signature"]
    assert [c["name"] for c in json.loads(signature["inputs"])] == ["f0", "f1", "f2", "f3"]
    assert json.loads(signature["outputs"]) == [{"type": "double", "required": True}]
    requirements = (saved / "requirements.txt").read_text().split()
    assert f"pyspark=={pyspark.__version__}" in requirements
    assert not any("pyfunc" in r for r in requirements)
    assert (saved / "sparkml" / "metadata").is_dir() and (saved / "sparkml" / "stages").is_dir()


def test_pyfunc_predict_returns_the_prediction_column_as_a_list(
    saved: Path, pipeline: Any, spark: Any
) -> None:
    loaded = pyfunc.load_model(saved)
    assert loaded.get_raw_model().spark is spark  # the active session, not a new one
    got = loaded.predict(frame())
    assert type(got) is list and all(type(v) is float for v in got)
    assert got == _predict_pipeline(pipeline, frame())


def test_a_single_transformer_is_saved_as_a_one_stage_pipeline(spark: Any, tmp_path: Path) -> None:
    from pyspark.ml import PipelineModel

    model = _regression()
    pyfunc_spark.save_model(model, tmp_path / "m", signature=False)
    loaded = pyfunc_spark.load_model(tmp_path / "m")
    assert isinstance(loaded, PipelineModel) and len(loaded.stages) == 1
    assert type(loaded.stages[0]).__name__ == "LinearRegressionModel"
    assert "signature" not in yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    # An array<double> features column becomes the vector the stage reads (as MLflow).
    data = pd.DataFrame({"features": [list(r) for r in frame().to_numpy()]})
    assert len(pyfunc.load_model(tmp_path / "m").predict(data)) == len(data)


def test_a_last_stage_with_another_output_column_predicts_into_prediction(
    spark: Any, tmp_path: Path
) -> None:
    from pyspark.ml.feature import Binarizer

    binarizer = Binarizer(threshold=0.0, inputCol="f0", outputCol="positive")
    pyfunc_spark.save_model(binarizer, tmp_path / "m")
    got = pyfunc.load_model(tmp_path / "m").predict(frame())
    assert got == [float(v > 0.0) for v in frame()["f0"]]


def test_load_model_copies_into_dst_path(saved: Path, tmp_path: Path) -> None:
    loaded = pyfunc_spark.load_model(saved, dst_path=tmp_path)
    assert (tmp_path / saved.name / "MLmodel").is_file()
    assert len(loaded.stages) == 2
    with pytest.raises(InvalidParameterError, match="not an existing folder"):
        pyfunc_spark.load_model(saved, dst_path=tmp_path / "absent")


def test_code_reason_is_none() -> None:
    assert pyfunc_spark.code_reason({"spark": {"model_class": "x"}}) is None


def test_log_model_registers_and_loads_back(pipeline: Any) -> None:
    info = pyfunc_spark.log_model(pipeline, "model", registered_model_name="spark-model")
    assert info.registered_model_version == 1
    assert info.flavors["spark"]["model_class"] == "pyspark.ml.pipeline.PipelineModel"
    expected = _predict_pipeline(pipeline, frame())
    for uri in (info.model_uri, "models:/spark-model/1"):
        assert len(pyfunc_spark.load_model(uri).stages) == 2
        assert pyfunc.load_model(uri).predict(frame()) == expected


def test_package_model_picks_the_spark_flavor(pipeline: Any) -> None:
    from pyfunc_ops.jobs.packaging import package_model

    packaged = package_model(estimator=pipeline, registered_model_name="spark-packaged")
    model = pyfunc.load_model(packaged.model_uri)
    assert model.loader_module == "mlflow.spark"
    assert model.predict(frame()) == _predict_pipeline(pipeline, frame())


# -- what save refuses --------------------------------------------------------------------


def test_save_refuses_what_spark_ml_cannot_persist(spark: Any, tmp_path: Path) -> None:
    from pyspark.ml.regression import LinearRegression

    with pytest.raises(InvalidParameterError, match=r"fitted pyspark\.ml Transformer"):
        pyfunc_spark.save_model(object(), tmp_path / "a")
    with pytest.raises(InvalidParameterError, match=r"fitted pyspark\.ml Transformer"):
        pyfunc_spark.save_model(LinearRegression(), tmp_path / "b")  # an Estimator, unfitted
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# -- the recorded class and the stage metadata --------------------------------------------


@pytest.mark.parametrize(
    ("model_class", "message"),
    [
        ("os.system", "not a class of pyspark.ml"),
        ("pyspark.sql.DataFrame", "not a class of pyspark.ml"),
        ("builtins.eval", "not a class of pyspark.ml"),
        ("pyspark.ml.regression.LinearRegression", "not a subclass of"),
        ("pyspark.ml.connect.Model", "Spark Connect ML"),
        ("not a class", "dotted class name"),
    ],
)
def test_a_recorded_model_class_outside_spark_ml_is_refused(
    saved: Path, tmp_path: Path, model_class: str, message: str
) -> None:
    path = _copy(saved, tmp_path)
    _edit_mlmodel(path, model_class=model_class)
    with pytest.raises(ModelFormatError, match=message):
        pyfunc_spark.load_model(path, trust_remote_code=True)
    with pytest.raises(ModelFormatError, match=message):
        pyfunc.load_model(path)


def test_a_model_without_model_class_loads(saved: Path, tmp_path: Path) -> None:
    path = _copy(saved, tmp_path)
    mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    del mlmodel["flavors"]["spark"]["model_class"]
    (path / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    assert len(pyfunc.load_model(path).predict(frame())) == len(frame())


@pytest.mark.parametrize(
    "stage_class",
    [
        "evil_module.Stage",
        "pyspark.ml.linalg.np",  # a module attribute, not a stage class
        "org.apache.spark.sql.Dataset",
        "pyspark.ml.connect.feature.MaxAbsScalerModel",
    ],
)
def test_a_stage_class_outside_spark_ml_needs_trust(
    saved: Path, tmp_path: Path, s3_bucket: str, stage_class: str
) -> None:
    from pyfunc_ops.storage.transfer import upload_tree

    path = _copy(saved, tmp_path)
    meta = _metadata_file(_stage(path, 0))
    record = json.loads(meta.read_text())
    record["class"] = stage_class
    meta.write_text(json.dumps(record) + "\n")
    url = f"{s3_bucket}/evil"
    upload_tree(path, url)
    shown = re.escape(repr(stage_class))
    with pytest.raises(UntrustedModelError, match=f"{shown}, outside Spark ML"):
        pyfunc.load_model(url)
    with pytest.raises(UntrustedModelError, match="outside Spark ML"):
        pyfunc_spark.load_model(url)
    # Trusted (a local path), Spark imports it, which fails here: a clear error.
    with pytest.raises(SerializationError, match="Spark ML could not read"):
        pyfunc_spark.load_model(path)


def test_stage_folders_leaving_the_model_are_refused_whatever_the_trust(
    saved: Path, tmp_path: Path
) -> None:
    path = _copy(saved, tmp_path)
    meta = _metadata_file(path / "sparkml")
    record = json.loads(meta.read_text())
    record["paramMap"]["stageUids"][0] = "/../../../../etc"
    meta.write_text(json.dumps(record) + "\n")
    with pytest.raises(ModelFormatError, match="stageUids must be plain stage names"):
        pyfunc_spark.load_model(path, trust_remote_code=True)


def test_unreadable_metadata_is_a_serialization_error_naming_the_file(
    saved: Path, tmp_path: Path
) -> None:
    path = _copy(saved, tmp_path)
    meta = _metadata_file(_stage(path, 1))
    meta.write_text("not json\n")
    with pytest.raises(SerializationError, match=f"{meta.name}: not readable Spark ML metadata"):
        pyfunc_spark.load_model(path)
    meta.write_text('{"uid": "x"}\n')
    with pytest.raises(SerializationError, match="naming their 'class'"):
        pyfunc.load_model(path)


def test_corrupt_model_data_is_a_serialization_error(saved: Path, tmp_path: Path) -> None:
    path = _copy(saved, tmp_path)
    for part in (_stage(path, 1) / "data").glob("part-*"):
        part.write_bytes(b"not parquet")
    for crc in (_stage(path, 1) / "data").glob(".*.crc"):
        crc.unlink()  # else Hadoop's checksum error, not Spark's reader, reports it
    with pytest.raises(SerializationError, match="Spark ML could not read the PipelineModel"):
        pyfunc_spark.load_model(path)


def test_missing_sparkml_folder_or_metadata(saved: Path, tmp_path: Path) -> None:
    path = _copy(saved, tmp_path)
    shutil.rmtree(path / "sparkml" / "metadata")
    with pytest.raises(SerializationError, match="not a Spark ML model folder"):
        pyfunc_spark.load_model(path)
    shutil.rmtree(path / "sparkml")
    with pytest.raises(ModelFormatError, match=r"spark\.model_data names 'sparkml'"):
        pyfunc_spark.load_model(path)


def test_the_model_data_path_stays_inside_the_model(saved: Path, tmp_path: Path) -> None:
    path = _copy(saved, tmp_path)
    _edit_mlmodel(path, model_data="../../outside")
    with pytest.raises(ModelFormatError, match="model_data"):
        pyfunc_spark.load_model(path)


def test_a_model_without_the_spark_flavor(saved: Path, tmp_path: Path) -> None:
    path = _copy(saved, tmp_path)
    mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    del mlmodel["flavors"]["spark"]
    (path / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(InvalidParameterError, match="has no 'spark' flavor"):
        pyfunc_spark.load_model(path)
    with pytest.raises(ModelFormatError, match="no 'spark' flavor section"):
        pyfunc.load_model(path)


def test_a_missing_pyspark_names_the_package(
    saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("pyspark", "pyspark.sql", "pyspark.ml", "pyspark.ml.util"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(LoaderError, match="pip install pyspark") as info:
        pyfunc_spark.load_model(saved)
    assert "mlflow" not in str(info.value)
    with pytest.raises(LoaderError, match="pip install pyspark"):
        pyfunc_spark.save_model(object(), tmp_path / "m")


# -- score_spark: the model's own transform, on the cluster --------------------------------


@pytest.fixture
def no_udf(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Spark ML model never goes through spark_udf (a Python UDF)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("spark_udf was called for a Spark ML model")

    monkeypatch.setattr("pyfunc_ops.pyfunc.spark.spark_udf", refuse)


def _scoring_input(spark: Any, view: str) -> pd.DataFrame:
    data = frame(40)
    data.insert(0, "id", np.arange(40))
    spark.createDataFrame(data).createOrReplaceTempView(view)
    return data


def test_score_spark_uses_transform(spark: Any, saved: Path, pipeline: Any, no_udf: None) -> None:
    data = _scoring_input(spark, "spark_ml_in")
    result = score_spark(spark, str(saved), input_table="spark_ml_in", output_table="spark_ml_out")
    assert (result.rows_in, result.rows_out) == (40, 40)
    out = spark.table("spark_ml_out").toPandas().sort_values("id").reset_index(drop=True)
    # Every input column kept, then the prediction: what the UDF path writes.
    assert list(out.columns) == ["id", "f0", "f1", "f2", "f3", "prediction"]
    assert out["prediction"].tolist() == _predict_pipeline(pipeline, data.drop(columns="id"))


def test_score_spark_renamed_columns_and_prediction_column(
    spark: Any, saved: Path, pipeline: Any, no_udf: None, tmp_path: Path
) -> None:
    data = _scoring_input(spark, "unused")
    renamed = data.rename(columns={f"f{i}": f"x{i}" for i in range(4)})
    renamed["f0"] = -1.0  # a kept column named like a model input is never replaced
    source = tmp_path / "in.parquet"
    renamed.to_parquet(source)
    result = score_spark(
        spark,
        str(saved),
        input_path=str(source),
        output_path=str(tmp_path / "out"),
        columns=[f"x{i}" for i in range(4)],
        prediction_column="score",
        keep_columns=["id", "f0"],
        result_type="float",
    )
    assert result.rows_out == 40
    out = pd.read_parquet(tmp_path / "out").sort_values("id").reset_index(drop=True)
    assert list(out.columns) == ["id", "f0", "score"]
    assert (out["f0"] == -1.0).all() and out["score"].dtype == np.float32
    expected = _predict_pipeline(pipeline, data.drop(columns="id"))
    np.testing.assert_allclose(out["score"].to_numpy(), expected, rtol=1e-6)


def test_score_spark_from_an_untrusted_source(
    spark: Any, saved: Path, no_udf: None, s3_bucket: str
) -> None:
    from pyfunc_ops.storage.transfer import upload_tree

    url = f"{s3_bucket}/spark-model"
    upload_tree(saved, url)
    _scoring_input(spark, "spark_ml_remote_in")
    result = score_spark(
        spark, url, input_table="spark_ml_remote_in", output_table="spark_ml_remote_out"
    )
    assert result.rows_out == 40


def test_score_spark_vector_predictions_as_arrays(spark: Any, tmp_path: Path, no_udf: None) -> None:
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler

    data = frame()
    data["label"] = (data["f0"] > 0).astype(float)
    assembler = VectorAssembler(inputCols=[f"f{i}" for i in range(4)], outputCol="features")
    classifier = LogisticRegression(maxIter=5).setPredictionCol("").setProbabilityCol("prediction")
    model = Pipeline(stages=[assembler, classifier]).fit(spark.createDataFrame(data))
    pyfunc_spark.save_model(model, tmp_path / "m")
    _scoring_input(spark, "spark_ml_proba_in")
    score_spark(
        spark,
        str(tmp_path / "m"),
        input_table="spark_ml_proba_in",
        output_table="spark_ml_proba_out",
        keep_columns=["id"],
        result_type="array<double>",
    )
    out = spark.table("spark_ml_proba_out").toPandas()
    assert all(len(p) == 2 and abs(sum(p) - 1) < 1e-9 for p in out["prediction"])
    with pytest.raises(InvalidParameterError, match="cannot be cast to result_type"):
        score_spark(
            spark,
            str(tmp_path / "m"),
            input_table="spark_ml_proba_in",
            output_table="spark_ml_proba_bad",
            result_type="struct<a:double>",
        )


def test_score_spark_errors(spark: Any, saved: Path, tmp_path: Path, no_udf: None) -> None:
    _scoring_input(spark, "spark_ml_err_in")
    with pytest.raises(InvalidParameterError, match="are 2, but the model's signature names 4"):
        score_spark(
            spark,
            str(saved),
            input_table="spark_ml_err_in",
            output_table="x",
            columns=["f0", "f1"],
        )
    with pytest.raises(InvalidParameterError, match=r"the input has no column \['nope'"):
        score_spark(
            spark,
            str(saved),
            input_table="spark_ml_err_in",
            output_table="x",
            columns=["f0", "f1", "f2", "nope"],
        )
    # Without a signature the model sees every column: one named 'prediction' collides.
    pyfunc_spark.save_model(_pipeline(), tmp_path / "nosig")
    data = frame()
    data["prediction"] = 0.0
    spark.createDataFrame(data).createOrReplaceTempView("spark_ml_collide")
    with pytest.raises(InvalidParameterError, match="the column the Spark ML model adds"):
        score_spark(
            spark,
            str(tmp_path / "nosig"),
            input_table="spark_ml_collide",
            output_table="x",
            prediction_column="score",
        )


# -- a standalone cluster: a master and a worker on 127.0.0.1 ------------------------------

_CLUSTER_SCRIPT = """
import sys
import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

sys.path.insert(0, sys.argv[3])
from flavor_cases import frame
from flavor_cases.case_spark import _pipeline, _predict_pipeline

from pyfunc_ops import pyfunc
from pyfunc_ops import spark as pyfunc_spark
from pyfunc_ops.jobs.spark import score_spark

master, root = sys.argv[1], sys.argv[2]
spark = (
    SparkSession.builder.master(master)
    .config("spark.ui.enabled", "false")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.executor.memory", "512m")
    .config("spark.executor.cores", "1")
    .getOrCreate()
)
pipeline = _pipeline()
pyfunc_spark.save_model(pipeline, root + "/model", input_example=frame().head(3))
data = frame(50)
data.insert(0, "id", np.arange(50))
data.to_parquet(root + "/in.parquet")
result = score_spark(
    spark, root + "/model", input_path=root + "/in.parquet", output_path=root + "/out",
    keep_columns=["id"],
)
assert (result.rows_in, result.rows_out) == (50, 50), result
out = pd.read_parquet(root + "/out").sort_values("id")
expected = _predict_pipeline(pipeline, data.drop(columns="id"))
assert out["prediction"].tolist() == expected
loaded = pyfunc.load_model(root + "/model")
assert loaded.get_raw_model().spark is spark
assert loaded.predict(frame()) == _predict_pipeline(pipeline, frame())
assert spark.sparkContext.master == master
print("cluster-ok")
spark.stop()
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, timeout: float = 60.0) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # polling: the master JVM takes seconds to bind


@pytest.mark.slow
def test_a_standalone_cluster_saves_scores_and_predicts(tmp_path: Path) -> None:
    """A Spark standalone master and one worker on 127.0.0.1 (separate JVMs): the model is
    written through Hadoop's file system by the executors, scored by ``transform`` on the
    worker, and pyfunc ``predict`` reuses the cluster session (a fresh driver process,
    since the test session's ``local[2]`` one is active here)."""
    import os
    import subprocess

    import pyspark

    home = Path(pyspark.__file__).parent
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_WORKER_DIR": str(tmp_path / "work"),
    }
    port = _free_port()
    master = f"spark://127.0.0.1:{port}"
    spark_class = [str(home / "bin" / "spark-class")]
    procs = [
        subprocess.Popen(
            [*spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
            + ["--port", str(port), "--webui-port", str(_free_port())],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "master.log").open("w"),
        )
    ]
    try:
        _wait_for_port(port)  # a worker registers only with a listening master
        procs.append(
            subprocess.Popen(
                [*spark_class, "org.apache.spark.deploy.worker.Worker", master]
                + ["--host", "127.0.0.1", "--cores", "1", "--memory", "1g"]
                + ["--webui-port", str(_free_port())],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(tmp_path / "worker.log").open("w"),
            )
        )
        flavors = str(Path(__file__).parent)
        proc = subprocess.run(
            [sys.executable, "-c", _CLUSTER_SCRIPT, master, str(tmp_path), flavors],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert "cluster-ok" in proc.stdout, proc.stderr[-4000:]
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=30)
