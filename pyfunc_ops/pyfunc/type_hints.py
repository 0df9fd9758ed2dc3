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
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from pyfunc_ops.errors import InvalidParameterError, LoaderError, SchemaEnforcementError

if TYPE_CHECKING:
    from pyfunc_ops.models.signature import ModelSignature
    from pyfunc_ops.models.types import ColType, Schema

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
    params = params[_input_position(func) :]
    if not params:
        return None
    try:
        hints = typing.get_type_hints(func)
    except (NameError, TypeError, AttributeError):
        hints = getattr(func, "__annotations__", {})
    hint = hints.get(params[0].name, inspect.Parameter.empty)
    return None if hint is inspect.Parameter.empty else hint


def _input_position(func: Callable[..., Any]) -> int:
    """Where the model input is among ``func``'s parameters after ``self``: 1 when a
    ``predict`` method takes a context first (MLflow's test: a parameter named ``context``,
    or two parameters besides ``self`` and ``params``, the first being the context whatever
    its name), else 0 (a function model takes the input first)."""
    names = list(inspect.signature(func).parameters)
    method = inspect.ismethod(func) or names[:1] == ["self"]
    names = [n for n in names if n != "self"]
    takes_context = "context" in names or len([n for n in names if n != "params"]) == 2
    return 1 if method and takes_context else 0


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
    index = 1 + _input_position(func)
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


class TypeHints:
    """The input/output type hints of a ``predict``, as MLflow's ``_TypeHints`` holds them.

    MLflow 3's ``PythonModel`` caches one on every instance it saves (so it is in MLflow's
    pickles, unpickled to this class), and MLflow's loader asks every python model for its
    :attr:`PythonModel.predict_type_hints`. We keep them as plain data.
    """

    def __init__(self, input_: Any = None, output: Any = None) -> None:
        self.input = input_
        self.output = output

    def __repr__(self) -> str:
        return f"TypeHints(input={self.input!r}, output={self.output!r})"


class TypedPythonModel:
    """Mixin behind ``mlflow.pyfunc.PythonModel`` while a models-from-code file runs: a
    subclass's type-hinted ``predict`` is wrapped as MLflow wraps it."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        predict = cls.__dict__.get("predict")
        if callable(predict) and not getattr(predict, "_is_pyfunc", False):
            cls.predict = wrap_predict(predict)  # type: ignore[attr-defined]


# -- the signature MLflow infers from the hints when it saves a model ----------------------
#
# MLflow 3 saves a PythonModel (instance or models-from-code file) or a function model
# whose input hint is a list[...] with the signature that hint implies, and marks it
# ``is_signature_from_type_hint`` (the hint, not the signature, then checks the input).
# Its loader relies on that signature: for a list[dict[...]] hint it reads
# ``signature.inputs`` to convert a DataFrame. These functions infer the same signature.

# Scalar hint -> the format's column type name (numpy scalar types are not such hints).
_COLUMN_TYPES: dict[Any, str] = {
    int: "long",
    str: "string",
    bool: "boolean",
    float: "double",
    bytes: "binary",
    datetime.datetime: "datetime",
}
# Generics that need their element types spelled out (list[str], not list).
_BARE_GENERICS: tuple[Any, ...] = (list, dict, typing.Optional, typing.Union, types.UnionType)


class _NoSchema(Exception):
    """The hint implies no signature: the model is saved without one (MLflow warns too)."""


def _invalid_hint(top: Any, reason: str) -> InvalidParameterError:
    return InvalidParameterError(
        f"predict's model input type hint {_repr(top)} is invalid: {reason}. MLflow refuses "
        "to save such a model as well. Fix the hint (e.g. list[str] or "
        "list[dict[str, float]]) or remove it."
    )


def _list_element(hint: Any, top: Any) -> Any:
    """The element type of the ``list[...]`` hint ``hint`` (``top``: the whole hint)."""
    args = typing.get_args(hint)
    if type(None) in args:
        raise _NoSchema(f"{_repr(hint)} is Optional")
    if not args:
        raise _invalid_hint(top, f"{_repr(hint)} needs its element type, e.g. list[str]")
    if len(args) != 1:
        raise _invalid_hint(
            top, f"{_repr(hint)} needs exactly one element type (list[str]), found {len(args)}"
        )
    return args[0]


def _column_type(hint: Any, top: Any) -> tuple[ColType, bool]:
    """(column type, required) of a hint, by MLflow's mapping of hints to column types."""
    from pyfunc_ops.models.types import AnyType, Array, Map

    if hint is Any:
        return AnyType(), True
    try:
        scalar = _COLUMN_TYPES.get(hint)
    except TypeError:  # an unhashable object used as a hint
        scalar = None
    if scalar is not None:
        return scalar, True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        return Array(_column_type(_list_element(hint, top), top)[0]), True
    if origin is dict:
        if len(args) != 2:
            raise _invalid_hint(top, f"{_repr(hint)} needs a key and a value type")
        if args[0] is not str:
            raise _invalid_hint(top, f"the keys of {_repr(hint)} must be str")
        return Map(_column_type(args[1], top)[0]), True
    if origin in _UNIONS:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == len(args):
            return AnyType(), True  # a union of types: values are not checked
        # Optional[X]: X, not required; Optional over several types: anything, not required.
        return (_column_type(rest[0], top)[0] if len(rest) == 1 else AnyType()), False
    if any(hint == bare for bare in _BARE_GENERICS):
        raise _invalid_hint(top, f"{_repr(hint)} needs its element type(s), e.g. list[str]")
    raise _NoSchema(f"{_repr(hint)} is not a type with a column type")


def _one_column(hint: Any, top: Any) -> Schema:
    """A schema of one unnamed, required column of the hint's type."""
    from pyfunc_ops.models.types import ColSpec, Schema

    col_type, required = _column_type(hint, top)
    if not required:
        raise _invalid_hint(top, f"{_repr(hint)} is Optional, and the model input cannot be")
    return Schema([ColSpec(col_type)])


def _is_list_hint(hint: Any) -> bool:
    """``list``/``list[...]``, also behind ``Optional[...]`` (a wider union is not)."""
    if hint is list or typing.get_origin(hint) is list:
        return True
    args = typing.get_args(hint)
    if typing.get_origin(hint) in _UNIONS and len(args) == 2 and type(None) in args:
        return _is_list_hint(next(a for a in args if a is not type(None)))
    return False


def input_schema_from_hint(hint: Any) -> Schema | None:
    """The input schema MLflow infers from ``predict``'s model input hint: one unnamed
    column of the element type of a ``list[...]`` hint (``list[dict[str, str]]``: a map of
    strings). ``None`` for any other hint (a single value, ``Any``, ``pd.DataFrame``...),
    and, with a warning, for a list of something without a column type (a class of
    yours, ``list[np.ndarray]``, ``Optional[list[...]]``...). An
    :class:`InvalidParameterError` for a hint MLflow refuses (``list``, ``list[dict[int,
    str]]``, ``list[Optional[str]]``...)."""
    if not _is_list_hint(hint):
        return None
    try:
        return _one_column(_list_element(hint, hint), hint)
    except _NoSchema as exc:
        warnings.warn(
            f"No signature inferred from predict's input type hint {_repr(hint)}: {exc}. "
            "A list[...] gives one when its elements are int, float, str, bool, bytes, "
            "datetime, Any, list[...], dict[str, ...] or unions of those; pass "
            "signature=... or an input_example otherwise.",
            stacklevel=2,
        )
        return None


def output_schema_from_hint(hint: Any) -> tuple[Schema, bool]:
    """(schema, whether the hint gave it) for ``predict``'s return hint: the element type
    of a ``list[...]``, else the hint's own type; one column of any type when there is no
    hint or it has no column type."""
    from pyfunc_ops.models.types import AnyType, ColSpec, Schema

    if hint is not None:
        try:
            if _is_list_hint(hint):
                return _one_column(_list_element(hint, hint), hint), True
            return _one_column(hint, hint), True
        except (_NoSchema, InvalidParameterError):
            pass
    return Schema([ColSpec(AnyType())]), False


def predict_hints(model: Any) -> tuple[Any, Any]:
    """(input hint, return hint) of a model's ``predict``, or of a function model."""
    func = getattr(model, "predict", model)
    try:
        output = typing.get_type_hints(func).get("return")
    except (NameError, TypeError, AttributeError):
        output = None
    return input_hint(func), output


def signature_from_hints(
    model: Any, input_example: Any = None, context: Any = None
) -> ModelSignature | None:
    """The signature MLflow 3 writes for ``model`` (a PythonModel or a function) from its
    ``predict`` type hints, or ``None`` when they imply none.

    With an ``input_example`` (``(data, params)`` adds a params schema), ``predict`` runs
    on it as MLflow runs it (``load_context(context)`` first, ``None`` as its context
    argument): an output that does not match the return hint makes the output schema
    "any". A failing run changes nothing (MLflow only warns)."""
    from pyfunc_ops.models.infer import infer_param_schema
    from pyfunc_ops.models.signature import ModelSignature

    hint, output_hint = predict_hints(model)
    if hint is None:
        return None
    inputs = input_schema_from_hint(hint)
    if inputs is None:
        return None
    outputs, from_hint = output_schema_from_hint(output_hint)
    data, params = input_example, None
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[1], dict):
        data, params = data
    if (
        data is not None
        and from_hint
        and not _output_fits(model, hint, output_hint, data, params, context)
    ):
        outputs, _ = output_schema_from_hint(None)
    return ModelSignature(
        inputs=inputs, outputs=outputs, params=infer_param_schema(params) if params else None
    )


def _output_fits(
    model: Any, hint: Any, output_hint: Any, data: Any, params: Any, context: Any
) -> bool:
    """False when ``predict`` on the example returns what its return hint refuses."""
    func = getattr(model, "predict", model)
    try:
        data = validate(convert_to_hint(data, hint), hint)
        if hasattr(model, "load_context"):
            model.load_context(context)
        args = [None, data] if _input_position(func) else [data]
        with_params = params and "params" in inspect.signature(func).parameters
        output = func(*args, **({"params": params} if with_params else {}))
    except Exception as exc:  # the user's code: any failure only means no output check
        warnings.warn(
            f"Running predict on the input example failed ({type(exc).__name__}: {exc}); the "
            "output schema is taken from the return type hint unchecked.",
            stacklevel=4,
        )
        return True
    try:
        validate(output, output_hint)
    except TypeHintError as exc:
        warnings.warn(
            f"predict's output on the input example does not match its return type hint "
            f"{_repr(output_hint)} ({exc}); the output schema is 'any' (as MLflow saves it).",
            stacklevel=4,
        )
        return False
    return True
