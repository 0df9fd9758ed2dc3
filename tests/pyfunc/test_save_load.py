"""save_model / load_model: workflow 2, environments, metadata, URIs, warnings, atomicity."""

from __future__ import annotations

import uuid
import warnings
from pathlib import Path

import pandas as pd
import pytest
import yaml

import pyfunc_ops
from pyfunc_ops.core.versions import python_version
from pyfunc_ops.errors import (
    InvalidParameterError,
    LoaderError,
    ModelExistsError,
    ModelFormatError,
    ModelNotFoundError,
    SerializationError,
    UntrustedModelError,
)
from pyfunc_ops.models import MLMODEL_FILE_NAME, PYFUNC_FLAVOR, Model
from pyfunc_ops.models.env import get_default_conda_env
from pyfunc_ops.pyfunc import (
    PyFuncModel,
    PythonModel,
    add_to_model,
    load_model,
    load_pyfunc,
    save_model,
)

LOADER_SOURCE = """\
import os

class _Model:
    def __init__(self, path):
        self.path = path
        if os.path.isdir(path):
            self.payload = sorted(os.listdir(path))
        else:
            with open(path) as fh:
                self.payload = fh.read()

    def predict(self, model_input):
        return __import__("pandas").DataFrame(model_input)["x"] * 2

def _load_pyfunc(path):
    return _Model(path)
"""


def unique(prefix: str) -> str:
    """A module name no other test has imported (sys.modules outlives sys.path)."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def loader_file(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    path = src / f"{unique('loader')}.py"
    path.write_text(LOADER_SOURCE)
    return path


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "weights.txt"
    path.write_text("w=3")
    return path


def save_w2(path: Path, loader_file: Path, **kwargs: object) -> Model:
    kwargs.setdefault("code_path", [loader_file])
    return save_model(path, loader_module=loader_file.stem, **kwargs)  # type: ignore[arg-type]


# -- add_to_model -----------------------------------------------------------------------------
def test_add_to_model_adds_the_python_function_flavor() -> None:
    model = Model()
    out = add_to_model(
        model, "my.loader", data="data/m.pkl", code="code", env="conda.yaml", main="entry"
    )
    assert out is model
    assert model.get_flavor(PYFUNC_FLAVOR) == {
        "loader_module": "my.loader",
        "code": "code",
        "data": "data/m.pkl",
        "env": "conda.yaml",
        "python_version": python_version(),
        "main": "entry",
    }
    written = yaml.safe_load(model.to_yaml())["flavors"]["python_function"]
    assert written["main"] == "entry"


def test_add_to_model_refuses_a_value_that_is_not_yaml_serializable() -> None:
    with pytest.raises(
        SerializationError, match=r"'flavors\.python_function\.threshold'.*not YAML-serializable"
    ):
        add_to_model(Model(), "my.loader", threshold=object())


def test_add_to_model_needs_a_loader_module() -> None:
    with pytest.raises(InvalidParameterError, match=r"loader_module must be a dotted module name"):
        add_to_model(Model(), "")


# -- workflow 2 -------------------------------------------------------------------------------
def test_workflow_2_with_a_code_file_and_a_data_file(
    tmp_path: Path, loader_file: Path, data_file: Path
) -> None:
    path = tmp_path / "model"
    save_w2(path, loader_file, data_path=data_file)
    loader_file.unlink()  # the loader must come from the model's own code/ folder
    assert (path / "code" / loader_file.name).is_file()
    assert (path / "data" / "weights.txt").read_text() == "w=3"
    conf = Model.load(path).get_flavor(PYFUNC_FLAVOR)
    assert conf["loader_module"] == loader_file.stem
    assert conf["code"] == "code"
    assert conf["data"] == "data/weights.txt"

    model = load_model(path)
    assert isinstance(model, PyFuncModel)
    impl = model.get_raw_model()
    assert impl.path == str(path.absolute() / "data" / "weights.txt")
    assert impl.payload == "w=3"
    assert model.predict(pd.DataFrame({"x": [1, 2]})).tolist() == [2, 4]
    assert model.metadata.get_flavor(PYFUNC_FLAVOR)["loader_module"] == loader_file.stem


def test_workflow_2_with_a_code_folder_and_a_data_folder(tmp_path: Path) -> None:
    pkg = unique("pkg")
    src = tmp_path / "src" / pkg
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "loader.py").write_text(LOADER_SOURCE)
    data = tmp_path / "weights"
    data.mkdir()
    (data / "a.bin").write_bytes(b"1")
    (data / "b.bin").write_bytes(b"2")
    path = tmp_path / "model"
    save_model(path, loader_module=f"{pkg}.loader", data_path=data, code_path=[src])
    model = load_model(path)
    impl = model.get_raw_model()
    assert impl.path == str(path.absolute() / "data" / "weights")
    assert impl.payload == ["a.bin", "b.bin"]
    assert model.predict({"x": [5]}).tolist() == [10]


def test_workflow_2_without_data_hands_over_the_model_folder(
    tmp_path: Path, loader_file: Path
) -> None:
    path = tmp_path / "model"
    save_w2(path, loader_file)
    assert "data" not in Model.load(path).get_flavor(PYFUNC_FLAVOR)
    impl = load_model(path).get_raw_model()
    assert impl.path == str(path.absolute())
    assert MLMODEL_FILE_NAME in impl.payload


def test_unknown_loader_module(tmp_path: Path) -> None:
    path = tmp_path / "model"
    save_model(path, loader_module="no_such_module_xyz")
    with pytest.raises(LoaderError, match=r"Cannot import the model's loader module 'no_such_"):
        load_model(path)


def test_loader_module_without_load_pyfunc(tmp_path: Path) -> None:
    module = tmp_path / f"{unique('empty')}.py"
    module.write_text("X = 1\n")
    path = tmp_path / "model"
    save_model(path, loader_module=module.stem, code_path=[module])
    with pytest.raises(LoaderError, match=r"has no _load_pyfunc\(path\) function"):
        load_model(path)


class _Echo(PythonModel):
    def predict(self, context, model_input):  # type: ignore[no-untyped-def]
        return model_input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"python_model": _Echo(), "loader_module": "m"},
            r"\['python_model'\] \(workflow 1, a PythonModel\) cannot be combined with "
            r"\['loader_module'\]",
        ),
        (
            {"artifacts": {"a": "x"}, "loader_module": "m"},
            r"\['artifacts'\] .* cannot be combined with \['loader_module'\]",
        ),
        (
            {"python_model": _Echo(), "data_path": "x"},
            r"cannot be combined with \['data_path'\].*not both",
        ),
        ({}, r"give python_model=<PythonModel instance> \(workflow 1\) or loader_module="),
        ({"artifacts": {"a": "x"}}, r"give python_model=<PythonModel instance>"),
        ({"python_model": object()}, r"must be an instance of a PythonModel subclass, got object"),
        ({"loader_module": "m", "data_path": "/no/such/file"}, r"data_path '/no/such/file' does"),
        ({"loader_module": "m", "code_path": "src"}, r"code_path must be a list.*wrap it"),
        ({"loader_module": "m", "code_path": ["/no/such/dir"]}, r"'/no/such/dir' does not exist"),
    ],
)
def test_invalid_save_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    path = tmp_path / "model"
    with pytest.raises(InvalidParameterError, match=message):
        save_model(path, **kwargs)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


# -- environment files ------------------------------------------------------------------------
def env_files(path: Path) -> tuple[dict, dict, list[str]]:
    conda = yaml.safe_load((path / "conda.yaml").read_text())
    python_env = yaml.safe_load((path / "python_env.yaml").read_text())
    reqs = (path / "requirements.txt").read_text().splitlines()
    return conda, python_env, reqs


def pip_of(conda: dict) -> list[str]:
    return next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))


def test_default_environment(tmp_path: Path, loader_file: Path) -> None:
    import cloudpickle

    path = tmp_path / "model"
    save_w2(path, loader_file)
    conda, python_env, reqs = env_files(path)
    assert conda == get_default_conda_env()
    version = python_version()
    assert f"python={version}" in conda["dependencies"]
    assert reqs == pip_of(conda)
    assert f"cloudpickle=={cloudpickle.__version__}" in reqs
    assert not any(r.startswith("pyfunc") for r in reqs)  # on no index: never listed
    assert "mlflow==3.18.0" in reqs
    assert python_env["python"] == version
    assert python_env["dependencies"] == ["-r requirements.txt"]
    assert Model.load(path).get_flavor(PYFUNC_FLAVOR)["env"] == {
        "conda": "conda.yaml",
        "virtualenv": "python_env.yaml",
    }


CONDA = {
    "name": "custom",
    "channels": ["defaults"],
    "dependencies": ["python=3.10.12", "pip", {"pip": ["numpy==1.26.4", "pyfunc-ops"]}],
}


def test_conda_env_as_a_dict(tmp_path: Path, loader_file: Path) -> None:
    path = tmp_path / "model"
    save_w2(path, loader_file, conda_env=CONDA)
    conda, python_env, reqs = env_files(path)
    assert conda == CONDA
    assert reqs == ["numpy==1.26.4", "pyfunc-ops"]
    assert python_env["python"] == "3.10.12"


def test_conda_env_as_a_yaml_path(tmp_path: Path, loader_file: Path) -> None:
    env = tmp_path / "env.yaml"
    env.write_text(yaml.safe_dump(CONDA))
    path = tmp_path / "model"
    save_w2(path, loader_file, conda_env=str(env))
    conda, python_env, reqs = env_files(path)
    assert conda == CONDA
    assert reqs == ["numpy==1.26.4", "pyfunc-ops"]
    assert python_env["python"] == "3.10.12"


def test_conda_env_path_that_does_not_exist(tmp_path: Path, loader_file: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"conda_env: '.*nope.yaml' is not a file"):
        save_w2(tmp_path / "model", loader_file, conda_env=str(tmp_path / "nope.yaml"))
    assert not (tmp_path / "model").exists()


def test_conda_env_yaml_that_is_not_a_mapping(tmp_path: Path, loader_file: Path) -> None:
    env = tmp_path / "env.yaml"
    env.write_text("- numpy\n")
    with pytest.raises(InvalidParameterError, match=r"does not hold a YAML mapping"):
        save_w2(tmp_path / "model", loader_file, conda_env=env)


def test_pip_requirements_replace_the_defaults(tmp_path: Path, loader_file: Path) -> None:
    path = tmp_path / "model"
    save_w2(path, loader_file, pip_requirements=["pandas==2.2.0", "scipy"])
    conda, _, reqs = env_files(path)
    assert reqs == ["pandas==2.2.0", "scipy"]
    assert pip_of(conda) == reqs


def test_pip_requirements_from_a_file(tmp_path: Path, loader_file: Path) -> None:
    req_file = tmp_path / "reqs.txt"
    req_file.write_text("# pinned\nscipy==1.13.0\n\nrequests\n")
    path = tmp_path / "model"
    save_w2(path, loader_file, pip_requirements=str(req_file))
    assert env_files(path)[2] == ["scipy==1.13.0", "requests"]


def test_extra_pip_requirements_add_to_the_defaults(tmp_path: Path, loader_file: Path) -> None:
    path = tmp_path / "model"
    save_w2(path, loader_file, extra_pip_requirements=["scipy==1.13.0"])
    conda, _, reqs = env_files(path)
    assert reqs == pip_of(get_default_conda_env()) + ["scipy==1.13.0"]
    assert pip_of(conda) == reqs


def test_environment_arguments_are_exclusive(tmp_path: Path, loader_file: Path) -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"Only one of conda_env, pip_requirements and extra_pip_requirements.*"
        r"got conda_env, pip_requirements",
    ):
        save_w2(tmp_path / "model", loader_file, conda_env=CONDA, pip_requirements=["x"])
    assert not (tmp_path / "model").exists()


def test_requirements_path_that_does_not_exist(tmp_path: Path, loader_file: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"extra_pip_requirements: '.*' is not a req"):
        save_w2(tmp_path / "model", loader_file, extra_pip_requirements="missing.txt")


# -- mlflow_model= and metadata ---------------------------------------------------------------
def test_mlflow_model_gets_the_flavor_added(tmp_path: Path, loader_file: Path) -> None:
    given = Model(artifact_path="churn", run_id="run-1", team="data-eng")
    given.add_flavor("custom", version=1)
    path = tmp_path / "model"
    returned = save_w2(path, loader_file, mlflow_model=given)
    assert returned is given
    loaded = Model.load(path)
    assert loaded.model_uuid == given.model_uuid
    assert loaded.run_id == "run-1"
    assert loaded.artifact_path == "churn"
    assert loaded.extra["team"] == "data-eng"
    assert loaded.get_flavor("custom") == {"version": 1}
    assert loaded.get_flavor(PYFUNC_FLAVOR)["loader_module"] == loader_file.stem


def test_saved_metadata(tmp_path: Path, loader_file: Path) -> None:
    path = tmp_path / "model"
    save_w2(path, loader_file)
    raw = yaml.safe_load((path / MLMODEL_FILE_NAME).read_text())
    assert len(raw["model_uuid"]) == 32
    assert raw["utc_time_created"]
    assert raw["pyfunc_ops_version"] == pyfunc_ops.__version__
    assert raw["flavors"]["python_function"]["python_version"] == (python_version())


def test_flavor_kwargs_are_stored(tmp_path: Path, loader_file: Path) -> None:
    path = tmp_path / "model"
    save_w2(path, loader_file, threshold=0.5)
    assert Model.load(path).get_flavor(PYFUNC_FLAVOR)["threshold"] == 0.5


# -- load_model URIs --------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path: Path, loader_file: Path) -> Path:
    path = tmp_path / "models" / "m1"
    save_w2(path, loader_file)
    return path


def test_load_model_from_an_absolute_path(saved: Path) -> None:
    assert load_model(str(saved)).predict({"x": [1]}).tolist() == [2]
    assert load_model(saved).model_path == str(saved)


def test_load_model_from_a_relative_path(
    saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    model = load_model("models/m1")
    assert model.model_path == str(saved)
    assert model.predict({"x": [3]}).tolist() == [6]


def test_load_model_from_a_file_uri(saved: Path) -> None:
    model = load_model(saved.as_uri())
    assert model.model_path == str(saved)
    assert model.predict({"x": [4]}).tolist() == [8]


def test_load_model_from_an_fsspec_url(saved: Path) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"/models-{uuid.uuid4().hex[:8]}/m1"
    for item in saved.rglob("*"):
        if item.is_file():
            fs.pipe(f"{root}/{item.relative_to(saved).as_posix()}", item.read_bytes())
    try:
        # A memory:// URL is no trust root: its code/ folder runs only when the caller opts in.
        with pytest.raises(UntrustedModelError, match=r"code folder 'code'.*trust_remote_code"):
            load_model(f"memory://{root}")
        model = load_model(f"memory://{root}", trust_remote_code=True)
        assert model.predict({"x": [5]}).tolist() == [10]
        assert Path(model.model_path) != saved
    finally:
        fs.rm(root, recursive=True)


def test_load_model_where_there_is_none(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"No model at .*expected an MLmodel file"):
        load_model(tmp_path)


def test_load_model_bad_env_manager(saved: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"env_manager 'docker' is not supported"):
        load_model(saved, env_manager="docker")


def test_load_model_from_a_flat_layout_model(tmp_path: Path, loader_file: Path) -> None:
    path = tmp_path / "legacy"
    (path / "code").mkdir(parents=True)
    (path / "code" / loader_file.name).write_text(LOADER_SOURCE)
    (path / "model.txt").write_text("legacy")
    (path / MLMODEL_FILE_NAME).write_text(
        f"loader_module: {loader_file.stem}\ncode: code\ndata: model.txt\nenv: conda.yaml\n"
    )
    model = load_model(path)
    assert model.get_raw_model().payload == "legacy"
    assert model.predict({"x": [1]}).tolist() == [2]


# -- warnings ---------------------------------------------------------------------------------
def edit_mlmodel(path: Path, **pyfunc_keys: str) -> None:
    data = yaml.safe_load((path / MLMODEL_FILE_NAME).read_text())
    data["flavors"]["python_function"].update(pyfunc_keys)
    (path / MLMODEL_FILE_NAME).write_text(yaml.safe_dump(data))


def test_no_warning_for_a_model_saved_here(saved: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(saved, suppress_warnings=False)


def test_warns_about_a_different_python_version(saved: Path) -> None:
    edit_mlmodel(saved, python_version="2.7.18")
    with pytest.warns(UserWarning, match=r"saved with Python 2\.7\.18 and is loaded with Python"):
        load_model(saved, suppress_warnings=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(saved, suppress_warnings=True)
        load_model(saved)  # suppressed by default


def test_same_minor_python_version_does_not_warn(saved: Path) -> None:
    import sys

    edit_mlmodel(saved, python_version="{}.{}.999".format(*sys.version_info[:2]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(saved, suppress_warnings=False)


def test_warns_about_mismatching_requirements(saved: Path) -> None:
    from importlib.metadata import version

    with open(saved / "requirements.txt", "a") as fh:
        fh.write("scikit-learn==0.0.1\nsurely-not-installed-pkg==1.0\nunpinned-pkg\n")
    with pytest.warns(UserWarning, match=r"requirements\.txt") as record:
        load_model(saved, suppress_warnings=False)
    message = str(record[0].message)
    assert f"scikit-learn==0.0.1 (installed: {version('scikit-learn')})" in message
    assert "surely-not-installed-pkg==1.0 (not installed)" in message
    assert "unpinned-pkg" not in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(saved, suppress_warnings=True)


def test_mlflow_pins_are_not_reported(saved: Path) -> None:
    with open(saved / "requirements.txt", "a") as fh:
        fh.write("mlflow==2.9.0\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(saved, suppress_warnings=False)


def test_load_pyfunc_is_deprecated_and_warns_by_default(saved: Path) -> None:
    edit_mlmodel(saved, python_version="2.7.18")
    with (
        pytest.warns(DeprecationWarning, match=r"load_pyfunc is deprecated; use .*load_model"),
        pytest.warns(UserWarning, match=r"saved with Python 2\.7\.18"),
    ):
        model = load_pyfunc(str(saved))
    assert model.predict({"x": [1]}).tolist() == [2]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        load_pyfunc(saved, suppress_warnings=True)
    assert [w.category for w in record] == [DeprecationWarning]


# -- signature and input example through predict ----------------------------------------------
SEEN_SOURCE = """\
class _Model:
    def predict(self, model_input):
        return model_input

def _load_pyfunc(path):
    return _Model()
"""


@pytest.fixture
def echo_loader(tmp_path: Path) -> Path:
    path = tmp_path / "src2" / f"{unique('echo')}.py"
    path.parent.mkdir()
    path.write_text(SEEN_SOURCE)
    return path


def test_input_example_is_saved_and_signature_inferred(tmp_path: Path, echo_loader: Path) -> None:
    from pyfunc_ops.models.example import load_input_example

    example = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]})
    path = tmp_path / "model"
    save_w2(path, echo_loader, input_example=example)
    meta = Model.load(path)
    assert meta.saved_input_example_info == {
        "artifact_path": "input_example.json",
        "type": "dataframe",
        "pandas_orient": "split",
        "serving_input_path": "serving_input_example.json",
    }
    pd.testing.assert_frame_equal(load_input_example(path, meta.saved_input_example_info), example)
    assert meta.signature is not None and meta.signature.inputs is not None
    assert [(c.name, c.type) for c in meta.signature.inputs.inputs] == [
        ("a", "long"),
        ("b", "double"),
        ("c", "string"),
    ]


def test_bad_input_example(tmp_path: Path, echo_loader: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"input_example: expected a pandas DataFrame"):
        save_w2(tmp_path / "model", echo_loader, input_example=42)
    assert not (tmp_path / "model").exists()


def test_predict_enforces_the_signature(tmp_path: Path, echo_loader: Path) -> None:
    from pyfunc_ops.errors import SchemaEnforcementError
    from pyfunc_ops.models.signature import infer_signature

    example = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})
    path = tmp_path / "model"
    save_w2(path, echo_loader, signature=infer_signature(example))
    model = load_model(path)
    with pytest.raises(SchemaEnforcementError, match=r"missing required column\(s\) \['b'\]"):
        model.predict(pd.DataFrame({"a": [1]}))
    seen = model.predict(
        pd.DataFrame(
            {
                "extra": ["z"],
                "b": pd.Series([2.5], dtype="float32"),
                "a": pd.Series([7], dtype="int32"),
            }
        )
    )
    assert list(seen.columns) == ["a", "b"]
    assert [str(t) for t in seen.dtypes] == ["int64", "float64"]
    with pytest.raises(SchemaEnforcementError, match=r"column 'a': expected type 'long'"):
        model.predict(pd.DataFrame({"a": [1.5], "b": [0.5]}))


def test_predict_rejects_input_that_is_not_tabular(tmp_path: Path, echo_loader: Path) -> None:
    from pyfunc_ops.errors import SchemaEnforcementError
    from pyfunc_ops.models.signature import infer_signature

    path = tmp_path / "model"
    save_w2(path, echo_loader)
    assert load_model(path).predict(3) == 3  # no signature: the input reaches the model as is
    signed = tmp_path / "signed"
    save_w2(signed, echo_loader, signature=infer_signature(pd.DataFrame({"x": [1.0]})))
    with pytest.raises(SchemaEnforcementError, match=r"must be tabular; found a object"):
        load_model(signed).predict(object())


# -- atomic save ------------------------------------------------------------------------------
def test_existing_non_empty_path_is_refused(tmp_path: Path, loader_file: Path) -> None:
    path = tmp_path / "model"
    path.mkdir()
    (path / "keep.txt").write_text("precious")
    with pytest.raises(ModelExistsError, match=r"already exists and is not an empty folder"):
        save_w2(path, loader_file)
    assert [p.name for p in path.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "src"]


def test_existing_file_is_refused(tmp_path: Path, loader_file: Path) -> None:
    path = tmp_path / "model"
    path.write_text("x")
    with pytest.raises(ModelExistsError, match=r"Choose a new path"):
        save_w2(path, loader_file)


def test_existing_empty_folder_is_used(tmp_path: Path, loader_file: Path) -> None:
    path = tmp_path / "model"
    path.mkdir()
    save_w2(path, loader_file)
    assert (path / MLMODEL_FILE_NAME).is_file()


def test_second_save_to_the_same_path_is_refused(saved: Path, loader_file: Path) -> None:
    before = (saved / MLMODEL_FILE_NAME).read_text()
    with pytest.raises(ModelExistsError):
        save_w2(saved, loader_file)
    assert (saved / MLMODEL_FILE_NAME).read_text() == before


def test_failure_mid_save_leaves_nothing(tmp_path: Path, loader_file: Path) -> None:
    parent = tmp_path / "out"
    parent.mkdir()
    with pytest.raises(SerializationError, match=r"flavors\.python_function\.bad"):
        save_w2(parent / "model", loader_file, data_path=loader_file, bad=object())
    assert list(parent.iterdir()) == []


def test_model_folder_is_readable_by_others(tmp_path: Path, loader_file: Path) -> None:
    path = tmp_path / "model"
    save_w2(path, loader_file)
    assert path.stat().st_mode & 0o755 == 0o755


def test_code_folder_named_in_mlmodel_but_missing(tmp_path: Path) -> None:
    (tmp_path / MLMODEL_FILE_NAME).write_text("loader_module: some_loader\ncode: code\n")
    with pytest.raises(ModelFormatError, match=r"'code' names the folder 'code', but .* is not a"):
        load_model(tmp_path)


def test_a_new_flavor_is_a_writer_for_the_save_pipeline(tmp_path: Path) -> None:
    """What a flavor module needs: write its file and its sections; the pipeline does the
    staging, code, environment files, MLmodel and publishing."""
    from pyfunc_ops.pyfunc.save import StagedModel, write_model

    loader = tmp_path / "src" / "constant_flavor.py"
    loader.parent.mkdir()
    loader.write_text(
        "from pathlib import Path\n"
        "class M:\n"
        "    def __init__(self, value):\n"
        "        self.value = value\n"
        "    def predict(self, model_input):\n"
        "        import pandas\n"
        "        return [self.value] * len(pandas.DataFrame(model_input))\n"
        "def _load_pyfunc(path):\n"
        "    return M(float((Path(path) / 'value.txt').read_text()))\n"
    )

    def write(staged: StagedModel) -> None:
        (staged.path / "value.txt").write_text("7.5")
        add_to_model(staged.model, "constant_flavor", code=staged.code, env=staged.env)
        staged.model.add_flavor("constant", value_file="value.txt")

    model = write_model(tmp_path / "m", write, code_path=[loader], pip_requirements=["numpy"])
    assert model.flavors["constant"] == {"value_file": "value.txt"}
    assert (tmp_path / "m" / "code" / "constant_flavor.py").is_file()
    assert (tmp_path / "m" / "requirements.txt").read_text().split() == ["numpy"]
    loaded = load_model(tmp_path / "m")
    assert loaded.predict({"x": [1, 2]}) == [7.5, 7.5]


def test_the_save_pipeline_publishes_nothing_when_the_flavor_fails(tmp_path: Path) -> None:
    from pyfunc_ops.pyfunc.save import StagedModel, write_model

    def write(staged: StagedModel) -> None:
        (staged.path / "half.bin").write_bytes(b"x")
        raise SerializationError("cannot serialize the test model")

    with pytest.raises(SerializationError, match="cannot serialize the test model"):
        write_model(tmp_path / "m", write)
    assert list(tmp_path.iterdir()) == []
