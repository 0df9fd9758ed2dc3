"""Operators with Airflow-native storage and signatures: ``aws_conn_id`` (the Amazon
provider's connection) and ``ObjectStoragePath`` arguments against moto's S3 server, and
``SavePyfuncModelOperator``'s ``input_example``/``signature``."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.execution_time.context import OutletEventAccessors

from pyfunc_ops import pyfunc
from pyfunc_ops.airflow.operators import PyfuncPredictOperator, SavePyfuncModelOperator
from pyfunc_ops.airflow.operators.base import OUTPUT_ASSET_ALIAS, plain_url
from pyfunc_ops.errors import InputNotFoundError, InvalidParameterError, SchemaEnforcementError
from pyfunc_ops.jobs.packaging import read_input_example

pytest.importorskip("airflow.providers.amazon")

_AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")


def _context(task_id: str = "t") -> dict:
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id=task_id, map_index=-1, try_number=1)
    return {"ti": ti, "outlet_events": OutletEventAccessors()}


@pytest.fixture
def estimator_file(tmp_path: Path) -> str:
    from sklearn.linear_model import LinearRegression

    from pyfunc_ops.sklearn import import_skops_io

    frame = pd.DataFrame({"a": np.arange(10, dtype=float), "b": np.arange(10) % 3.0})
    path = tmp_path / "est.skops"
    import_skops_io().dump(LinearRegression().fit(frame, frame["a"] * 2 + frame["b"]), path)
    return str(path)


@pytest.fixture
def aws_connection(
    s3_server: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> SimpleNamespace:
    """An ``aws`` connection ``aws_test`` to the moto server; the AWS_* variables are gone,
    so the connection is the only way the task can reach (and sign for) the bucket."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_TEST",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"},
            }
        ),
    )
    for var in _AWS_VARS:
        monkeypatch.delenv(var, raising=False)
    import s3fs

    fs = s3fs.S3FileSystem(
        key="testing",
        secret="testing",
        client_kwargs={"endpoint_url": s3_server, "region_name": "us-east-1"},
        skip_instance_cache=True,
    )
    return SimpleNamespace(fs=fs, bucket=s3_bucket.removeprefix("s3://"))


def _model(tmp_path: Path, estimator_file: str) -> str:
    result = SavePyfuncModelOperator(task_id="package", estimator_path=estimator_file).execute(
        _context("package")
    )
    return str(result["model_uri"])


def test_aws_conn_id_and_object_storage_paths_reach_s3(
    tmp_path: Path, estimator_file: str, aws_connection: SimpleNamespace
) -> None:
    model_uri = _model(tmp_path, estimator_file)
    fs, bucket = aws_connection.fs, aws_connection.bucket
    with fs.open(f"{bucket}/in/d.parquet", "wb") as fh:
        pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 1.0]}).to_parquet(fh)
    op = PyfuncPredictOperator(
        task_id="score",
        model_uri=model_uri,
        input_url=ObjectStoragePath(f"s3://aws_test@{bucket}/in/d.parquet"),
        output_url=f"s3://{bucket}/out/p.parquet",
        aws_conn_id="aws_test",
    )
    context = _context()
    result = op.execute(context)
    assert result["output_uri"] == f"s3://{bucket}/out/p.parquet"
    with fs.open(f"{bucket}/out/p.parquet", "rb") as fh:
        np.testing.assert_allclose(pd.read_parquet(fh)["prediction"], [2.0, 5.0])
    # The output is an Asset; its event names the model that wrote it.
    assert [o.uri for o in op.outlets] == [f"s3://{bucket}/out/p.parquet"]
    extra = context["outlet_events"][op.outlets[0]].extra
    assert extra["output_uri"] == result["output_uri"] and extra["model_uri"] == model_uri


def test_the_connection_in_an_object_storage_path_is_enough(
    tmp_path: Path, estimator_file: str, aws_connection: SimpleNamespace
) -> None:
    model_uri = _model(tmp_path, estimator_file)
    pd.DataFrame({"a": [3.0], "b": [1.0]}).to_csv(tmp_path / "in.csv", index=False)
    bucket = aws_connection.bucket
    op = PyfuncPredictOperator(
        task_id="score",
        model_uri=model_uri,
        input_url=str(tmp_path / "in.csv"),
        output_url=ObjectStoragePath(f"s3://aws_test@{bucket}/out/{{{{ ds }}}}.parquet"),
    )
    assert [o.name for o in op.outlets] == [OUTPUT_ASSET_ALIAS]  # not a plain string
    assert op.execute(_context())["rows_out"] == 1
    assert aws_connection.fs.ls(f"{bucket}/out") == [f"{bucket}/out/{{{{ ds }}}}.parquet"]


def test_without_the_connection_the_bucket_is_unreachable(
    tmp_path: Path, estimator_file: str, aws_connection: SimpleNamespace
) -> None:
    """The control experiment: the same task without aws_conn_id cannot read the bucket."""
    model_uri = _model(tmp_path, estimator_file)
    op = PyfuncPredictOperator(
        task_id="score",
        model_uri=model_uri,
        input_url=f"s3://{aws_connection.bucket}/nothing.parquet",
        output_url=str(tmp_path / "o.parquet"),
        aws_conn_id="aws_test",
    )
    with pytest.raises(InputNotFoundError, match=r"nothing.parquet' does not exist"):
        op.execute(_context())


def test_two_s3_connections_in_one_task_are_refused(tmp_path: Path) -> None:
    op = PyfuncPredictOperator(
        task_id="score",
        model_uri=str(tmp_path),
        input_url=ObjectStoragePath("s3://conn_a@bucket/in.parquet"),
        output_url=str(tmp_path / "o.parquet"),
        aws_conn_id="conn_b",
    )
    with pytest.raises(InvalidParameterError, match=r"several connections \['conn_a', 'conn_b'\]"):
        op.execute(_context())


def test_object_storage_path_urls() -> None:
    assert plain_url(ObjectStoragePath("s3://aws_default@bucket/k/x.parquet")) == (
        "s3://bucket/k/x.parquet",
        "aws_default",
    )
    assert plain_url(ObjectStoragePath("file:///tmp/x.csv")) == ("/tmp/x.csv", None)
    with pytest.raises(InvalidParameterError, match=r"supported for s3:// paths only"):
        plain_url(SimpleNamespace(protocol="gs", conn_id="google", path="b/k"))


def test_missing_amazon_provider_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from pyfunc_ops.airflow.hooks.aws import aws_storage_options

    monkeypatch.setitem(sys.modules, "airflow.providers.amazon.aws.hooks.base_aws", None)
    with pytest.raises(InvalidParameterError, match=r"install apache-airflow-providers-amazon"):
        aws_storage_options("aws_default")


# -- signatures from the operator -----------------------------------------------------------


def test_input_example_gives_a_signature_and_names_the_columns(
    tmp_path: Path, estimator_file: str
) -> None:
    sample = tmp_path / "sample.parquet"
    pd.DataFrame({"a": np.arange(20, dtype=float), "b": np.ones(20)}).to_parquet(sample)
    op = SavePyfuncModelOperator(
        task_id="package", estimator_path=estimator_file, input_example="{{ params.sample }}"
    )
    op.render_template_fields({"params": {"sample": str(sample)}})
    model = pyfunc.load_model(op.execute(_context("package"))["model_uri"])
    assert model.metadata.signature.inputs.names() == ["a", "b"]
    # Columns go by name: another order scores the same; a missing one is refused.
    swapped = pd.DataFrame({"b": [1.0], "a": [3.0]})
    assert model.predict(swapped)[0] == pytest.approx(7.0)
    with pytest.raises(SchemaEnforcementError, match=r"b"):
        model.predict(pd.DataFrame({"a": [3.0]}))
    assert model.metadata.saved_input_example_info is not None


def test_signature_argument(tmp_path: Path, estimator_file: str) -> None:
    signature = {"inputs": [{"name": "a", "type": "double"}, {"name": "b", "type": "double"}]}
    op = SavePyfuncModelOperator(
        task_id="package", estimator_path=estimator_file, signature=signature
    )
    model = pyfunc.load_model(op.execute(_context("package"))["model_uri"])
    assert model.metadata.signature.inputs.names() == ["a", "b"]


def test_input_example_and_signature_errors(tmp_path: Path, estimator_file: str) -> None:
    with pytest.raises(InvalidParameterError, match=r"expected the path of a Parquet"):
        read_input_example(str(tmp_path / "x.txt"))
    with pytest.raises(InputNotFoundError, match=r"input_example .*missing.csv' does not exist"):
        read_input_example(str(tmp_path / "missing.csv"))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(Exception, match=r"bad.parquet' is not a readable parquet file"):
        read_input_example(str(tmp_path / "bad.parquet"))
    op = SavePyfuncModelOperator(
        task_id="package", estimator_path=estimator_file, signature="{not json"
    )
    with pytest.raises(InvalidParameterError, match=r"is not JSON"):
        op.execute(_context("package"))
    with pytest.raises(InvalidParameterError, match=r"input_example is given twice"):
        SavePyfuncModelOperator(
            task_id="p",
            estimator_path=estimator_file,
            input_example="x.csv",
            save_kwargs={"input_example": "y"},
        ).job_request()


def test_aws_conn_id_is_a_templated_argument_airflow_sees() -> None:
    import inspect

    for operator in (PyfuncPredictOperator, SavePyfuncModelOperator):
        assert "aws_conn_id" in operator.template_fields
        assert inspect.signature(operator.__init__).parameters["aws_conn_id"].default is None
    op = PyfuncPredictOperator(
        task_id="s", model_uri="m", input_url="i", output_url="o", aws_conn_id="{{ params.c }}"
    )
    op.render_template_fields({"params": {"c": "aws_x"}})
    assert op.aws_conn_id == "aws_x"
