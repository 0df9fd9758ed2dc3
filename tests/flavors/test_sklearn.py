"""The scikit-learn flavor: formats, the flavor section, pyfunc loading, skops safety."""

from __future__ import annotations

import pickle
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

import pyfunc_ops.sklearn as pk
from pyfunc_ops.errors import InvalidParameterError, ModelExistsError, SerializationError
from pyfunc_ops.models import MLMODEL_FILE_NAME, PYFUNC_FLAVOR, Model
from pyfunc_ops.pyfunc import load_model

X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "b": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]})
Y = np.array([0, 0, 0, 1, 1, 1])


@pytest.fixture(scope="module")
def estimator() -> LogisticRegression:
    return LogisticRegression().fit(X, Y)


class Threshold(ClassifierMixin, BaseEstimator):
    """A custom estimator: skops does not trust its type unless told to."""

    def __init__(self, cut: float = 2.5) -> None:
        self.cut = cut

    def fit(self, features: object, target: object = None) -> Threshold:
        self.fitted_ = True
        return self

    def predict(self, features: object) -> np.ndarray:
        return (np.asarray(features)[:, 0] > self.cut).astype(int)


@pytest.mark.parametrize(
    ("fmt", "file_name"),
    [("skops", "model.skops"), ("cloudpickle", "model.pkl"), ("pickle", "model.pkl")],
)
def test_save_and_load_in_each_format(
    tmp_path: Path, estimator: LogisticRegression, fmt: str, file_name: str
) -> None:
    path = tmp_path / "model"
    pk.save_model(estimator, path, serialization_format=fmt)
    assert (path / file_name).is_file()

    flavors = yaml.safe_load((path / MLMODEL_FILE_NAME).read_text())["flavors"]
    sk = flavors["sklearn"]
    assert sk["pickled_model"] == file_name
    assert sk["serialization_format"] == fmt
    assert sk["sklearn_version"] == version("scikit-learn")
    pyfunc = flavors["python_function"]
    assert pyfunc["loader_module"] == "mlflow.sklearn"
    assert pyfunc["model_path"] == file_name
    assert pyfunc["predict_fn"] == "predict"
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}

    reqs = (path / "requirements.txt").read_text().splitlines()
    assert f"scikit-learn=={version('scikit-learn')}" in reqs
    assert (f"skops=={version('skops')}" in reqs) == (fmt == "skops")

    pyfunc_model = load_model(path)
    np.testing.assert_array_equal(pyfunc_model.predict(X), estimator.predict(X))
    raw = pk.load_model(path)
    assert isinstance(raw, LogisticRegression)
    np.testing.assert_array_equal(raw.coef_, estimator.coef_)
    assert pyfunc_model.get_raw_model().get_raw_model().coef_.tolist() == raw.coef_.tolist()


def test_predict_proba(tmp_path: Path, estimator: LogisticRegression) -> None:
    path = tmp_path / "model"
    pk.save_model(estimator, path, pyfunc_predict_fn="predict_proba")
    assert Model.load(path).get_flavor(PYFUNC_FLAVOR)["predict_fn"] == "predict_proba"
    out = load_model(path).predict(X)
    assert out.shape == (len(X), 2)
    np.testing.assert_allclose(out, estimator.predict_proba(X))


def test_unknown_predict_fn(tmp_path: Path, estimator: LogisticRegression) -> None:
    with pytest.raises(InvalidParameterError, match=r"LogisticRegression has no method 'score_"):
        pk.save_model(estimator, tmp_path / "model", pyfunc_predict_fn="score_all")
    assert not (tmp_path / "model").exists()


def test_bad_serialization_format(tmp_path: Path, estimator: LogisticRegression) -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"serialization_format 'joblib' is not supported; use one of \['skops', "
        r"'cloudpickle', 'pickle'\]",
    ):
        pk.save_model(estimator, tmp_path / "model", serialization_format="joblib")
    assert not (tmp_path / "model").exists()


def test_signature_and_input_example(tmp_path: Path, estimator: LogisticRegression) -> None:
    path = tmp_path / "model"
    pk.save_model(estimator, path, input_example=X.head(2))
    meta = Model.load(path)
    assert meta.signature is not None and meta.signature.inputs is not None
    assert meta.signature.inputs.names() == ["a", "b"]
    assert (path / "input_example.json").is_file()
    model = load_model(path)
    shuffled = X[["b", "a"]].assign(noise=1)
    np.testing.assert_array_equal(model.predict(shuffled), estimator.predict(X))


def test_existing_path_is_refused(tmp_path: Path, estimator: LogisticRegression) -> None:
    path = tmp_path / "model"
    pk.save_model(estimator, path)
    with pytest.raises(ModelExistsError, match=r"already exists"):
        pk.save_model(estimator, path, serialization_format="pickle")
    assert Model.load(path).get_flavor("sklearn")["serialization_format"] == "skops"


def test_custom_type_needs_trust_with_skops(tmp_path: Path) -> None:
    custom = Threshold().fit(X)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(
        SerializationError,
        match=r"Threshold: the skops file references types skops does not trust by default: "
        r"\['test_sklearn\.Threshold'\]\. If loading them is safe, pass skops_trusted_types",
    ):
        pk.save_model(custom, out / "model")
    assert list(out.iterdir()) == []  # nothing half-written

    pk.save_model(custom, out / "pickled", serialization_format="cloudpickle")
    np.testing.assert_array_equal(load_model(out / "pickled").predict(X), custom.predict(X))

    pk.save_model(custom, out / "trusted", skops_trusted_types=["test_sklearn.Threshold"])
    flavor = Model.load(out / "trusted").get_flavor("sklearn")
    assert flavor["skops_trusted_types"] == ["test_sklearn.Threshold"]
    # The recorded list says what the file needs; a trusted source (this local folder)
    # may run a pickle anyway, so its list is honoured (issue 23; untrusted: see
    # tests/hostile/test_load_safety.py).
    np.testing.assert_array_equal(load_model(out / "trusted").predict(X), custom.predict(X))
    types = ["test_sklearn.Threshold"]
    np.testing.assert_array_equal(
        load_model(out / "trusted", skops_trusted_types=types).predict(X), custom.predict(X)
    )
    assert isinstance(pk.load_model(out / "trusted", skops_trusted_types=types), Threshold)


def test_skops_refuses_types_not_recorded_as_trusted(tmp_path: Path) -> None:
    path = tmp_path / "model"
    pk.save_model(Threshold().fit(X), path, skops_trusted_types=["test_sklearn.Threshold"])
    data = yaml.safe_load((path / MLMODEL_FILE_NAME).read_text())
    data["flavors"]["sklearn"]["skops_trusted_types"] = None  # e.g. a file swapped afterwards
    (path / MLMODEL_FILE_NAME).write_text(yaml.safe_dump(data))
    with pytest.raises(SerializationError, match=r"refusing to load types not recorded as trusted"):
        load_model(path)
    with pytest.raises(SerializationError, match=r"pass them as skops_trusted_types"):
        pk.load_model(path)
    assert isinstance(
        pk.load_model(path, skops_trusted_types=["test_sklearn.Threshold"]), Threshold
    )


def write_legacy(path: Path, estimator: object, mlmodel: str, pkl: str = "model.pkl") -> None:
    (path / pkl).parent.mkdir(parents=True, exist_ok=True)
    with open(path / pkl, "wb") as fh:
        pickle.dump(estimator, fh)
    (path / MLMODEL_FILE_NAME).write_text(mlmodel)


def test_legacy_data_layout_via_load_pyfunc(tmp_path: Path, estimator: LogisticRegression) -> None:
    write_legacy(tmp_path, estimator, "loader_module: pyfunc_ops.sklearn\ndata: model.pkl\n")
    wrapper = pk._load_pyfunc(str(tmp_path / "model.pkl"))
    np.testing.assert_array_equal(wrapper.predict(X), estimator.predict(X))
    np.testing.assert_array_equal(load_model(tmp_path).predict(X), estimator.predict(X))


def test_reference_documentation_example_layout(
    tmp_path: Path, estimator: LogisticRegression
) -> None:
    (tmp_path / "code").mkdir()
    write_legacy(
        tmp_path,
        estimator,
        "flavors:\n  sklearn:\n    sklearn_version: 0.19.1\n    pickled_model: model.pkl\n"
        "code: code\ndata: data/model.pkl\nloader_module: mlflow.sklearn\n"
        "env: mlflow_env.yml\nmain: sklearn_iris\n",
        pkl="data/model.pkl",
    )
    model = load_model(tmp_path)
    assert model.metadata.layout == "flat"
    np.testing.assert_array_equal(model.predict(X), estimator.predict(X))


def test_load_pyfunc_of_a_folder_without_a_model_file_name(tmp_path: Path) -> None:
    (tmp_path / MLMODEL_FILE_NAME).write_text(
        "flavors:\n  python_function: {loader_module: pyfunc_ops.sklearn}\n"
    )
    with pytest.raises(SerializationError, match=r"the MLmodel names no serialized estimator"):
        pk._load_pyfunc(str(tmp_path))


def test_unknown_serialization_format_in_a_model(
    tmp_path: Path, estimator: LogisticRegression
) -> None:
    path = tmp_path / "model"
    pk.save_model(estimator, path, serialization_format="pickle")
    text = (path / MLMODEL_FILE_NAME).read_text()
    (path / MLMODEL_FILE_NAME).write_text(
        text.replace("serialization_format: pickle", "serialization_format: joblib")
    )
    with pytest.raises(SerializationError, match=r"unknown serialization_format 'joblib'"):
        load_model(path)


def test_load_model_of_a_model_without_the_sklearn_flavor(tmp_path: Path) -> None:
    from pyfunc_ops.pyfunc import PythonModel, save_model

    class Echo(PythonModel):
        def predict(self, model_input: object) -> object:
            return model_input

    save_model(tmp_path / "model", python_model=Echo())
    with pytest.raises(InvalidParameterError, match=r"has no 'sklearn' flavor; load it with"):
        pk.load_model(tmp_path / "model")


@pytest.mark.parametrize(
    ("fmt", "file_name", "content", "message"),
    [
        ("skops", "model.skops", b"not a zip at all", r"model\.skops: not a readable skops file"),
        ("skops", "model.skops", b"PK\x03\x04truncated", r"model\.skops: not a readable skops"),
        ("pickle", "model.pkl", b"\x80\x04\x95", r"model\.pkl: not a readable pickle"),
        ("cloudpickle", "model.pkl", b"garbage", r"model\.pkl: not a readable pickle"),
    ],
)
def test_a_damaged_estimator_file_is_a_serialization_error_naming_it(
    tmp_path: Path,
    estimator: LogisticRegression,
    fmt: str,
    file_name: str,
    content: bytes,
    message: str,
) -> None:
    pk.save_model(estimator, tmp_path / "m", serialization_format=fmt)
    (tmp_path / "m" / file_name).write_bytes(content)
    with pytest.raises(SerializationError, match=message):
        load_model(tmp_path / "m")
    with pytest.raises(SerializationError, match=message):
        pk.load_model(tmp_path / "m")


def test_a_damaged_skops_file_to_package_is_a_serialization_error(tmp_path: Path) -> None:
    from pyfunc_ops.jobs.packaging import load_estimator_file

    (tmp_path / "est.skops").write_bytes(b"garbage")
    with pytest.raises(SerializationError, match=r"'.*est\.skops' is not a readable skops file"):
        load_estimator_file(str(tmp_path / "est.skops"))
