"""Malformed MLmodel files and input examples: a ModelFormatError naming the offender."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyfunc_ops.errors import ModelFormatError
from pyfunc_ops.models.example import load_input_example
from pyfunc_ops.models.mlmodel import Model

GOOD_PYFUNC = "flavors:\n  python_function:\n    loader_module: m\n"


def _model_dir(tmp_path: Path, content: bytes | str) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    data = content.encode() if isinstance(content, str) else content
    (folder / "MLmodel").write_bytes(data)
    return folder


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01\x02binary\xff", "binary"),
        (b"flavors: {}\nname: caf\xe9\n", "not UTF-8"),
        (b"\xff\xfe\x00f\x00l", "binary"),
        ("- a\n- list\n", "expected a YAML mapping"),
        ("just a string\n", "expected a YAML mapping"),
        ("42\n", "expected a YAML mapping"),
        ("flavors: [a, b]\n", "'flavors' must map each flavor name"),
        ("flavors: text\n", "'flavors' must map each flavor name"),
        ("flavors:\n  python_function: [1, 2]\n", "flavor 'python_function' is list"),
        ("flavors:\n  python_function: null\n", "flavor 'python_function' is NoneType"),
        ("flavors:\n  python_function:\n    loader_module: [a]\n", "loader_module"),
        ("flavors:\n  python_function:\n    loader_module: m\n    data: {a: 1}\n", "'data'"),
        ("flavors:\n  python_function:\n    loader_module: m\n    env: 3\n", "'env'"),
        (GOOD_PYFUNC + "signature: [1, 2]\n", "'signature' must be a mapping"),
        (GOOD_PYFUNC + "signature: text\n", "'signature' must be a mapping"),
        (GOOD_PYFUNC + "saved_input_example_info: [x]\n", "'saved_input_example_info'"),
        (GOOD_PYFUNC + "saved_input_example_info: example.json\n", "'saved_input_example_info'"),
        (GOOD_PYFUNC + "run_id: {a: 1}\n", "'run_id' must be a string"),
        (GOOD_PYFUNC + "1: x\n", "top-level key 1 is not a string"),
        ("flavors: {}\n", "no flavor found"),
        ("flavors: {a: 1\n", "not valid YAML"),
        ("!!python/object:os.system 'x'\n", "not valid YAML"),
    ],
)
def test_malformed_mlmodel(tmp_path: Path, content: bytes | str, message: str) -> None:
    folder = _model_dir(tmp_path, content)
    with pytest.raises(ModelFormatError, match=message):
        Model.load(folder)


@pytest.mark.parametrize(
    ("info", "file", "message"),
    [
        ({"type": "dataframe", "artifact_path": 3}, None, "'artifact_path' must be a file name"),
        ({"type": "dataframe", "artifact_path": "../x.json"}, None, "outside the model folder"),
        ({"type": "dataframe", "artifact_path": "/etc/passwd"}, None, "outside the model folder"),
        ({"type": "dataframe", "artifact_path": "missing.json"}, None, "is missing"),
        ({"type": "dataframe", "artifact_path": "ex.json"}, b"\xff\xfe", "not JSON text"),
        ({"type": "dataframe", "artifact_path": "ex.json"}, b"[1, 2]", "'data' list"),
        ({"type": "dataframe", "artifact_path": "ex.json"}, b'{"data": 3}', "'data' list"),
        (
            {"type": "dataframe", "artifact_path": "ex.json"},
            json.dumps({"columns": ["a"], "data": [[1, 2]]}).encode(),
            "does not describe a table",
        ),
    ],
)
def test_malformed_input_example(
    tmp_path: Path, info: dict[str, object], file: bytes | None, message: str
) -> None:
    folder = _model_dir(tmp_path, GOOD_PYFUNC)
    if file is not None:
        (folder / "ex.json").write_bytes(file)
    with pytest.raises(ModelFormatError, match=message):
        load_input_example(folder, info)
