"""Load-time ``model_config``, merged into the saved ``config`` as MLflow 3 merges it."""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.pyfunc import load_model, save_model
from pyfunc_ops.pyfunc.load import merged_model_config

ECHO = """
from pyfunc_ops.pyfunc import PythonModel, set_model

class Echo(PythonModel):
    def load_context(self, context):
        self.config = dict(context.model_config)

    def predict(self, model_input):
        return self.config

set_model(Echo())
"""


def _model(tmp_path: Path, config: dict[str, Any] | None) -> Path:
    src = tmp_path / "echo.py"
    src.write_text(textwrap.dedent(ECHO))
    path = tmp_path / "model"
    kwargs = {"model_config": config} if config is not None else {}
    save_model(path, python_model=str(src), **kwargs)
    return path


def _seen(path: Path, model_config: Any = None) -> Any:
    return load_model(path, model_config=model_config).predict(pd.DataFrame({"x": [1]}))


def test_only_keys_of_the_saved_config_are_overridden(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _model(tmp_path, {"temperature": 0.1, "top_k": 5})
    assert _seen(path) == {"temperature": 0.1, "top_k": 5}
    with caplog.at_level(logging.WARNING, logger="pyfunc_ops.pyfunc.load"):
        seen = _seen(path, {"temperature": 0.9, "unknown": 1})
    assert seen == {"temperature": 0.9, "top_k": 5}
    assert "['unknown'] were ignored" in caplog.text


def test_no_saved_config_accepts_no_override(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _model(tmp_path, None)
    with caplog.at_level(logging.WARNING, logger="pyfunc_ops.pyfunc.load"):
        assert _seen(path, {"temperature": 0.9}) == {}
    assert "saved no 'config'" in caplog.text


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_yaml_or_json_file_path(tmp_path: Path, suffix: str) -> None:
    path = _model(tmp_path, {"temperature": 0.1, "top_k": 5})
    file = tmp_path / f"override{suffix}"
    file.write_text(json.dumps({"top_k": 7}) if suffix == ".json" else "top_k: 7\nextra: true\n")
    assert _seen(path, str(file)) == {"temperature": 0.1, "top_k": 7}
    assert _seen(path, file) == {"temperature": 0.1, "top_k": 7}  # a Path works too


def test_a_config_file_at_save_time(tmp_path: Path) -> None:
    file = tmp_path / "config.yaml"
    file.write_text("temperature: 0.3\n")
    path = _model(tmp_path, str(file))  # type: ignore[arg-type]
    assert _seen(path) == {"temperature": 0.3}


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = _model(tmp_path, {"a": 1})
    with pytest.raises(InvalidParameterError, match=r"model_config: .*nope\.yaml' is not a file"):
        load_model(path, model_config=str(tmp_path / "nope.yaml"))


def test_a_file_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(InvalidParameterError, match=r"is not valid YAML or JSON"):
        merged_model_config({"config": {"a": 1}}, str(bad))


@pytest.mark.parametrize("value", [["a"], 3, {1: "x"}])
def test_a_config_that_is_not_a_mapping_is_refused(value: Any) -> None:
    with pytest.raises(InvalidParameterError, match=r"must hold a mapping with string keys"):
        merged_model_config({"config": {"a": 1}}, value)


def test_a_file_holding_a_list_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "list.yaml"
    file.write_text("- a\n- b\n")
    with pytest.raises(InvalidParameterError, match=r"the file .*list\.yaml' must hold a mapping"):
        merged_model_config({"config": {"a": 1}}, file)


def test_an_empty_file_overrides_nothing(tmp_path: Path) -> None:
    file = tmp_path / "empty.yaml"
    file.write_text("")
    assert merged_model_config({"config": {"a": 1}}, file) == {"a": 1}
