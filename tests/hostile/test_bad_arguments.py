"""Bad arguments and damaged files that used to slip through: each is refused before
anything is written (save) or with our error naming the file (load, predict)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from pyfunc_ops import pyfunc
from pyfunc_ops.errors import (
    InvalidParameterError,
    ModelFormatError,
    SchemaEnforcementError,
    SerializationError,
)
from pyfunc_ops.models.signature import ModelSignature
from pyfunc_ops.models.types import ColSpec, Schema

LOADER = """\
def _load_pyfunc(p):
    return M()


class M:
    def predict(self, df):
        return df
"""


@pytest.fixture
def loader(tmp_path: Path) -> Path:
    path = tmp_path / "ld.py"
    path.write_text(LOADER)
    return path


def _save(dest: Path, loader: Path, **kwargs: Any) -> None:
    kwargs.setdefault("loader_module", "ld")
    pyfunc.save_model(str(dest), code_path=[str(loader)], **kwargs)


@pytest.mark.parametrize("name", ["../x", ".x", "..x", "x/y", "x..y", "1x", "x.class", "x y", ""])
def test_a_relative_or_path_like_loader_module_is_refused_at_save(
    tmp_path: Path, loader: Path, name: str
) -> None:
    with pytest.raises(InvalidParameterError, match="loader_module must be a dotted module name"):
        _save(tmp_path / "m", loader, loader_module=name)
    assert not (tmp_path / "m").exists()


def _edited(tmp_path: Path, loader: Path, change: Any) -> Path:
    good = tmp_path / "good"
    if not good.exists():
        _save(good, loader)
    copy = tmp_path / f"edited-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(good, copy)
    data = yaml.safe_load((copy / "MLmodel").read_text())
    change(data["flavors"]["python_function"])
    (copy / "MLmodel").write_text(yaml.safe_dump(data))
    return copy


@pytest.mark.parametrize("name", ["..ld", ".ld", "../ld", "ld/x", "os.path/../ld"])
def test_a_relative_or_path_like_loader_module_is_refused_at_load(
    tmp_path: Path, loader: Path, name: str
) -> None:
    folder = _edited(tmp_path, loader, lambda flavor: flavor.__setitem__("loader_module", name))
    with pytest.raises(ModelFormatError, match=r"MLmodel: python_function 'loader_module'"):
        pyfunc.load_model(str(folder))


@pytest.mark.parametrize("config", [[1, 2], "text", 3, {1: "a"}])
def test_a_config_that_is_not_a_mapping_is_refused(
    tmp_path: Path, loader: Path, config: Any
) -> None:
    folder = _edited(tmp_path, loader, lambda flavor: flavor.__setitem__("config", config))
    with pytest.raises(ModelFormatError, match=r"'config' must be a mapping with string keys"):
        pyfunc.load_model(str(folder))
    with pytest.raises(InvalidParameterError, match="config must be a mapping with string keys"):
        _save(tmp_path / "m", loader, config=config)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("damage", [b"", b"garbage" * 10, "truncate"])
def test_a_damaged_pickle_is_a_serialization_error_naming_the_file(
    tmp_path: Path, damage: Any
) -> None:
    class Echo(pyfunc.PythonModel):
        def predict(self, context: Any, model_input: Any) -> Any:
            return model_input

    pyfunc.save_model(str(tmp_path / "p"), python_model=Echo())
    pickled = tmp_path / "p" / "python_model.pkl"
    data = pickled.read_bytes()
    pickled.write_bytes(data[: len(data) // 2] if damage == "truncate" else damage)
    with pytest.raises(SerializationError, match=r"python_model\.pkl is not a readable pickle"):
        pyfunc.load_model(str(tmp_path / "p"))


def test_saving_below_a_file_is_refused(tmp_path: Path, loader: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InvalidParameterError, match="on the way is a file, not a folder"):
        _save(tmp_path / "afile" / "sub" / "m", loader)
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize(
    "key", ["code", "env", "data", "python_version", "model_code_path", "cloudpickle_version"]
)
def test_flavor_keywords_that_clash_with_python_function_keys_are_refused(
    tmp_path: Path, loader: Path, key: str
) -> None:
    with pytest.raises(InvalidParameterError, match=rf"\['{key}'\] would overwrite"):
        _save(tmp_path / "m", loader, **{key: "zzz"})
    assert not (tmp_path / "m").exists()
    _save(tmp_path / "ok", loader, flavor_extra=1)  # a key of its own is fine
    assert (
        pyfunc.load_model(str(tmp_path / "ok")).metadata.get_flavor("python_function")[
            "flavor_extra"
        ]
        == 1
    )


@pytest.mark.parametrize(
    "conda_env",
    [
        {"dependencies": [object()]},
        {"dependencies": [Path("x")]},
        {"channels": [b"\x00" * 3, lambda: 1]},
    ],
)
def test_a_conda_env_that_cannot_be_yaml_is_refused_before_writing(
    tmp_path: Path, loader: Path, conda_env: Any
) -> None:
    with pytest.raises(SerializationError, match="conda_env cannot be written as YAML"):
        _save(tmp_path / "m", loader, conda_env=conda_env)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ({"inputs": "zz"}, "not a valid schema"),
        ({"inputs": '[{"type": "no-such-type"}]'}, "not a valid schema"),
        ("nope", "must be a ModelSignature"),
        (42, "must be a ModelSignature"),
        (["a"], "must be a ModelSignature"),
    ],
)
def test_a_signature_that_is_not_a_schema_is_refused_before_writing(
    tmp_path: Path, loader: Path, signature: Any, message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        _save(tmp_path / "m", loader, signature=signature)
    assert not (tmp_path / "m").exists()


def test_a_valid_signature_dict_is_accepted_and_loads_back(tmp_path: Path, loader: Path) -> None:
    sig = ModelSignature(inputs=Schema([ColSpec("double", "a")]))
    _save(tmp_path / "m", loader, signature=sig.to_dict())
    model = pyfunc.load_model(str(tmp_path / "m"))
    assert model.metadata.signature is not None


@pytest.fixture
def typed_model(tmp_path: Path, loader: Path) -> Any:
    sig = ModelSignature(inputs=Schema([ColSpec("double", "a"), ColSpec("string", "b")]))
    _save(tmp_path / "typed", loader, signature=sig)
    return pyfunc.load_model(str(tmp_path / "typed"))


def test_duplicate_column_names_are_refused(typed_model: Any, tmp_path: Path, loader: Path) -> None:
    frame = pd.DataFrame([[1.0, "x", 2.0]], columns=["a", "b", "a"])
    with pytest.raises(SchemaEnforcementError, match=r"duplicate column names \['a'\]"):
        typed_model.predict(frame)
    _save(tmp_path / "plain", loader)  # no signature: still ambiguous, still refused
    with pytest.raises(SchemaEnforcementError, match=r"duplicate column names \['x'\]"):
        plain = pyfunc.load_model(str(tmp_path / "plain"))
        plain.predict(pd.DataFrame([[1, 2]], columns=["x", "x"]))


@pytest.mark.parametrize("value", ["hello", b"bytes", ""])
def test_a_bare_string_is_refused_by_a_column_signature(typed_model: Any, value: Any) -> None:
    with pytest.raises(SchemaEnforcementError, match="found a bare"):
        typed_model.predict(value)
