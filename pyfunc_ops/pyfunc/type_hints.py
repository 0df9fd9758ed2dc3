"""Type-hinted ``predict`` models as MLflow 3 runs them, without MLflow.

MLflow 3 wraps the ``predict`` of every ``PythonModel`` subclass whose input parameter has
a type hint: before the model sees its input, a DataFrame is turned into what the hint
asks for (``list[str]``: the first string column; ``list[dict[...]]``: the records) and
the data is checked against the hint. Models MLflow pickled carry that wrapper, which
refers to a few MLflow names (:data:`PICKLE_NAMES` maps them here); a models-from-code
file that subclasses ``mlflow.pyfunc.PythonModel`` gets :class:`TypedPythonModel`, which
wraps the same way.

Plain hints are supported: ``int``, ``float``, ``str``, ``bool``, ``bytes``, ``datetime``,
``Any``, ``list[...]``, ``dict[str, ...]``, ``Optional``/unions, and the hints MLflow does
not validate (``pd.DataFrame``, ``pd.Series``, ``np.ndarray``). Anything else (pydantic
models first of all) is refused when the model loads, naming the hint.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, NamedTuple

from pyfunc_ops.errors import LoaderError, SchemaEnforcementError

_SCALARS: tuple[type, ...] = (int, str, bool, float, bytes, datetime.datetime)
_UNIONS = (typing.Union, types.UnionType)
_OURS = "pyfunc_ops.pyfunc.type_hints"


class FuncInfo(NamedTuple):
    """Stand-in for the record MLflow's wrapper keeps: the input hint and parameter name."""

    input_type_hint: Any
    input_param_name: str


class TypeHintError(SchemaEnforcementError):
    """The input does not match the ``predict`` type hint (MLflow's ``MlflowException`` in a
    pickled wrapper resolves to this class)."""


# (module, name) an MLflow-pickled predict wrapper refers to -> (module, name) of ours.
PICKLE_NAMES: dict[tuple[str, str], tuple[str, str]] = {
    ("mlflow.pyfunc.utils.data_validation", "_validate_model_input"): (
        _OURS,
        "validate_model_input",
    ),
    ("mlflow.pyfunc.utils.data_validation", "FuncInfo"): (_OURS, "FuncInfo"),
    ("mlflow.exceptions", "MlflowException"): (_OURS, "TypeHintError"),
}


def _no_validation_types() -> tuple[type, ...]:
    import numpy as np
    import pandas as pd

    return (pd.DataFrame, pd.Series, np.ndarray)


def _repr(hint: Any) -> str:
    return getattr(hint, "__name__", None) if isinstance(hint, type) else str(hint)  # type: ignore[return-value]


def unsupported_part(hint: Any) -> Any | None:
    """The part of ``hint`` pyfunc_ops cannot validate as MLflow does, or ``None``."""
    if hint is Any or hint in _SCALARS:
        return None
    if isinstance(hint, type) and hint in _no_validation_types():
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is list and len(args) == 1:
        return unsupported_part(args[0])
    if origin is dict and len(args) == 2 and args[0] is str:
        return unsupported_part(args[1])
    if origin in _UNIONS:
        for arg in args:
            if arg is not type(None) and (bad := unsupported_part(arg)) is not None:
                return bad
        return None
    return hint


def _recorded_hint(func: Callable[..., Any]) -> Any:
    """The hint an MLflow-pickled wrapper recorded when the class was defined (its
    ``FuncInfo`` closure cell), or ``inspect.Parameter.empty``.

    Preferred over the annotations: a class pickled by value keeps only the globals its
    code uses, so string annotations (``from __future__ import annotations``) may no
    longer resolve after unpickling, while the recorded hint is already an object."""
    for cell in getattr(getattr(func, "__func__", func), "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, FuncInfo):
            return value.input_type_hint
    return inspect.Parameter.empty


# Hints left as text (``from __future__ import annotations`` in a module whose globals
# did not survive pickling) that name a plain type; anything else stays text and is refused.
_NAMED_HINTS: dict[str, Any] = {
    "Any": Any,
    "typing.Any": Any,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "bytes": bytes,
}


def _resolved(hint: Any) -> Any:
    return _NAMED_HINTS.get(hint, hint) if isinstance(hint, str) else hint


def input_hint(func: Callable[..., Any]) -> Any:
    """The type hint of ``predict``'s model input (after ``context`` if it takes one)."""
    return _resolved(_input_hint(func))


def _input_hint(func: Callable[..., Any]) -> Any:
    recorded = _recorded_hint(func)
    if recorded is not inspect.Parameter.empty:
        return recorded
    func = inspect.unwrap(func)
    params = [p for p in inspect.signature(func).parameters.values() if p.name != "self"]
    if params and params[0].name == "context":
        params = params[1:]
    if not params:
        return None
    try:
        hints = typing.get_type_hints(func)
    except (NameError, TypeError, AttributeError):
        hints = getattr(func, "__annotations__", {})
    hint = hints.get(params[0].name, inspect.Parameter.empty)
    return None if hint is inspect.Parameter.empty else hint


def check_supported(python_model: Any) -> None:
    """Refuse (``LoaderError``) a model whose validated ``predict`` hint we cannot honour."""
    predict = getattr(python_model, "predict", None)
    if predict is None or not getattr(predict, "_is_pyfunc", False):
        return
    hint = input_hint(predict)
    if hint is None:
        return
    bad = unsupported_part(hint)
    if bad is not None:
        raise LoaderError(
            f"{type(python_model).__name__}.predict has the input type hint {_repr(hint)}, "
            f"which MLflow validates with its own machinery ({_repr(bad)} is not a plain "
            "Python/pandas type). pyfunc_ops validates int, float, str, bool, bytes, "
            "datetime, Any, list[...], dict[str, ...], Optional and pd.DataFrame/Series/"
            "np.ndarray hints only. Load this model where mlflow (and pydantic) are "
            "installed, or change the hint to a plain type."
        )


def convert_to_hint(data: Any, hint: Any) -> Any:
    """A DataFrame turned into what a ``list[...]`` hint asks for (as MLflow converts it)."""
    import pandas as pd

    if not isinstance(data, pd.DataFrame) or hint is pd.DataFrame or hint is Any:
        return data
    if typing.get_origin(hint) is not list:
        raise TypeHintError(
            f"predict: a pandas DataFrame input needs a list[...] type hint (or "
            f"pd.DataFrame), but the model's hint is {_repr(hint)}. Pass the data as that "
            "type instead."
        )
    element = typing.get_args(hint)[0]
    if element is dict or typing.get_origin(element) is dict:
        out = data.iloc[:, 0].tolist() if list(data.columns) == [0] else data.to_dict("records")
    else:
        out = data.iloc[:, 0].tolist()
    return _plain(out)


def _plain(data: Any) -> Any:
    import numpy as np

    if isinstance(data, np.ndarray):
        return [_plain(v) for v in data.tolist()]
    if isinstance(data, list):
        return [_plain(v) for v in data]
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items()}
    return data


def validate(data: Any, hint: Any) -> Any:
    """``data`` checked against ``hint`` (a :class:`TypeHintError` naming what differs)."""
    if hint is Any:
        return data
    if hint in _SCALARS:
        if isinstance(data, hint):
            return data
        raise TypeHintError(f"Expected type {_repr(hint)}, but got {type(data).__name__}.")
    if isinstance(hint, type) and hint in _no_validation_types():
        return data
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        if not isinstance(data, list):
            raise TypeHintError(f"Expected list, but got {type(data).__name__}.")
        bad = []
        for item in data:
            try:
                validate(item, args[0])
            except TypeHintError as exc:
                bad.append((str(item), str(exc)))
        if bad:
            raise TypeHintError(
                f"Failed to validate data against type hint {_repr(hint)}, invalid elements: "
                f"{bad[:5]}{' ... (truncated)' if len(bad) > 5 else ''}."
            )
        return data
    if origin is dict:
        if not isinstance(data, dict):
            raise TypeHintError(f"Expected dict, but got {type(data).__name__}.")
        for key, value in data.items():
            if not isinstance(key, str):
                raise TypeHintError(f"Key must be a string, got {type(key).__name__} {key!r}.")
            validate(value, args[1])
        return data
    if origin in _UNIONS:
        if data is None and type(None) in args:
            return data
        rest = [a for a in args if a is not type(None)]
        return validate(data, rest[0]) if len(rest) == 1 and len(args) == 2 else data
    raise LoaderError(f"Unsupported type hint {_repr(hint)} (see check_supported).")


def validate_model_input(
    args: tuple[Any, ...], kwargs: dict[str, Any], index: int, hint: Any, name: str
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The model input among ``args``/``kwargs`` converted and validated against ``hint``
    (the call an MLflow-pickled predict wrapper makes; same arguments)."""
    if name in kwargs:
        kwargs[name] = validate(convert_to_hint(kwargs[name], hint), hint)
    elif len(args) > index:
        data = validate(convert_to_hint(args[index], hint), hint)
        args = (*args[:index], data, *args[index + 1 :])
    return args, kwargs


def wrap_predict(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` validating its input against its type hint first (MLflow's wrapper).

    The hint is resolved at the first call, not when the class is defined: a file may
    import the names its annotations use after the class (``"pd.DataFrame"``)."""
    params = list(inspect.signature(func).parameters)
    index = 1 + (len(params) > 1 and params[1] == "context")
    name = params[index] if len(params) > index else "model_input"
    resolved: list[Any] = []

    @functools.wraps(func)
    def predict(*args: Any, **kwargs: Any) -> Any:
        if not resolved:
            hint = input_hint(func)
            no_check = hint is None or (isinstance(hint, type) and hint in _no_validation_types())
            resolved.append(None if no_check else hint)
        if resolved[0] is not None:
            args, kwargs = validate_model_input(args, kwargs, index, resolved[0], name)
        return func(*args, **kwargs)

    predict._is_pyfunc = True  # type: ignore[attr-defined]
    return predict


def model_input_for(python_model: Any, data: Any) -> Any:
    """What MLflow's pyfunc wrapper hands a type-hinted ``predict`` for a DataFrame input:
    the first string column for ``list[str]``, the records for ``list[dict[str, ...]]``."""
    predict = getattr(python_model, "predict", None)
    if predict is None or not getattr(predict, "_is_pyfunc", False):
        return data
    import pandas as pd

    if not isinstance(data, pd.DataFrame):
        return data
    hint = input_hint(predict)
    if hint == list[str]:
        first = data.iloc[0].items() if len(data) else iter(())
        column = next((c for c, v in first if isinstance(v, str)), None)
        if column is None:
            raise TypeHintError(
                "predict: the model's input type hint is list[str], so the DataFrame needs at "
                f"least one string column; its columns are {list(data.columns)}."
            )
        return data[column].tolist()
    if typing.get_origin(hint) is list and typing.get_origin(typing.get_args(hint)[0]) is dict:
        return data.to_dict(orient="records")
    return data


class TypedPythonModel:
    """Mixin behind ``mlflow.pyfunc.PythonModel`` while a models-from-code file runs: a
    subclass's type-hinted ``predict`` is wrapped as MLflow wraps it."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        predict = cls.__dict__.get("predict")
        if callable(predict) and not getattr(predict, "_is_pyfunc", False):
            cls.predict = wrap_predict(predict)  # type: ignore[attr-defined]
