"""Saving a model whose ``predict`` has type hints writes the signature MLflow 3 infers
from them (``tests/interop/test_interop_models_from_code.py`` compares with MLflow's own
MLmodel; the expected JSON here is what MLflow 3.18 writes for each hint)."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
import warnings
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import pandas as pd
import pytest

from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.models import Model
from pyfunc_ops.models.signature import infer_signature
from pyfunc_ops.pyfunc import PythonModel, load_model, save_model
from pyfunc_ops.pyfunc.type_hints import (
    input_schema_from_hint,
    output_schema_from_hint,
    signature_from_hints,
)


class Custom:
    """A class of the user's own: no column type."""


def _json(schema: Any) -> Any:
    return json.loads(schema.to_json()) if schema is not None else None


def _col(kind: Any) -> list[dict[str, Any]]:
    out = {"type": kind} if isinstance(kind, str) else dict(kind)
    return [{**out, "required": True}]


ARRAY_OF_STR = {"type": "array", "items": {"type": "string"}}


@pytest.mark.parametrize(
    ("hint", "column"),
    [
        (list[str], "string"),
        (list[int], "long"),
        (list[float], "double"),
        (list[bool], "boolean"),
        (list[bytes], "binary"),
        (list[dt.datetime], "datetime"),
        (list[Any], "any"),
        (list[list[str]], ARRAY_OF_STR),
        (list[list[Optional[str]]], ARRAY_OF_STR),  # noqa: UP045 (typing.Optional on purpose)
        (list[list[str | None]], ARRAY_OF_STR),  # optional inside a list: dropped
        (list[dict[str, int]], {"type": "map", "values": {"type": "long"}}),
        (list[dict[str, str]], {"type": "map", "values": {"type": "string"}}),
        (list[dict[str, int | None]], {"type": "map", "values": {"type": "long"}}),
        (
            list[dict[str, list[float]]],
            {"type": "map", "values": {"type": "array", "items": {"type": "double"}}},
        ),
        (list[int | str], "any"),  # a union is not checked
        (list[Union[int, str]], "any"),  # noqa: UP007 (typing.Union on purpose)
        (list[list[int | str | None]], {"type": "array", "items": {"type": "any"}}),
    ],
)
def test_a_list_hint_gives_one_unnamed_column_of_its_element_type(hint: Any, column: Any) -> None:
    assert _json(input_schema_from_hint(hint)) == _col(column)


@pytest.mark.parametrize("hint", [str, int, Any, pd.DataFrame, pd.Series, np.ndarray, None])
def test_a_hint_that_is_not_a_list_gives_no_signature(hint: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # silently: MLflow infers none from these either
        assert input_schema_from_hint(hint) is None


@pytest.mark.parametrize(
    ("hint", "what"),
    [
        (list[Custom], "Custom is not a type with a column type"),
        (list[np.ndarray], "ndarray is not a type with a column type"),
        (list[dt.date], "date is not a type with a column type"),
        (list[tuple[int]], r"tuple\[int\] is not a type with a column type"),
        (Optional[list[str]], "is Optional"),  # noqa: UP045
        (list[str] | None, "is Optional"),
    ],
)
def test_a_list_of_something_without_a_column_type_warns_and_gives_none(
    hint: Any, what: str
) -> None:
    with pytest.warns(UserWarning, match=f"No signature inferred .*{what}"):
        assert input_schema_from_hint(hint) is None


@pytest.mark.parametrize(
    ("hint", "reason"),
    [
        (list, "list needs its element type, e.g. list"),
        (list[list], r"list needs its element type\(s\)"),
        (list[dict], r"dict needs its element type\(s\)"),
        (list[Optional], r"Optional needs its element type\(s\)"),
        (list[dict[int, str]], r"the keys of dict\[int, str\] must be str"),
        (list[dict[str]], r"dict\[str\] needs a key and a value type"),
        (list[str, int], r"needs exactly one element type \(list\[str\]\), found 2"),  # type: ignore[misc]
        (list[Optional[str]], "is Optional, and the model input cannot be"),  # noqa: UP045
        (list[str | None], "is Optional, and the model input cannot be"),
        (list[int | str | None], "is Optional, and the model input cannot be"),
    ],
)
def test_a_hint_mlflow_refuses_is_refused(hint: Any, reason: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"type hint .* is invalid: .*{reason}"):
        input_schema_from_hint(hint)


@pytest.mark.parametrize(
    ("hint", "column", "from_hint"),
    [
        (None, "any", False),
        (list[str], "string", True),
        (str, "string", True),  # not a list: the hint's own type
        (int, "long", True),
        (dict[str, int], {"type": "map", "values": {"type": "long"}}, True),
        (Any, "any", True),
        (Union[int, str], "any", True),  # noqa: UP007
        (list[list[int]], {"type": "array", "items": {"type": "long"}}, True),
        # Hints without a column type, and ones MLflow refuses for inputs: any.
        (pd.DataFrame, "any", False),
        (Custom, "any", False),
        (Optional[str], "any", False),  # noqa: UP045
        (list[str] | None, "any", False),
        (list[str | None], "any", False),
        (dict[int, str], "any", False),
        (list, "any", False),
        (type(None), "any", False),
    ],
)
def test_the_output_schema_follows_the_return_hint(hint: Any, column: Any, from_hint: bool) -> None:
    schema, given = output_schema_from_hint(hint)
    assert (_json(schema), given) == (_col(column), from_hint)


# -- models -------------------------------------------------------------------------------


class Records(PythonModel):
    def predict(self, model_input: list[dict[str, str]]) -> list[str]:
        return [f"{r['a']}:{r['b']}" for r in model_input]


class WithContext(PythonModel):
    def predict(self, context: Any, model_input: list[str], params: Any = None) -> list[str]:
        return [s.upper() for s in model_input]


class NamedContext(PythonModel):
    """MLflow's rule: two parameters besides self/params, the first is the context."""

    def predict(self, ctx, model_input: list[int]) -> list[int]:  # type: ignore[no-untyped-def]
        return model_input


class Untyped(PythonModel):
    def predict(self, context: Any, model_input: Any) -> Any:
        return model_input


class LiesAboutOutput(PythonModel):
    def predict(self, model_input: list[str], params: Any = None) -> list[int]:
        return list(model_input)  # strings, not the ints the hint promises


class Fails(PythonModel):
    def predict(self, model_input: list[str]) -> list[str]:
        raise RuntimeError("needs load_context")


MAP_OF_STR = '[{"type": "map", "values": {"type": "string"}, "required": true}]'
STR = '[{"type": "string", "required": true}]'


def _mlmodel(path: Path) -> tuple[Any, Any, Any]:
    meta = Model.load(path)
    return (
        meta.signature.to_dict() if meta.signature else None,
        meta.extra.get("is_signature_from_type_hint"),
        meta.extra.get("type_hint_from_example"),
    )


def test_a_hinted_python_model_is_saved_with_the_hints_signature(tmp_path: Path) -> None:
    save_model(tmp_path / "m", python_model=Records())
    assert _mlmodel(tmp_path / "m") == (
        {"inputs": MAP_OF_STR, "outputs": STR, "params": None},
        True,
        False,
    )
    # The hint checks the input, not the signature: records reach predict as given.
    model = load_model(tmp_path / "m")
    assert model.predict([{"a": "p", "b": "r"}]) == ["p:r"]


@pytest.mark.parametrize(("cls", "column"), [(WithContext, "string"), (NamedContext, "long")])
def test_the_model_input_is_found_after_the_context(tmp_path: Path, cls: type, column: str) -> None:
    save_model(tmp_path / "m", python_model=cls())
    signature = Model.load(tmp_path / "m").signature
    assert signature is not None and _json(signature.inputs) == _col(column)


def test_a_model_without_hints_keeps_the_example_signature(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0]})
    save_model(tmp_path / "m", python_model=Untyped(), input_example=frame)
    assert _mlmodel(tmp_path / "m") == (infer_signature(frame).to_dict(), None, None)


def test_the_hints_win_over_the_input_example(tmp_path: Path) -> None:
    save_model(tmp_path / "m", python_model=WithContext(), input_example=["a", "b"])
    assert _mlmodel(tmp_path / "m") == (
        {"inputs": STR, "outputs": STR, "params": None},
        True,
        False,
    )


def test_example_params_give_the_params_schema(tmp_path: Path) -> None:
    save_model(tmp_path / "m", python_model=WithContext(), input_example=(["a"], {"k": 2}))
    signature = Model.load(tmp_path / "m").signature
    assert signature is not None and signature.params is not None
    assert signature.params.to_dict() == [
        {"name": "k", "type": "long", "default": 2, "shape": None}
    ]


def test_an_output_that_contradicts_its_hint_makes_the_output_any(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match=r"does not match its return type hint list\[int\]"):
        save_model(tmp_path / "m", python_model=LiesAboutOutput(), input_example=["a"])
    signature = Model.load(tmp_path / "m").signature
    assert signature is not None
    assert signature.to_dict()["outputs"] == '[{"type": "any", "required": true}]'
    # Without an example nothing runs: the return hint is taken as written.
    save_model(tmp_path / "n", python_model=LiesAboutOutput())
    assert Model.load(tmp_path / "n").signature.to_dict()["outputs"] == (  # type: ignore[union-attr]
        '[{"type": "long", "required": true}]'
    )


def test_a_predict_failing_on_the_example_keeps_the_hinted_output(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="Running predict on the input example failed"):
        save_model(tmp_path / "m", python_model=Fails(), input_example=["a"])
    assert _mlmodel(tmp_path / "m")[0] == {"inputs": STR, "outputs": STR, "params": None}


def test_a_matching_signature_given_is_marked_as_from_the_hints(tmp_path: Path) -> None:
    given = signature_from_hints(Records())
    save_model(tmp_path / "m", python_model=Records(), signature=given)
    assert _mlmodel(tmp_path / "m")[1:] == (True, False)


def test_a_different_signature_given_is_kept_with_a_warning(tmp_path: Path) -> None:
    given = infer_signature(pd.DataFrame({"a": ["p"], "b": ["r"]}))
    with pytest.warns(UserWarning, match="the given signature differs from the one predict's"):
        save_model(tmp_path / "m", python_model=Records(), signature=given)
    assert _mlmodel(tmp_path / "m") == (given.to_dict(), None, None)


def test_an_invalid_hint_refuses_the_save(tmp_path: Path) -> None:
    class Bad(PythonModel):
        def predict(self, model_input: list[dict[int, str]]) -> Any:
            return model_input

    with pytest.raises(InvalidParameterError, match=r"the keys of dict\[int, str\] must be str"):
        save_model(tmp_path / "m", python_model=Bad())
    assert not (tmp_path / "m").exists()


def _code(tmp_path: Path, source: str) -> Path:
    file = tmp_path / "src" / "model.py"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(textwrap.dedent(source))
    return file


def test_a_models_from_code_file_gets_the_signature_too(tmp_path: Path) -> None:
    source = """
    from mlflow.models import set_model
    from mlflow.pyfunc import PythonModel

    class Records(PythonModel):
        def predict(self, model_input: list[dict[str, str]]) -> list[str]:
            return [r["a"] + r["b"] for r in model_input]

    set_model(Records())
    """
    save_model(tmp_path / "m", python_model=_code(tmp_path, source))
    assert _mlmodel(tmp_path / "m") == (
        {"inputs": MAP_OF_STR, "outputs": STR, "params": None},
        True,
        False,
    )
    model = load_model(tmp_path / "m")
    assert model.predict(pd.DataFrame({"a": ["p"], "b": ["r"]})) == ["pr"]


def test_a_hinted_function_from_code_gets_the_signature(tmp_path: Path) -> None:
    source = """
    from pyfunc_ops.pyfunc import set_model

    def predict(model_input: list[str]) -> list[int]:
        return [len(s) for s in model_input]

    set_model(predict)
    """
    save_model(tmp_path / "m", python_model=_code(tmp_path, source))
    assert _mlmodel(tmp_path / "m")[0] == {
        "inputs": STR,
        "outputs": '[{"type": "long", "required": true}]',
        "params": None,
    }
