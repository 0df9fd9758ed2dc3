"""One pass per load: a model URI is parsed once and its MLmodel read once.

Each load below counts the calls of ``parse_model_uri`` (in every module that imported
it) and of ``Model.load`` from the call to its result, whatever the URI form and flavor.
"""

from __future__ import annotations

import collections
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

# Imported before the counting wrappers go in, so that every module holding its own name
# for parse_model_uri gets the counting one.
import pyfunc_ops.envs.builder
import pyfunc_ops.envs.worker
import pyfunc_ops.pyfunc.spark
import pyfunc_ops.sklearn as pk
import pyfunc_ops.storage.transfer
import pyfunc_ops.tracking.client
from pyfunc_ops import pyfunc
from pyfunc_ops.core import uri as uri_module
from pyfunc_ops.envs.spec import read_env_spec
from pyfunc_ops.models.mlmodel import Model
from pyfunc_ops.pyfunc.load import WORKER_MODULE

X = pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [1.0, 0.0, 1.0]})


class AddOne(pyfunc.PythonModel):
    def predict(self, context: Any, model_input: pd.DataFrame) -> Any:
        return model_input["a"] + 1


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[collections.Counter[str]]:
    counts: collections.Counter[str] = collections.Counter()
    read = Model.load.__func__  # type: ignore[attr-defined]
    parse = uri_module.parse_model_uri

    def counting_load(cls: type[Model], path: Any) -> Model:
        counts["Model.load"] += 1
        return read(cls, path)  # type: ignore[no-any-return]

    def counting_parse(uri: Any) -> Any:
        counts["parse_model_uri"] += 1
        return parse(uri)

    monkeypatch.setattr(Model, "load", classmethod(counting_load))
    for name, module in list(sys.modules.items()):
        if name.startswith("pyfunc_ops") and getattr(module, "parse_model_uri", None) is parse:
            monkeypatch.setattr(module, "parse_model_uri", counting_parse)
    yield counts


@pytest.fixture
def sklearn_model(tmp_path: Path) -> Path:
    path = tmp_path / "sk"
    pk.save_model(LinearRegression().fit(X, [1.0, 2.0, 3.0]), path)
    return path


def test_a_local_sklearn_model(sklearn_model: Path, calls: collections.Counter[str]) -> None:
    model = pyfunc.load_model(str(sklearn_model))
    assert calls == {"parse_model_uri": 1, "Model.load": 1}
    np.testing.assert_allclose(model.predict(X), [1.0, 2.0, 3.0])


def test_a_python_model_from_runs_and_models_uris(calls: collections.Counter[str]) -> None:
    info = pyfunc.log_model("model", python_model=AddOne(), registered_model_name="adder")
    for uri in (info.model_uri, "models:/adder/1", "models:/adder/latest"):
        calls.clear()
        model = pyfunc.load_model(uri)
        assert calls == {"parse_model_uri": 1, "Model.load": 1}, uri
        assert model.predict(X).tolist() == [1.0, 2.0, 3.0]


def test_a_loader_called_directly_still_reads_its_mlmodel(
    sklearn_model: Path, calls: collections.Counter[str]
) -> None:
    wrapper = pk._load_pyfunc(str(sklearn_model))  # outside load_model: nothing to reuse
    assert calls == {"Model.load": 1}
    np.testing.assert_allclose(wrapper.predict(X), [1.0, 2.0, 3.0])


def test_the_spark_driver(sklearn_model: Path, calls: collections.Counter[str]) -> None:
    spark = SimpleNamespace(sparkContext=SimpleNamespace(master="local[2]"))
    udf = pyfunc.spark_udf(spark, str(sklearn_model))  # read in place: no Spark job
    assert calls == {"parse_model_uri": 1, "Model.load": 1}
    assert udf._source.folder == str(sklearn_model)


def test_a_model_in_its_own_environment(
    sklearn_model: Path, calls: collections.Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment builder gets the Model read by load_model; the worker (here in
    this interpreter's own environment, to build nothing) runs the pyfunc program."""
    handed: list[Any] = []

    def this_environment(model_dir: Path, manager: str, model: Model | None = None) -> Path:
        handed.append(model)
        return Path(sys.prefix)

    monkeypatch.setattr(pyfunc_ops.envs.worker, "get_environment", this_environment)
    model = pyfunc.load_model(str(sklearn_model), env_manager="virtualenv")
    assert calls == {"parse_model_uri": 1, "Model.load": 1}
    assert handed == [model.metadata]
    assert model.get_raw_model().worker.worker_module == WORKER_MODULE
    np.testing.assert_allclose(model.predict(X), [1.0, 2.0, 3.0])
    model.get_raw_model().worker.close()


def test_the_environment_spec_reads_no_mlmodel_it_is_given(
    sklearn_model: Path, calls: collections.Counter[str]
) -> None:
    model = Model.load(sklearn_model)
    calls.clear()
    assert read_env_spec(sklearn_model, model) == read_env_spec(sklearn_model)
    assert calls == {"Model.load": 1}  # only the call without a Model read it
