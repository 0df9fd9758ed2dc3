"""The MLmodel file: both layouts, env forms, unknown keys, metadata and validation."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

import pyfunc_ops
from pyfunc_ops.core.versions import python_version
from pyfunc_ops.errors import ModelFormatError, ModelNotFoundError, SerializationError
from pyfunc_ops.models import MLMODEL_FILE_NAME, PYFUNC_FLAVOR, Model
from pyfunc_ops.models.signature import ColSpec, ModelSignature, Schema

NESTED = """\
artifact_path: model
flavors:
  python_function:
    loader_module: my_pkg.loader
    code: code
    data: data/model.pkl
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    python_version: 3.10.4
    custom_flavor_key: [1, 2]
  sklearn:
    pickled_model: model.pkl
    sklearn_version: 1.4.2
run_id: abc123
model_uuid: 0123456789abcdef0123456789abcdef
utc_time_created: '2024-01-02 03:04:05.000006'
mlflow_version: 2.12.1
metadata:
  owner: data-eng
"""

# The layout of the format's first documentation (reference, "Example").
FLAT = """\
time_created: 2018-02-14T19:53:24.567Z
flavors:
  sklearn:
    sklearn_version: 0.19.1
    pickled_model: model.pkl
code: code
data: data/model.pkl
loader_module: mlflow.sklearn
env: mlflow_env.yml
main: sklearn_iris
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / MLMODEL_FILE_NAME).write_text(text)
    return tmp_path


def test_nested_layout_is_read(tmp_path: Path) -> None:
    model = Model.load(write(tmp_path, NESTED))
    assert model.layout == "nested"
    pyfunc = model.get_flavor(PYFUNC_FLAVOR)
    assert pyfunc["loader_module"] == "my_pkg.loader"
    assert pyfunc["code"] == "code"
    assert pyfunc["data"] == "data/model.pkl"
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    assert model.get_flavor("sklearn")["pickled_model"] == "model.pkl"
    assert model.artifact_path == "model"
    assert model.run_id == "abc123"
    assert model.model_uuid == "0123456789abcdef0123456789abcdef"
    assert model.utc_time_created == "2024-01-02 03:04:05.000006"
    assert model.python_version == "3.10.4"


def test_nested_layout_round_trip_keeps_unknown_keys(tmp_path: Path) -> None:
    write(tmp_path, NESTED)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    Model.load(tmp_path).save(out_dir)
    original = yaml.safe_load(NESTED)
    written = yaml.safe_load((out_dir / MLMODEL_FILE_NAME).read_text())
    for key, value in original.items():
        assert written[key] == value, key
    assert written["flavors"]["python_function"]["custom_flavor_key"] == [1, 2]
    assert Model.load(out_dir).extra == {
        "mlflow_version": "2.12.1",
        "metadata": {"owner": "data-eng"},
    }


def test_flat_layout_is_read_into_the_python_function_flavor(tmp_path: Path) -> None:
    model = Model.load(write(tmp_path, FLAT))
    assert model.layout == "flat"
    assert model.get_flavor(PYFUNC_FLAVOR) == {
        "loader_module": "mlflow.sklearn",
        "code": "code",
        "data": "data/model.pkl",
        "env": "mlflow_env.yml",
        "main": "sklearn_iris",
    }
    assert model.get_flavor("sklearn")["pickled_model"] == "model.pkl"
    assert "time_created" in model.extra


def test_flat_layout_is_written_back_flat(tmp_path: Path) -> None:
    model = Model.load(write(tmp_path, FLAT))
    out = tmp_path / "out"
    out.mkdir()
    model.save(out)
    written = yaml.safe_load((out / MLMODEL_FILE_NAME).read_text())
    assert written["loader_module"] == "mlflow.sklearn"
    assert written["env"] == "mlflow_env.yml"
    assert written["main"] == "sklearn_iris"
    assert written["data"] == "data/model.pkl"
    assert written["code"] == "code"
    assert "python_function" not in written["flavors"]
    assert written["flavors"]["sklearn"] == {
        "sklearn_version": "0.19.1",
        "pickled_model": "model.pkl",
    }
    assert written["time_created"] == yaml.safe_load(FLAT)["time_created"]
    again = Model.load(out)
    assert again.layout == "flat"
    assert again.get_flavor(PYFUNC_FLAVOR) == model.get_flavor(PYFUNC_FLAVOR)


def test_flat_layout_without_other_flavors_writes_no_flavors_key(tmp_path: Path) -> None:
    model = Model.load(write(tmp_path, "loader_module: my_loader\ndata: model.pkl\n"))
    written = yaml.safe_load(model.to_yaml())
    assert "flavors" not in written
    assert written["loader_module"] == "my_loader"
    assert written["data"] == "model.pkl"


def test_env_as_a_string_and_as_a_mapping(tmp_path: Path) -> None:
    text = "flavors:\n  python_function:\n    loader_module: m\n    env: conda.yaml\n"
    model = Model.load(write(tmp_path, text))
    assert model.get_flavor(PYFUNC_FLAVOR)["env"] == "conda.yaml"
    assert yaml.safe_load(model.to_yaml())["flavors"]["python_function"]["env"] == "conda.yaml"
    text = (
        "flavors:\n  python_function:\n    loader_module: m\n"
        "    env: {conda: conda.yaml, virtualenv: python_env.yaml}\n"
    )
    model = Model.load(write(tmp_path, text))
    assert model.get_flavor(PYFUNC_FLAVOR)["env"] == {
        "conda": "conda.yaml",
        "virtualenv": "python_env.yaml",
    }


def test_new_model_has_standard_metadata() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)
    model = Model()
    data = yaml.safe_load(model.to_yaml())
    assert re.fullmatch(r"[0-9a-f]{32}", data["model_uuid"])
    assert Model().model_uuid != model.model_uuid
    created = datetime.strptime(data["utc_time_created"], "%Y-%m-%d %H:%M:%S.%f")
    assert before <= created <= datetime.now(timezone.utc).replace(tzinfo=None)
    assert data["pyfunc_ops_version"] == pyfunc_ops.__version__
    assert python_version() == "{}.{}.{}".format(*sys.version_info[:3])


def test_producer_version_of_a_read_model_is_kept(tmp_path: Path) -> None:
    text = "flavors:\n  python_function: {loader_module: m}\npyfunc_ops_version: 0.0.1\n"
    model = Model.load(write(tmp_path, text))
    assert model.pyfunc_ops_version == "0.0.1"
    assert yaml.safe_load(model.to_yaml())["pyfunc_ops_version"] == "0.0.1"


def test_signature_round_trip(tmp_path: Path) -> None:
    sig = ModelSignature(
        inputs=Schema([ColSpec("double", "x"), ColSpec("string", "name", required=False)]),
        outputs=Schema([ColSpec("long")]),
    )
    model = Model(signature=sig).add_flavor(PYFUNC_FLAVOR, loader_module="m")
    model.save(tmp_path)
    loaded = Model.load(tmp_path / MLMODEL_FILE_NAME)
    assert loaded.signature == sig
    # Stored as JSON strings, the way other tools of the format write it.
    raw = yaml.safe_load((tmp_path / MLMODEL_FILE_NAME).read_text())["signature"]
    assert isinstance(raw["inputs"], str)
    assert '"name": "x"' in raw["inputs"]


def test_get_flavor_names_the_flavors_present() -> None:
    model = Model().add_flavor("sklearn", pickled_model="m.pkl")
    with pytest.raises(ModelFormatError, match=r"no 'python_function' flavor.*present: sklearn"):
        model.get_flavor(PYFUNC_FLAVOR)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", r"expected a YAML mapping at the top level, found list"),
        ("", r"expected a YAML mapping at the top level, found NoneType"),
        ("flavors: [python_function]\n", r"'flavors' must map each flavor name to a mapping"),
        ("flavors:\n  python_function: 3\n", r"'flavors' must map each flavor name"),
        ("artifact_path: x\n", r"no flavor found"),
        ("flavors:\n  python_function:\n    data: d\n", r"needs 'loader_module'.*found None"),
        ("flavors:\n  python_function:\n    loader_module: ''\n", r"needs 'loader_module'"),
        ("flavors:\n  python_function:\n    loader_module: m\n    code: [a]\n", r"'code' must"),
        ("flavors:\n  python_function:\n    loader_module: m\n    data: 3\n", r"'data' must"),
        ("flavors:\n  python_function:\n    loader_module: m\n    env: [x]\n", r"'env' must"),
        ("flavors:\n  python_function: {loader_module: m}\nsignature: [1]\n", r"'signature'"),
        (
            "flavors:\n  python_function: {loader_module: m}\nsignature: {inputs: '{bad'}\n",
            r"not valid JSON",
        ),
    ],
)
def test_invalid_mlmodel_files(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, text)
    with pytest.raises(ModelFormatError, match=message) as info:
        Model.load(tmp_path)
    assert str(tmp_path / MLMODEL_FILE_NAME) in str(info.value)


def test_bad_yaml(tmp_path: Path) -> None:
    write(tmp_path, "flavors: {python_function: [unclosed\n")
    with pytest.raises(ModelFormatError, match=r"MLmodel: not valid YAML"):
        Model.load(tmp_path)


def test_missing_mlmodel(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"No MLmodel file at .*save a model there"):
        Model.load(tmp_path)


def test_flavor_values_must_be_yaml_serializable() -> None:
    with pytest.raises(SerializationError, match=r"'flavors\.sklearn\.estimator'.*object"):
        Model().add_flavor("sklearn", estimator=object())


def test_unknown_top_level_value_not_serializable_is_refused_on_save(tmp_path: Path) -> None:
    model = Model(owner={"team": object()}).add_flavor(PYFUNC_FLAVOR, loader_module="m")
    with pytest.raises(SerializationError, match=r"MLmodel key 'owner'.*not YAML-serializable"):
        model.save(tmp_path)
    assert not (tmp_path / MLMODEL_FILE_NAME).exists()


def test_written_file_is_plain_yaml_in_a_stable_order(tmp_path: Path) -> None:
    model = Model(artifact_path="m", run_id="r").add_flavor(PYFUNC_FLAVOR, loader_module="x")
    text = model.save(tmp_path).read_text()
    keys = [ln.split(":")[0] for ln in text.splitlines() if ln and not ln.startswith(" ")]
    assert keys[:2] == ["artifact_path", "flavors"]
    assert "!!python" not in text
