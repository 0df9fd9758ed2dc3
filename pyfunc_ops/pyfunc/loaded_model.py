"""``PyFuncModel``: what ``load_model`` returns, a loaded model behind the inference API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyfunc_ops.core.callables import accepts_parameter
from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.models.enforce import refuse_duplicate_columns
from pyfunc_ops.models.mlmodel import Model
from pyfunc_ops.models.signature import enforce_params, enforce_schema


class PyFuncModel:
    """A loaded pyfunc model: ``predict(DataFrame)`` with the signature enforced."""

    def __init__(self, model_meta: Model, model_impl: Any, model_path: str | Path | None = None):
        if not hasattr(model_impl, "predict"):
            raise InvalidParameterError(
                f"The model's loader returned a {type(model_impl).__name__} without a predict "
                "method; _load_pyfunc must return an object with predict(model_input)."
            )
        self._meta = model_meta
        self._impl = model_impl
        self.model_path = str(model_path) if model_path is not None else None
        self._predict = model_impl.predict
        self._takes_params = accepts_parameter(self._predict, "params")
        sig = model_meta.signature
        # A signature MLflow inferred from type hints is not enforced here: the model's
        # type-hint wrapper validates the input against the hint itself (as MLflow does).
        # MLflow records that as a top-level MLmodel key, kept in ``extra`` here.
        hinted = model_meta.extra.get("is_signature_from_type_hint") is True
        self._input_schema = sig.inputs if sig is not None and not hinted else None
        self._params_schema = sig.params if sig is not None else None

    @property
    def metadata(self) -> Model:
        """The model's MLmodel configuration."""
        return self._meta

    @property
    def loader_module(self) -> str | None:
        return self._meta.flavors.get("python_function", {}).get("loader_module")

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Score ``data`` in the form the format's reference implementation gives the model.

        With a column signature the input becomes a DataFrame (a scalar or a dict of
        scalars is one row) checked and safely cast; with a tensor signature an ndarray (or
        a dict of them) of the declared dtype, shape checked; without a signature the input
        reaches the model untouched. ``params`` are checked against the signature's params
        schema (defaults filled, undeclared keys dropped) and passed only to a ``predict``
        that accepts them. A signature inferred from the model's type hints leaves the
        input check to the hint.
        """
        if self._input_schema is not None:
            data = enforce_schema(data, self._input_schema)
        else:
            refuse_duplicate_columns(data)  # ambiguous for any model, signature or not
        params = enforce_params(params, self._params_schema)
        if params is not None and self._takes_params:
            return self._predict(data, params=params)
        return self._predict(data)

    def unwrap_python_model(self) -> Any:
        """The user's ``PythonModel`` instance behind a workflow-1 model."""
        unwrap = getattr(self._impl, "unwrap_python_model", None)
        if unwrap is None:
            raise InvalidParameterError(
                "unwrap_python_model: this model was not saved from a PythonModel "
                f"(loader module {self.loader_module!r})."
            )
        return unwrap()

    def get_raw_model(self) -> Any:
        """The object the loader module returned."""
        return self._impl

    def __repr__(self) -> str:
        return f"PyFuncModel(loader_module={self.loader_module!r}, path={self.model_path!r})"
