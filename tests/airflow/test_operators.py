"""Operators called directly (fast): packaging forms, retry idempotency, registry
promotion, Asset events, template fields, Spark settings. ``test_operators_dag.py`` runs
them inside a real DAG."""

from __future__ import annotations

import inspect
import json
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors

from pyfunc_ops import pyfunc, tracking
from pyfunc_ops.airflow.assets import MODEL_ASSET_ALIAS, model_asset
from pyfunc_ops.airflow.hooks.pyfunc_ops import PyfuncOpsHook
from pyfunc_ops.airflow.operators import (
    PyfuncOpsBaseOperator,
    PyfuncPredictOperator,
    SavePyfuncModelOperator,
    SetModelAliasOperator,
    SparkUDFScoreOperator,
    TransitionModelStageOperator,
)
from pyfunc_ops.airflow.operators.spark import spark_settings
from pyfunc_ops.errors import (
    InputNotFoundError,
    InvalidParameterError,
    LoaderError,
    SerializationError,
    UntrustedModelError,
)
from pyfunc_ops.jobs.packaging import IDEMPOTENCY_TAG, package_model
from pyfunc_ops.jobs.request import field_names, make_request, option_defaults


def _context(task_id: str = "package", run_id: str = "manual__1", try_number: int = 1) -> dict:
    ti = SimpleNamespace(
        dag_id="d", run_id=run_id, task_id=task_id, map_index=-1, try_number=try_number
    )
    return {"ti": ti, "outlet_events": OutletEventAccessors()}


@pytest.fixture
def estimator_file(tmp_path: Path) -> str:
    from sklearn.linear_model import LinearRegression

    from pyfunc_ops.sklearn import import_skops_io

    x = np.arange(20, dtype=float).reshape(10, 2)
    path = tmp_path / "est.skops"
    import_skops_io().dump(LinearRegression().fit(x, x.sum(axis=1)), path)
    return str(path)


def test_estimator_file_registered_once_across_retries(estimator_file: str) -> None:
    op = SavePyfuncModelOperator(
        task_id="package", estimator_path=estimator_file, registered_model_name="reg"
    )
    first_ctx = _context(try_number=1)
    first = op.execute(first_ctx)
    second = op.execute(_context(try_number=2))  # the retry: same dag, run and task ids
    assert first["version"] == 1 and not first["reused"]
    assert second == {**first, "reused": True}
    client = tracking.TrackingClient()
    assert [v.version for v in client.search_model_versions(name="reg")] == [1]
    run = client.get_run(first["run_id"])
    assert run.data.tags[IDEMPOTENCY_TAG] == "d/manual__1/package"
    assert run.data.tags["airflow.task_id"] == "package"
    model = pyfunc.load_model(first["model_uri"])
    assert model.predict(pd.DataFrame({"a": [1.0], "b": [2.0]}))[0] == pytest.approx(3.0)
    # The event for the registered model, with what a downstream DAG needs.
    assert op.outlets == [model_asset("reg")]
    # The XCom and the event carry the digest recorded on the version (the retry too).
    assert first["digest"] == client.get_model_version("reg", 1).digest
    assert first["digest"].startswith("sha256:")
    assert first_ctx["outlet_events"][model_asset("reg")].extra == {
        "name": "reg",
        "version": 1,
        "model_uri": "models:/reg/1",
        "digest": first["digest"],
    }
    # Another DAG run is another task instance: a new version.
    assert op.execute(_context(run_id="manual__2"))["version"] == 2


def test_retry_after_crash_between_register_and_bookkeeping(estimator_file: str) -> None:
    """A first try that registered but died before recording its result: the version that
    points at its run is reused, not duplicated."""
    from pyfunc_ops import sklearn
    from pyfunc_ops.jobs.packaging import load_estimator_file

    with tracking.start_run(tags={IDEMPOTENCY_TAG: "k1"}):
        sklearn.log_model(load_estimator_file(estimator_file), "model", registered_model_name="c")
    again = package_model(
        estimator_path=estimator_file, registered_model_name="c", idempotency_key="k1"
    )
    assert again.reused and again.version == 1 and again.model_uri == "models:/c/1"
    assert len(tracking.TrackingClient().search_model_versions(name="c")) == 1


def test_failed_attempt_without_version_is_redone(estimator_file: str) -> None:
    with pytest.raises(RuntimeError), tracking.start_run(tags={IDEMPOTENCY_TAG: "k2"}):
        raise RuntimeError("died before logging anything")
    result = package_model(
        estimator_path=estimator_file, registered_model_name="r", idempotency_key="k2"
    )
    assert not result.reused and result.version == 1


def test_python_model_import_path_with_kwargs_and_artifacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "code" / "my_models"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "scaled.py").write_text(
        textwrap.dedent(
            """
            from pyfunc_ops.pyfunc import PythonModel

            class Scaled(PythonModel):
                def __init__(self, factor=1.0):
                    self.factor = factor

                def load_context(self, context):
                    with open(context.artifacts["offset"]) as fh:
                        self.offset = float(fh.read())

                def predict(self, context, model_input, params=None):
                    return model_input["x"] * self.factor + self.offset
            """
        )
    )
    (tmp_path / "offset.txt").write_text("0.5")
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    op = SavePyfuncModelOperator(
        task_id="package",
        python_model="my_models.scaled:Scaled",
        python_model_kwargs={"factor": "{{ params.factor }}"},
        artifacts={"offset": "{{ params.offset_file }}"},
        save_kwargs={"code_path": [str(pkg)]},
    )
    assert op.outlets == []  # not registered: no Asset
    context = _context()
    op.render_template_fields(
        {**context, "params": {"factor": 3, "offset_file": str(tmp_path / "offset.txt")}}
    )
    assert op.python_model_kwargs == {"factor": "3"}
    assert op.artifacts == {"offset": str(tmp_path / "offset.txt")}
    op.python_model_kwargs = {"factor": 3.0}
    result = op.execute(context)
    assert result["version"] is None and result["model_uri"].startswith("runs:/")
    model = pyfunc.load_model(result["model_uri"])
    assert model.predict(pd.DataFrame({"x": [1.0, 2.0]})).tolist() == [3.5, 6.5]


def test_loader_module_with_data_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "const_loader.py").write_text(
        textwrap.dedent(
            """
            import pathlib

            class _Const:
                def __init__(self, value):
                    self.value = value

                def predict(self, df):
                    return [self.value] * len(df)

            def _load_pyfunc(path, model_config=None):
                return _Const(float(pathlib.Path(path).read_text()))
            """
        )
    )
    monkeypatch.syspath_prepend(str(code))
    (tmp_path / "value.txt").write_text("7")
    op = SavePyfuncModelOperator(
        task_id="package",
        loader_module="const_loader",
        data_path=str(tmp_path / "value.txt"),
        registered_model_name="const",
        save_kwargs={"code_path": [str(code / "const_loader.py")]},
    )
    result = op.execute(_context())
    assert result["model_uri"] == "models:/const/1"
    assert pyfunc.load_model("models:/const/1").predict(pd.DataFrame({"a": [1, 2]})) == [7.0, 7.0]


def test_save_errors(tmp_path: Path, estimator_file: str) -> None:
    def run(**kwargs: Any) -> Any:
        return SavePyfuncModelOperator(task_id="package", **kwargs).execute(_context())

    with pytest.raises(InvalidParameterError, match="give exactly one of python_model"):
        run(estimator_path=estimator_file, loader_module="x")
    with pytest.raises(InvalidParameterError, match="give exactly one of python_model"):
        run()
    with pytest.raises(InvalidParameterError, match="artifacts only applies with python_model"):
        run(estimator_path=estimator_file, artifacts={"a": "b"})
    with pytest.raises(InvalidParameterError, match=r"not an import path 'package\.module:Class'"):
        run(python_model="my_models.Scaled")
    with pytest.raises(LoaderError, match="cannot import module 'no_such_module_xyz'"):
        run(python_model="no_such_module_xyz:Model")
    with pytest.raises(InvalidParameterError, match="expected a PythonModel subclass named 'Path'"):
        run(python_model="pathlib:Path")
    with pytest.raises(InputNotFoundError, match=r"estimator file .* does not exist"):
        run(estimator_path=str(tmp_path / "missing.skops"))
    with pytest.raises(InvalidParameterError, match="expected a name ending in one of"):
        run(estimator_path=str(tmp_path / "model.bin"))


def test_skops_untrusted_types_must_be_listed(tmp_path: Path) -> None:
    from sklearn.tree import DecisionTreeRegressor

    from pyfunc_ops.sklearn import import_skops_io

    path = tmp_path / "tree.skops"
    import_skops_io().dump(DecisionTreeRegressor().fit([[0], [1]], [0, 1]), path)
    op = SavePyfuncModelOperator(task_id="package", estimator_path=str(path))
    with pytest.raises(
        SerializationError, match=r"skops_trusted_types=\['sklearn.tree._tree.Tree'\]"
    ):
        op.execute(_context())
    op.skops_trusted_types = ["sklearn.tree._tree.Tree"]
    result = op.execute(_context(run_id="manual__2"))
    # The recorded types are what the file needs; a registry version whose files match its
    # digest is a trusted source, so they count (an untrusted URL needs the caller's list:
    # tests/hostile/test_load_safety.py).
    model = pyfunc.load_model(result["model_uri"])
    assert model.predict(pd.DataFrame({"x": [1]}))[0] == 1
    model = pyfunc.load_model(result["model_uri"], skops_trusted_types=op.skops_trusted_types)
    assert model.predict(pd.DataFrame({"x": [1]}))[0] == 1


def test_pickle_and_joblib_files(tmp_path: Path) -> None:
    import pickle

    import joblib
    from sklearn.dummy import DummyRegressor

    est = DummyRegressor(strategy="constant", constant=4).fit([[0]], [0])
    with open(tmp_path / "m.pkl", "wb") as fh:
        pickle.dump(est, fh)
    joblib.dump(est, tmp_path / "m.joblib")
    for i, name in enumerate(("m.pkl", "m.joblib")):
        op = SavePyfuncModelOperator(task_id=f"p{i}", estimator_path=str(tmp_path / name))
        uri = op.execute(_context(task_id=f"p{i}"))["model_uri"]
        assert pyfunc.load_model(uri).predict(pd.DataFrame({"x": [1, 2]})).tolist() == [4, 4]


def test_registry_operators_promote_and_emit(estimator_file: str) -> None:
    for run_id in ("r1", "r2"):
        SavePyfuncModelOperator(
            task_id="package", estimator_path=estimator_file, registered_model_name="m"
        ).execute(_context(run_id=run_id))
    alias_op = SetModelAliasOperator(task_id="promote", name="m", alias="champion", version="2")
    assert alias_op.outlets == [model_asset("m"), model_asset("m", alias="champion")]
    ctx = _context("promote")
    result = alias_op.execute(ctx)
    digests = {v: tracking.TrackingClient().get_model_version("m", v).digest for v in (1, 2)}
    assert all(d and d.startswith("sha256:") for d in digests.values())
    expected = {
        "name": "m",
        "version": 2,
        "alias": "champion",
        "model_uri": "models:/m/2",
        "requested_uri": "models:/m@champion",
        "digest": digests[2],
    }
    assert result == expected
    assert ctx["outlet_events"][model_asset("m", alias="champion")].extra == expected
    assert ctx["outlet_events"][model_asset("m")].extra == expected
    client = tracking.TrackingClient()
    assert client.get_model_version_by_alias("m", "champion").version == 2

    stage_op = TransitionModelStageOperator(
        task_id="stage", name="m", version=1, stage="production", archive_existing_versions=True
    )
    stage_op.execute(_context("stage"))
    ctx = _context("stage2")
    result = TransitionModelStageOperator(
        task_id="stage2", name="m", version=2, stage="Production", archive_existing_versions=True
    ).execute(ctx)
    assert result == {
        "name": "m",
        "version": 2,
        "stage": "Production",
        "model_uri": "models:/m/2",
        "requested_uri": "models:/m/Production",
        "digest": digests[2],
    }
    assert ctx["outlet_events"][model_asset("m", stage="Production")].extra == result
    assert client.get_model_version("m", 1).current_stage == "Archived"
    assert model_asset("m", stage="production").uri == "pyfunc-ops://models/m/Production"


def test_templated_model_name_emits_through_the_asset_alias(estimator_file: str) -> None:
    SavePyfuncModelOperator(
        task_id="package", estimator_path=estimator_file, registered_model_name="tm"
    ).execute(_context())
    op = SetModelAliasOperator(task_id="promote", name="{{ params.n }}", alias="gold", version=1)
    assert op.outlets == [AssetAlias(MODEL_ASSET_ALIAS)]
    ctx = _context("promote")
    op.render_template_fields({**ctx, "params": {"n": "tm"}})
    assert op.name == "tm"
    op.execute(ctx)
    events = ctx["outlet_events"][AssetAlias(MODEL_ASSET_ALIAS)].asset_alias_events
    assert {(e.dest_asset_key.uri, json.dumps(e.extra, sort_keys=True)) for e in events} == {
        (
            uri,
            json.dumps(
                {
                    "alias": "gold",
                    "model_uri": "models:/tm/1",
                    "requested_uri": "models:/tm@gold",
                    "name": "tm",
                    "version": 1,
                    "digest": tracking.TrackingClient().get_model_version("tm", 1).digest,
                },
                sort_keys=True,
            ),
        )
        for uri in ("pyfunc-ops://models/tm", "pyfunc-ops://models/tm@gold")
    }


def test_registry_operator_errors_surface(estimator_file: str) -> None:
    from pyfunc_ops.errors import PyfuncOpsError

    with pytest.raises(PyfuncOpsError, match="nope"):
        SetModelAliasOperator(task_id="p", name="nope", alias="a", version=1).execute(_context())


def test_predict_operator_renders_and_scores(tmp_path: Path, estimator_file: str) -> None:
    uri = SavePyfuncModelOperator(task_id="package", estimator_path=estimator_file).execute(
        _context()
    )["model_uri"]
    (tmp_path / "in").mkdir()
    pd.DataFrame({"id": [1, 2, 3], "a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0]}).to_csv(
        tmp_path / "in" / "d.csv", index=False
    )
    op = PyfuncPredictOperator(
        task_id="score",
        model_uri="{{ params.uri }}",
        input_url="{{ params.dir }}/in",
        output_url="{{ params.dir }}/out/{{ params.day }}.parquet",
        key_column="id",
        columns=["a", "b"],
        batch_size=2,
    )
    ctx = {"params": {"uri": uri, "dir": str(tmp_path), "day": "2024-01-02"}}
    op.render_template_fields(ctx)
    result = op.execute(ctx)
    assert result["output_uri"] == str(tmp_path / "out" / "2024-01-02.parquet")
    assert (result["rows_in"], result["rows_out"], result["batches"]) == (3, 3, 2)
    out = pd.read_parquet(result["output_uri"])
    assert out["id"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(out["prediction"], [1.0, 3.0, 3.0])


def _pickled_model_at_memory_url(tmp_path: Path) -> str:
    import uuid

    from sklearn.linear_model import LinearRegression

    from pyfunc_ops import sklearn as pk
    from pyfunc_ops.storage.transfer import upload_tree

    estimator = LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0])
    pk.save_model(estimator, tmp_path / "m", serialization_format="pickle")
    url = f"memory://trust-{uuid.uuid4().hex[:8]}/m"
    upload_tree(tmp_path / "m", url)
    pd.DataFrame({"a": [1.0, 2.0]}).to_parquet(tmp_path / "in.parquet")
    return url


def test_predict_operator_trust_remote_code_argument(tmp_path: Path) -> None:
    url = _pickled_model_at_memory_url(tmp_path)
    args = {"model_uri": url, "input_url": str(tmp_path / "in.parquet")}
    with pytest.raises(UntrustedModelError, match=r"estimator is a pickle file"):
        PyfuncPredictOperator(task_id="s", output_url=str(tmp_path / "o1.parquet"), **args).execute(
            _context()
        )
    op = PyfuncPredictOperator(
        task_id="s", output_url=str(tmp_path / "o2.parquet"), trust_remote_code=True, **args
    )
    assert op.execute(_context())["rows_out"] == 2


def test_connection_extra_trust_remote_code_opts_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _pickled_model_at_memory_url(tmp_path)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRUSTING",
        json.dumps({"conn_type": "pyfunc_ops", "extra": {"trust_remote_code": True}}),
    )
    op = PyfuncPredictOperator(
        task_id="s",
        model_uri=url,
        input_url=str(tmp_path / "in.parquet"),
        output_url=str(tmp_path / "o.parquet"),
        pyfunc_ops_conn_id="trusting",
    )
    assert op.execute(_context())["rows_out"] == 2


def test_spark_settings_from_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert spark_settings(None, None, None) == ("local[*]", {})
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_TEST",
        json.dumps(
            {
                "conn_type": "spark",
                "host": "spark://10.0.0.5",
                "port": 7077,
                "extra": {"spark.executor.memory": "2g", "deploy-mode": "client"},
            }
        ),
    )
    master, conf = spark_settings(None, {"spark.sql.shuffle.partitions": 4}, "spark_test")
    assert master == "spark://10.0.0.5:7077"
    assert conf == {"spark.executor.memory": "2g", "spark.sql.shuffle.partitions": "4"}
    assert spark_settings("local[2]", None, "spark_test")[0] == "local[2]"


def test_spark_operator_template_fields() -> None:
    op = SparkUDFScoreOperator(task_id="s", model_uri="m", input_path="in", output_path="out")
    assert {"model_uri", "input_path", "output_path", "columns"} <= set(op.template_fields)


def test_asset_naming() -> None:
    assert model_asset("churn") == Asset("pyfunc-ops://models/churn")
    assert (
        model_asset("my model", alias="champion").uri == "pyfunc-ops://models/my%20model@champion"
    )
    with pytest.raises(
        InvalidParameterError, match=r"give alias or stage, not both; got alias='a'"
    ):
        model_asset("m", alias="a", stage="Production")


# -- the base class and the request types --------------------------------------------------

JOB_OPERATORS = [PyfuncPredictOperator, SparkUDFScoreOperator, SavePyfuncModelOperator]
ALL_OPERATORS = [*JOB_OPERATORS, SetModelAliasOperator, TransitionModelStageOperator]


@pytest.mark.parametrize("operator", JOB_OPERATORS)
def test_job_operator_arguments_are_the_request_fields(operator: type) -> None:
    """A field added to the request is an argument (templated, with the request's default)
    of the operator without touching the operator; one it forgets fails here."""
    request_type = operator.request_type
    renamed = operator.renamed_fields
    fields = set(field_names(request_type)) - operator.operator_fields
    arguments = {renamed.get(f, f) for f in fields}
    assert set(operator.job_arguments()) == arguments
    assert arguments | {"pyfunc_ops_conn_id"} <= set(operator.template_fields)
    params = inspect.signature(operator.__init__).parameters
    defaults = {renamed.get(f, f): v for f, v in option_defaults(request_type).items()}
    for name in arguments:
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        expected = defaults.get(name, inspect.Parameter.empty)
        assert params[name].default == expected, name
    required = {"model_uri": "m", "input_url": "i", "output_url": "o", "input_path": "p"}
    given = {k: v for k, v in required.items() if k in arguments}
    if operator is SparkUDFScoreOperator:
        given["output_path"] = "q"
    if operator is SavePyfuncModelOperator:
        given["estimator_path"] = "e.skops"
    op = operator(task_id="t", **given)
    assert op.job_request() == make_request(request_type, "test", given)
    for name in arguments - set(given):
        assert getattr(op, name) == defaults[name]


@pytest.mark.parametrize("operator", [PyfuncPredictOperator, SparkUDFScoreOperator])
def test_model_params_are_not_the_dags_params(operator: type) -> None:
    """Airflow gives every operator the DAG's ``params``; the model's params are
    ``model_params``, so DAG params never reach ``predict``."""
    from airflow.sdk import DAG

    given = {"model_uri": "m", "input_url": "i", "output_url": "o"}
    if operator is SparkUDFScoreOperator:
        given = {"model_uri": "m", "input_path": "p", "output_path": "q"}
    with DAG("params_dag", schedule=None, params={"out_dir": "/tmp/x"}):
        plain = operator(task_id="plain", **given)
        scaled = operator(task_id="scaled", model_params={"scale": 2}, **given)
    assert plain.job_request().params is None
    assert scaled.job_request().params == {"scale": 2}
    assert "model_params" in operator.template_fields


@pytest.mark.parametrize("operator", ALL_OPERATORS)
def test_every_operator_has_the_base(operator: type) -> None:
    assert issubclass(operator, PyfuncOpsBaseOperator)
    assert "pyfunc_ops_conn_id" in operator.template_fields
    conn = inspect.signature(PyfuncOpsBaseOperator.__init__).parameters["pyfunc_ops_conn_id"]
    assert conn.default == PyfuncOpsHook.default_conn_name


def test_airflow_sees_the_request_fields() -> None:
    """default_args fill request fields, a missing required one is reported when the DAG is
    parsed, and .partial().expand() maps over one."""
    from airflow.sdk import DAG

    with DAG("d", schedule=None, default_args={"env_manager": "uv", "batch_size": 5}):
        op = PyfuncPredictOperator(task_id="a", model_uri="m", input_url="i", output_url="o")
        mapped = PyfuncPredictOperator.partial(task_id="b", model_uri="m", output_url="o").expand(
            input_url=["x", "y"]
        )
        with pytest.raises(TypeError, match="missing keyword argument 'model_uri'"):
            PyfuncPredictOperator(task_id="c", input_url="i", output_url="o")
    assert (op.env_manager, op.batch_size) == ("uv", 5)
    assert mapped.expand_input.value == {"input_url": ["x", "y"]}


def test_empty_rendered_optional_fields_mean_not_given() -> None:
    op = PyfuncPredictOperator(
        task_id="s",
        model_uri="m",
        input_url="i",
        output_url="o",
        key_column="{{ params.key }}",
        input_format="",
        columns=[],
    )
    op.render_template_fields({"params": {"key": ""}})
    request = op.job_request()
    assert (request.key_column, request.input_format, request.columns) == (None, None, None)


def test_hook_is_built_lazily_from_the_rendered_connection_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, estimator_file: str
) -> None:
    """The templated connection id is rendered before the hook is built, and the task runs
    with that connection's registry: here a registry of its own, not the environment's."""
    registry = tmp_path / "other-registry.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_OTHER_REGISTRY",
        json.dumps(
            {
                "conn_type": "pyfunc_ops",
                "extra": {"tracking_uri": str(registry), "artifact_root": str(tmp_path / "a")},
            }
        ),
    )
    save = SavePyfuncModelOperator(
        task_id="package",
        estimator_path=estimator_file,
        registered_model_name="elsewhere",
        pyfunc_ops_conn_id="{{ params.conn }}",
    )
    promote = SetModelAliasOperator(
        task_id="promote",
        name="elsewhere",
        alias="champion",
        version=1,
        pyfunc_ops_conn_id="{{ params.conn }}",
    )
    for op in (save, promote):
        context = _context(op.task_id)
        op.render_template_fields({**context, "params": {"conn": "other_registry"}})
        assert op.pyfunc_ops_conn_id == "other_registry"
        op.execute(context)
        assert op.hook is op.hook and op.hook.pyfunc_ops_conn_id == "other_registry"
    other = tracking.TrackingClient(str(registry))
    assert other.get_model_version_by_alias("elsewhere", "champion").version == 1
    assert tracking.TrackingClient().search_registered_models() == []
