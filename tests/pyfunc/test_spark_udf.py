"""spark_udf on local[2]: result types, input styles, output shapes, shipping, load once.

Test models are workflow-2 models whose loader module lives in the model's ``code``
folder, so Spark's Python workers import it from the model itself. Every model gets a
uniquely named loader module: workers are reused across tests and keep imported modules.
"""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pyfunc_ops.errors import (
    InvalidParameterError,
    ModelNotFoundError,
    ResultTypeError,
    UntrustedModelError,
)
from pyfunc_ops.models.signature import ColSpec, ModelSignature, Schema
from pyfunc_ops.pyfunc import save_model, spark_udf

pytestmark = pytest.mark.spark

LOADER = """
import os

import numpy as np
import pandas as pd

LOAD_LOG = {load_log!r}
PREDICT_LOG = {predict_log!r}


def _append(path, line):
    if path:
        with open(path, "a") as fh:
            fh.write(line + "\\n")


class Model:
    def __init__(self, path):
        self.path = path

    def predict(self, df{predict_extra}):
        if PREDICT_LOG:
            from pyspark import TaskContext

            _append(PREDICT_LOG, f"{{os.getpid()}} {{TaskContext.get().partitionId()}}")
{body}


def _load_pyfunc(path):
    _append(LOAD_LOG, str(os.getpid()))
    return Model(path)
"""


def make_model(
    tmp_path: Path,
    body: str,
    signature: ModelSignature | None = None,
    load_log: Path | None = None,
    predict_log: Path | None = None,
    predict_extra: str = "",
) -> Path:
    """Save a model whose ``predict(self, df{predict_extra})`` runs ``body`` (indented
    Python)."""
    name = f"spark_loader_{uuid.uuid4().hex[:12]}"
    code = tmp_path / f"src_{name}"
    code.mkdir()
    source = LOADER.format(
        load_log=str(load_log) if load_log else None,
        predict_log=str(predict_log) if predict_log else None,
        body=textwrap.indent(textwrap.dedent(body).strip(), " " * 8),
        predict_extra=predict_extra,
    )
    (code / f"{name}.py").write_text(source)
    path = tmp_path / f"model_{name}"
    save_model(path, loader_module=name, code_path=[str(code / f"{name}.py")], signature=signature)
    return path


def named(*names: str, kind: str = "double", optional: tuple[str, ...] = ()) -> ModelSignature:
    cols = [ColSpec(kind, n) for n in names] + [ColSpec(kind, n, required=False) for n in optional]
    return ModelSignature(inputs=Schema(cols))


@pytest.fixture(scope="module")
def frame(spark: Any) -> Any:
    """24 rows, x = 0..23, in 6 partitions; extra columns to test column selection."""
    return spark.range(0, 24, numPartitions=6).selectExpr(
        "cast(id as double) as x", "cast(id * 10 as double) as y", "cast(id * 100 as double) as z"
    )


def collect(df: Any, column: str = "p") -> list[Any]:
    """``column`` by increasing x."""
    return columns_of(df)[column]


def columns_of(df: Any) -> dict[str, list[Any]]:
    """Every column by increasing x, as plain lists (arrays become lists), in one job."""
    out = df.orderBy("x").toPandas()
    return {
        name: [list(v) if isinstance(v, np.ndarray | list) else v for v in out[name]]
        for name in out.columns
    }


# A model returning four kinds of columns: strings, floats, large ints, small ints.
MIXED = """
x = df.iloc[:, 0].to_numpy()
return pd.DataFrame({
    "s": ["v" + str(int(v)) for v in x],
    "f": x + 0.5,
    "big": (x + 2**40).astype("int64"),
    "i": (x * 2).astype("int64"),
})
"""
X = np.arange(24)


@pytest.fixture(scope="module")
def mixed_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("mixed"), MIXED)


DDL_CASES = [
    ("int", "int", [int(v * 2) for v in X]),
    ("integer", "int", [int(v * 2) for v in X]),
    ("long", "bigint", [int(v + 2**40) for v in X]),
    ("bigint", "bigint", [int(v + 2**40) for v in X]),
    ("float", "float", [float(np.float32(v + 0.5)) for v in X]),
    ("double", "double", [v + 0.5 for v in X]),
    ("string", "string", [f"v{v}" for v in X]),
    ("array<int>", "array<int>", [[int(v * 2)] for v in X]),
    ("array<long>", "array<bigint>", [[int(v + 2**40), int(v * 2)] for v in X]),
    (
        "array<float>",
        "array<float>",
        [[float(np.float32(v)) for v in (v + 0.5, v + 2**40, v * 2)] for v in X],
    ),
    ("ARRAY< DOUBLE >", "array<double>", [[v + 0.5, float(v + 2**40), v * 2.0] for v in X]),
    (
        "array<string>",
        "array<string>",
        [[f"v{v}", str(v + 0.5), str(v + 2**40), str(v * 2)] for v in X],
    ),
]


def test_result_types_as_ddl(spark: Any, frame: Any, mixed_model: Path) -> None:
    # One job for all cases: a Spark job costs seconds on a loaded machine.
    columns = {
        f"p{i}": spark_udf(spark, str(mixed_model), result_type=result_type)("x")
        for i, (result_type, _, _) in enumerate(DDL_CASES)
    }
    out = frame.withColumns(columns)
    got = columns_of(out)
    for i, (result_type, ddl, expected) in enumerate(DDL_CASES):
        assert out.schema[f"p{i}"].dataType.simpleString() == ddl, result_type
        assert got[f"p{i}"] == expected, result_type


def test_result_types_as_datatypes(spark: Any, frame: Any, mixed_model: Path) -> None:
    from pyspark.sql import types as T

    cases = {
        T.IntegerType(): [int(v * 2) for v in X],
        T.LongType(): [int(v + 2**40) for v in X],
        T.FloatType(): [float(np.float32(v + 0.5)) for v in X],
        T.DoubleType(): [v + 0.5 for v in X],
        T.StringType(): [f"v{v}" for v in X],
        T.ArrayType(T.IntegerType()): [[int(v * 2)] for v in X],
        T.ArrayType(T.LongType()): [[int(v + 2**40), int(v * 2)] for v in X],
        T.ArrayType(T.DoubleType()): [[v + 0.5, float(v + 2**40), v * 2.0] for v in X],
        T.ArrayType(T.StringType()): [
            [f"v{v}", str(v + 0.5), str(v + 2**40), str(v * 2)] for v in X
        ],
    }
    columns = {}
    for i, dtype in enumerate(cases):
        columns[f"p{i}"] = spark_udf(spark, str(mixed_model), result_type=dtype)("x")
    out = frame.withColumns(columns)
    got = columns_of(out)
    for i, (dtype, expected) in enumerate(cases.items()):
        assert out.schema[f"p{i}"].dataType == dtype
        assert got[f"p{i}"] == expected, dtype


@pytest.mark.parametrize(
    "result_type",
    [
        "boolean",
        "map<string,int>",
        "date",
        "array<boolean>",
        "array<array<int>>",
        "struct<>",
        "struct<a:boolean>",
        "struct<a:int,a:long>",
        "struct<a:struct<b:int>>",
    ],
)
def test_unsupported_result_type_strings_are_refused(
    spark: Any, mixed_model: Path, result_type: str
) -> None:
    with pytest.raises(ResultTypeError, match=rf"result_type '{result_type}' is not supported.*"):
        spark_udf(spark, str(mixed_model), result_type=result_type)


def test_unsupported_result_datatypes_are_refused(spark: Any, mixed_model: Path) -> None:
    from pyspark.sql import types as T

    for dtype in (
        T.BooleanType(),
        T.DateType(),
        T.ArrayType(T.ArrayType(T.IntegerType())),
        T.StructType([T.StructField("a", T.BooleanType())]),
        T.StructType([]),
        42,
    ):
        with pytest.raises(ResultTypeError, match=r"is not supported\. Use one of 'int', 'long'"):
            spark_udf(spark, str(mixed_model), result_type=dtype)


@pytest.mark.parametrize(
    ("body", "result_type", "message"),
    [
        (
            "return df.iloc[:, 0].to_numpy() * 1.5",
            "int",
            r"ResultTypeError: spark_udf: result_type 'int' needs an integer column whose "
            r"values fit in int32 in the predictions, but the model returned column 0: float64",
        ),
        (
            "return (df.iloc[:, 0].to_numpy() + 2**40).astype('int64')",
            "int",
            r"ResultTypeError: spark_udf: result_type 'int' needs integer predictions that "
            r"fit in int32 \[-2147483648, 2147483647\]; .*int64 with min 10995116277\d\d",
        ),
        (
            "return pd.Series(['a'] * len(df))",
            "array<double>",
            r"ResultTypeError: .*'array<double>' needs a numeric column in the predictions, "
            r"but the model returned column 0: object",
        ),
        (
            "return np.zeros((len(df), 2, 2))",
            "double",
            r"ResultTypeError: .*returned a 3-dimensional ndarray",
        ),
    ],
)
def test_predictions_that_do_not_fit_fail_the_job(
    spark: Any, frame: Any, tmp_path: Path, body: str, result_type: str, message: str
) -> None:
    udf = spark_udf(spark, str(make_model(tmp_path, body)), result_type=result_type)
    with pytest.raises(Exception, match=message):
        frame.select(udf("x")).collect()


OUTPUT_CASES = {
    "ndarray-1d": ("return df.iloc[:, 0].to_numpy() * 3", "double", [v * 3.0 for v in X]),
    "ndarray-int16": (
        "return (df.iloc[:, 0].to_numpy() * 3).astype('int16')",
        "long",
        [v * 3 for v in X],
    ),
    "ndarray-2d": (
        "return np.stack([df.iloc[:, 0].to_numpy(), -df.iloc[:, 0].to_numpy()], axis=1)",
        "array<double>",
        [[float(v), float(-v)] for v in X],
    ),
    "series": (
        "return pd.Series(df.iloc[:, 0].to_numpy() + 1, name='out')",
        "float",
        [v + 1.0 for v in X],
    ),
    "dataframe": (
        "return pd.DataFrame({'a': df.iloc[:, 0].astype('int32'), 'b': df.iloc[:, 0] / 2})",
        "array<string>",
        [[str(v), str(v / 2)] for v in X],
    ),
    "list": ("return list(df.iloc[:, 0] - 1)", "double", [v - 1.0 for v in X]),
    "nullable-int": ("return pd.Series(df.iloc[:, 0].astype('Int64'))", "int", list(X)),
}


def test_output_shapes(spark: Any, frame: Any, tmp_path: Path) -> None:
    columns = {
        name: spark_udf(spark, str(make_model(tmp_path, body)), result_type=result_type)("x")
        for name, (body, result_type, _) in OUTPUT_CASES.items()
    }
    got = columns_of(frame.withColumns(columns))
    for name, (_, _, expected) in OUTPUT_CASES.items():
        assert got[name] == expected, name


# Reports the column names the model received, then the first row's values.
ECHO = """
text = "|".join(map(str, df.columns)) + "=" + ",".join(str(v) for v in df.iloc[0])
return pd.Series([text] * len(df))
"""


def first(df: Any) -> str:
    return collect(df)[0]


def test_positional_columns_are_numbered_without_signature(
    spark: Any, frame: Any, tmp_path: Path
) -> None:
    udf = spark_udf(spark, str(make_model(tmp_path, ECHO)), result_type="string")
    assert first(frame.withColumn("p", udf("z", "x"))) == "0|1=0.0,0.0"
    assert first(frame.withColumn("p", udf("y"))) == "0=0.0"


def test_positional_columns_take_the_signature_names(
    spark: Any, frame: Any, tmp_path: Path
) -> None:
    model = make_model(tmp_path, ECHO, signature=named("a", "b", optional=("c",)))
    udf = spark_udf(spark, str(model), result_type="string")
    out = frame.filter("x = 1")
    assert first(out.withColumn("p", udf("z", "x"))) == "a|b=100.0,1.0"
    assert first(out.withColumn("p", udf("z", "x", "y"))) == "a|b|c=100.0,1.0,10.0"


def test_wrong_number_of_positional_columns(spark: Any, frame: Any, tmp_path: Path) -> None:
    model = make_model(tmp_path, ECHO, signature=named("a", "b"))
    udf = spark_udf(spark, str(model), result_type="string")
    # Several columns: refused on the driver.
    with pytest.raises(InvalidParameterError, match=r"got 3 input column\(s\); .*names 2"):
        udf("x", "y", "z")
    # One column could be a struct, so the count is only known in the worker.
    with pytest.raises(Exception, match=r"InvalidParameterError: .*got 1 input column"):
        frame.select(udf("x")).collect()


def test_struct_argument_uses_field_names(spark: Any, frame: Any, tmp_path: Path) -> None:
    from pyspark.sql import functions as F

    model = make_model(tmp_path, ECHO, signature=named("y", "x"))
    udf = spark_udf(spark, str(model), result_type="string")
    out = frame.filter("x = 2").withColumn("p", udf(F.struct("x", F.col("z").alias("y"))))
    # The signature selects and orders the struct's fields by name.
    assert first(out) == "y|x=200.0,2.0"
    plain = spark_udf(spark, str(make_model(tmp_path, ECHO)), result_type="string")
    out = frame.filter("x = 2").withColumn("p", plain(F.struct("z", "x")))
    assert first(out) == "z|x=200.0,2.0"


def test_no_arguments_select_the_signature_columns(spark: Any, frame: Any, tmp_path: Path) -> None:
    model = make_model(tmp_path, ECHO, signature=named("z", "x"))
    udf = spark_udf(spark, str(model), result_type="string")
    assert first(frame.filter("x = 3").withColumn("p", udf())) == "z|x=300.0,3.0"


def test_no_arguments_without_signature_is_an_error(spark: Any, tmp_path: Path) -> None:
    udf = spark_udf(spark, str(make_model(tmp_path, ECHO)), result_type="string")
    with pytest.raises(InvalidParameterError, match=r"has no signature naming its inputs"):
        udf()


def test_signature_is_enforced_in_the_worker(spark: Any, frame: Any, tmp_path: Path) -> None:
    model = make_model(tmp_path, ECHO, signature=named("x", kind="long"))
    udf = spark_udf(spark, str(model), result_type="string")
    with pytest.raises(
        Exception, match=r"SchemaEnforcementError: column 'x': expected type 'long'"
    ):
        frame.select(udf("x")).collect()


def test_model_is_loaded_once_per_worker_process(spark: Any, tmp_path: Path) -> None:
    loads, predicts = tmp_path / "loads.txt", tmp_path / "predicts.txt"
    model = make_model(
        tmp_path, "return df.iloc[:, 0].to_numpy() + 1", load_log=loads, predict_log=predicts
    )
    udf = spark_udf(spark, str(model))
    data = spark.range(0, 96, numPartitions=24).selectExpr("cast(id as double) as x")
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    saved = spark.conf.get(key)
    spark.conf.set(key, "2")  # 4 rows per partition: 2 batches per task
    try:
        total = data.select(udf("x").alias("p")).agg({"p": "sum"}).collect()[0][0]
        assert total == sum(range(1, 97))
        load_pids = loads.read_text().split()
        calls = [line.split() for line in predicts.read_text().splitlines()]
        # Every batch was predicted: 24 partitions x 2 batches.
        assert len(calls) == 48
        assert {part for _, part in calls} == {str(i) for i in range(24)}
        # Every process that predicted loaded the model exactly once...
        assert sorted(load_pids) == sorted({pid for pid, _ in calls})
        # ...and kept it across its batches and tasks. (Spark's pool of reused Python
        # workers can hold more than two processes, so the bound is tasks, not cores.)
        tasks_per_pid = {pid: len({p for q, p in calls if q == pid}) for pid in load_pids}
        assert len(load_pids) < 24
        assert max(tasks_per_pid.values()) >= 2
        # A second job reuses the loaded models: processes that have it never reload it
        # (only a worker process new to this job loads it, once).
        assert data.select(udf("x").alias("p")).agg({"p": "sum"}).collect()[0][0] == total
        second = {line.split()[0] for line in predicts.read_text().splitlines()[48:]}
        after = loads.read_text().split()
        assert after[: len(load_pids)] == load_pids
        assert sorted(after[len(load_pids) :]) == sorted(second - set(load_pids))
    finally:
        spark.conf.set(key, saved)


def test_model_shipped_as_archive(spark: Any, frame: Any, tmp_path: Path) -> None:
    loads = tmp_path / "loads.txt"
    model = make_model(tmp_path, "return pd.Series([self.path] * len(df))", load_log=loads)
    udf = spark_udf(spark, str(model), result_type="string", ship_model=True)
    paths = set(collect(frame.withColumn("p", udf("x"))))
    assert len(paths) == 1
    shipped = Path(paths.pop())
    # Loaded from the unpacked archive, not from the original folder.
    assert shipped.parent.name == "pyfunc_ops_models"
    assert shipped.name.startswith("pyfunc-model-")
    assert (shipped / "MLmodel").is_file()
    assert not str(shipped).startswith(str(model))
    load_pids = loads.read_text().split()
    assert len(load_pids) == len(set(load_pids))  # once per worker process
    # A second UDF on the same model reuses the archive already added to Spark.
    again = spark_udf(spark, str(model), result_type="string", ship_model=True)
    assert set(collect(frame.withColumn("p", again("x")))) == {str(shipped)}


def test_remote_uri_is_resolved_on_the_driver_and_shipped(
    spark: Any, frame: Any, tmp_path: Path
) -> None:
    from pyfunc_ops.storage.transfer import upload_tree

    model = make_model(tmp_path, "return pd.Series([self.path] * len(df))")
    url = f"memory://spark-tests/{uuid.uuid4().hex}/model"
    upload_tree(model, url)
    # The driver decides: an untrusted URL with a code/ folder is refused before shipping.
    with pytest.raises(UntrustedModelError, match=r"code folder .*trust_remote_code=True"):
        spark_udf(spark, url, result_type="string")
    udf = spark_udf(spark, url, result_type="string", trust_remote_code=True)
    (path,) = set(collect(frame.withColumn("p", udf("x"))))
    assert Path(path).parent.name == "pyfunc_ops_models"


def test_registered_model_uri_is_shipped(spark: Any, frame: Any, tmp_path: Path) -> None:
    from pyfunc_ops.pyfunc import log_model

    code = make_model(tmp_path, "return df.iloc[:, 0].to_numpy() * 2") / "code"
    (loader,) = code.glob("spark_loader_*.py")
    info = log_model(
        "model",
        loader_module=loader.stem,
        code_path=[str(loader)],
        registered_model_name="spark-model",
    )
    for uri in (info.model_uri, "models:/spark-model/1"):
        udf = spark_udf(spark, uri)
        assert collect(frame.withColumn("p", udf("x"))) == [v * 2.0 for v in X]


def test_driver_side_argument_errors(spark: Any, mixed_model: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"env_manager 'docker' is not supported"):
        spark_udf(spark, str(mixed_model), env_manager="docker")
    with pytest.raises(InvalidParameterError, match=r"ship_model must be None .* got 'yes'"):
        spark_udf(spark, str(mixed_model), ship_model="yes")  # type: ignore[arg-type]
    with pytest.raises(ModelNotFoundError, match=r"No model at"):
        spark_udf(spark, str(tmp_path / "missing"))


class _FakeContext:
    """Stands in for a SparkContext on a cluster: records the files added to it."""

    master = "spark://cluster:7077"
    applicationId = "app-fake"

    def __init__(self) -> None:
        self.added: list[str] = []

    def addFile(self, path: str) -> None:
        self.added.append(path)


class _FakeSession:
    def __init__(self) -> None:
        self.sparkContext = _FakeContext()


def test_local_folder_is_shipped_when_spark_is_not_local(tmp_path: Path) -> None:
    import zipfile

    pytest.importorskip("pyspark")
    model = make_model(tmp_path, ECHO, signature=named("a"))
    session = _FakeSession()
    udf = spark_udf(session, str(model), result_type="string")
    (archive,) = session.sparkContext.added
    assert Path(archive).name == udf._source.archive
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
    assert "MLmodel" in names
    assert any(n.startswith("code/spark_loader_") for n in names)
    # The same unchanged model is added once per application, however many UDFs use it.
    spark_udf(session, str(model), result_type="double")
    assert session.sparkContext.added == [archive]
    # An explicit ship_model=False trusts the folder to be readable by every executor.
    in_place = spark_udf(session, str(model), ship_model=False)
    assert in_place._source.folder == str(model) and in_place._source.archive is None


def test_skops_types_the_caller_trusts_reach_the_workers(
    spark: Any, frame: Any, tmp_path: Path
) -> None:
    """From an untrusted source the driver checks and the workers load with the caller's
    skops_trusted_types (a shipped archive); without them the skops file is refused. A
    trusted local path honours the types the model records."""
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor

    from pyfunc_ops import sklearn as pk

    train = pd.DataFrame({"x": np.arange(24.0)})
    est = HistGradientBoostingRegressor(max_iter=3, min_samples_leaf=1).fit(train, train["x"])
    types = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
    model = tmp_path / "hgb"
    pk.save_model(est, model, skops_trusted_types=types)
    from pyfunc_ops.storage.transfer import upload_tree

    url = f"memory://hgb-spark-{tmp_path.name}"
    upload_tree(model, url)
    udf = spark_udf(spark, url, ship_model=True, skops_trusted_types=types)
    assert collect(frame.withColumn("p", udf("x"))) == pytest.approx(list(est.predict(train)))
    refused = spark_udf(spark, url, ship_model=True)
    with pytest.raises(Exception, match="skops_trusted_types"):
        collect(frame.withColumn("p", refused("x")))
    local = spark_udf(spark, str(model), ship_model=True)
    assert collect(frame.withColumn("p", local("x"))) == pytest.approx(list(est.predict(train)))


# --------------------------------------------------------------- struct results (issue 14.8)


def test_struct_result_types_take_columns_by_name(
    spark: Any, frame: Any, mixed_model: Path
) -> None:
    from pyspark.sql import types as T

    ddl = spark_udf(spark, str(mixed_model), result_type="struct<f:double, s:string, i:int>")
    typed = spark_udf(
        spark,
        str(mixed_model),
        result_type=T.StructType(
            [T.StructField("big", T.LongType()), T.StructField("i", T.ArrayType(T.LongType()))]
        ),
    )
    out = frame.select("x", ddl("x").alias("a"), typed("x").alias("b"))
    assert out.schema["a"].dataType.simpleString() == "struct<f:double,s:string,i:int>"
    assert out.schema["b"].dataType.simpleString() == "struct<big:bigint,i:array<bigint>>"
    rows = out.orderBy("x").collect()
    assert [r.a.asDict() for r in rows] == [
        {"f": v + 0.5, "s": f"v{v}", "i": int(v * 2)} for v in X
    ]
    assert [r.b.asDict() for r in rows] == [{"big": int(v + 2**40), "i": [int(v * 2)]} for v in X]


def test_struct_result_type_takes_array_columns_by_position(
    spark: Any, frame: Any, tmp_path: Path
) -> None:
    body = "x = df.iloc[:, 0].to_numpy()\nreturn np.stack([x, -x], axis=1)"
    udf = spark_udf(spark, str(make_model(tmp_path, body)), result_type="struct<p:double,q:float>")
    rows = frame.select("x", udf("x").alias("r")).orderBy("x").collect()
    assert [(r.r.p, r.r.q) for r in rows] == [(float(v), float(-v)) for v in X]


def test_struct_result_errors_name_the_fields(
    spark: Any, frame: Any, mixed_model: Path, tmp_path: Path
) -> None:
    udf = spark_udf(spark, str(mixed_model), result_type="struct<f:double,missing:double>")
    with pytest.raises(Exception, match=r"ResultTypeError: .*named \['f', 'missing'\].*"):
        frame.select(udf("x")).collect()
    one = make_model(tmp_path, "return df.iloc[:, 0].to_numpy()")
    udf = spark_udf(spark, str(one), result_type="struct<a:double,b:double>")
    with pytest.raises(Exception, match=r"ResultTypeError: .*has 2 fields; the model returned 1"):
        frame.select(udf("x")).collect()


# ------------------------------------------------------- array and struct inputs (issue 14.8)

# Reports the Python types and values the model received in its first row.
TYPES = """
row = df.iloc[0]
text = ";".join(f"{name}:{type(row[name]).__name__}={row[name]}" for name in df.columns)
return pd.Series([text] * len(df))
"""


def test_array_and_struct_inputs_become_lists_and_dicts(
    spark: Any, frame: Any, tmp_path: Path
) -> None:
    from pyspark.sql import functions as F

    udf = spark_udf(spark, str(make_model(tmp_path, TYPES)), result_type="string")
    data = frame.filter("x = 1").select(
        "x",
        F.array("x", "y").alias("arr"),
        F.struct(F.col("x").alias("a"), F.array("y").alias("b")).alias("st"),
    )
    got = first(data.withColumn("p", udf("x", "arr", "st")))
    assert got == "0:float64=1.0;1:list=[1.0, 10.0];2:dict={'a': 1.0, 'b': [10.0]}"
    # A lone struct argument is the whole input frame; its nested values are made plain.
    nested = data.select(
        "x", F.struct("arr", F.struct(F.col("x").alias("c")).alias("inner")).alias("st")
    )
    assert first(nested.withColumn("p", udf("st"))) == (
        "arr:list=[1.0, 10.0];inner:dict={'c': 1.0}"
    )


# ----------------------------------------------------------------------- params (issue 14.3)


def test_params_reach_every_predict_call(spark: Any, frame: Any, tmp_path: Path) -> None:
    body = "return df.iloc[:, 0].to_numpy() * (params or {}).get('scale', 1.0)"
    from pyfunc_ops.models.signature import ParamSchema, ParamSpec

    declared = ModelSignature(params=ParamSchema([ParamSpec("scale", "double", 1.0)]))
    model = str(make_model(tmp_path, body, signature=declared, predict_extra=", params=None"))
    scaled = spark_udf(spark, model, params={"scale": 3.0})
    plain = spark_udf(spark, model)
    got = columns_of(frame.select("x", scaled("x").alias("s"), plain("x").alias("p")))
    assert got["s"] == [v * 3.0 for v in X]
    assert got["p"] == [float(v) for v in X]


def test_params_must_be_a_mapping(spark: Any, mixed_model: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"params must be a mapping .*got a list"):
        spark_udf(spark, str(mixed_model), params=["scale", 3.0])  # type: ignore[arg-type]
