"""The xgboost flavor: save, log and load a ``Booster`` or an estimator of xgboost's
scikit-learn API (``XGBRegressor``, ``XGBClassifier``, ...); a pyfunc ``loader_module``.

The model file is xgboost's own format: UBJSON (``model_format="ubj"``, the default) or
JSON, or the ``model.xgb`` / ``model.deprecated`` files older MLflow versions wrote (UBJSON
again under xgboost >= 2.1, the retired binary format before). None of them runs code when
read, so an xgboost model loads from an untrusted place. What the MLmodel decides is the
class to build (``model_class``): only ``xgboost.core.Booster`` or a subclass of
``xgboost.XGBModel`` defined in xgboost itself is imported, whatever the trust, so an
MLmodel naming ``os.system`` or a class of another package is refused.

The layout is MLflow 3.18's: ``model.<model_format>`` at the model root, named by both
``python_function.data`` and ``xgboost.data``, with ``xgb_version``, ``model_class`` and
``model_format`` in the ``xgboost`` section; ``loader_module: mlflow.xgboost``, so stock
MLflow loads what we write. The pyfunc wrapper predicts as MLflow's does: a ``Booster``
scores a ``DMatrix`` of the input, an estimator its ``predict``; both with
``validate_features=True``, and ``params`` that the predict method accepts are passed on
(``output_margin``, ``iteration_range``, ...), the rest dropped with a warning.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyfunc_ops.errors import InvalidParameterError, ModelFormatError, SerializationError
from pyfunc_ops.pyfunc.flavor_support import (
    FlavorFiles,
    add_sections,
    flavor_requirements,
    framework_version_of,
    open_for_load,
    open_for_pyfunc,
    recorded_class,
    saves_model,
    type_name,
)
from pyfunc_ops.pyfunc.log import log_model_with

if TYPE_CHECKING:
    from pyfunc_ops.models.mlmodel import Model
    from pyfunc_ops.pyfunc.save import StagedModel

log = logging.getLogger(__name__)

FLAVOR_NAME = "xgboost"
DEFAULT_MODEL_FORMAT = "ubj"
#: What ``read_native`` (``package_model(estimator_path=...)``) takes as an xgboost file.
NATIVE_SUFFIXES: tuple[str, ...] = (".ubj", ".json", ".xgb")
#: The class MLflow assumes when an MLmodel (written before MLflow 1.22) records none.
_DEFAULT_CLASS = "xgboost.core.Booster"
# model_format becomes a file extension: one short alphanumeric word, never a path.
_FORMAT = re.compile(r"^[A-Za-z0-9]{1,16}$")
# xgboost 3.1 stopped reading the binary format older versions wrote for other extensions.
_BINARY_REMOVED_IN = (3, 1)


def _xgb() -> Any:
    from pyfunc_ops.models.flavors import import_framework

    return import_framework(FLAVOR_NAME)


def get_default_pip_requirements() -> list[str]:
    """What a saved model's ``requirements.txt`` lists by default (MLflow's pin, xgboost)."""
    return flavor_requirements(FLAVOR_NAME)


def code_reason(flavors: dict[str, Any]) -> str | None:
    """``None``: every xgboost model format is data, read without running code."""
    return None


def _model_class_name(xgb_model: Any) -> str:
    """The dotted class name recorded as ``model_class``: the model's own class, or, for a
    subclass defined outside xgboost, the xgboost class it extends (the file holds only
    what that class saves, and a load builds only xgboost's classes)."""
    for cls in type(xgb_model).__mro__:
        module = getattr(cls, "__module__", "") or ""
        if module == "xgboost" or module.startswith("xgboost."):
            if cls is not type(xgb_model):
                warnings.warn(
                    f"{type_name(xgb_model)} is not a "
                    f"class of xgboost; the model is saved (and loads) as {module}."
                    f"{cls.__name__}, without the subclass's own code.",
                    UserWarning,
                    stacklevel=3,
                )
            return f"{module}.{cls.__name__}"
    raise InvalidParameterError(  # pragma: no cover - _check_model refused it already
        f"{type(xgb_model).__name__} is not an xgboost model."
    )


def _check_model(xgb_model: Any) -> None:
    xgb = _xgb()
    if not isinstance(xgb_model, (xgb.Booster, xgb.XGBModel)):
        raise InvalidParameterError(
            f"xgboost.save_model takes an xgboost.Booster or an estimator of xgboost's "
            f"scikit-learn API (XGBRegressor, XGBClassifier, ...), got "
            f"{type_name(xgb_model)}."
        )
    if isinstance(xgb_model, xgb.XGBModel):
        try:
            xgb_model.get_booster()
        except (ValueError, AttributeError, xgb.core.XGBoostError) as exc:  # NotFittedError
            raise InvalidParameterError(
                f"The {type(xgb_model).__name__} is not fitted ({exc}); call fit() first."
            ) from exc


@saves_model
def save_model(
    xgb_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str | os.PathLike[str]] | None = None,
    mlflow_model: Model | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    model_format: str = DEFAULT_MODEL_FORMAT,
    metadata: dict[str, Any] | None = None,
) -> FlavorFiles:
    """Save an xgboost ``Booster`` or scikit-learn API estimator to the local folder ``path``.

    ``model_format`` is the file's extension, as in MLflow: ``"ubj"`` (UBJSON, the default)
    or ``"json"``; another word (``"xgb"``, as older MLflow wrote) leaves the encoding to
    xgboost (UBJSON since xgboost 2.1). ``metadata`` goes to the MLmodel's ``metadata``.
    """
    if not isinstance(model_format, str) or not _FORMAT.match(model_format):
        raise InvalidParameterError(
            f"model_format must be a file extension such as 'ubj' (the default) or 'json', "
            f"got {model_format!r}."
        )
    _check_model(xgb_model)
    model_class = _model_class_name(xgb_model)
    file_name = f"model.{model_format}"

    def write_xgboost(staged: StagedModel) -> None:
        with warnings.catch_warnings():
            # xgboost warns that an extension other than ubj/json means UBJSON: that is the
            # documented meaning of model_format here, not news to the caller.
            warnings.filterwarnings("ignore", message=".*UBJSON format as default.*")
            xgb_model.save_model(str(staged.path / file_name))
        add_sections(
            staged,
            FLAVOR_NAME,
            file_name,
            xgb_version=framework_version_of(FLAVOR_NAME),
            data=file_name,
            model_class=model_class,
            model_format=model_format,
        )

    return FlavorFiles(write_xgboost, get_default_pip_requirements())


def log_model(
    xgb_model: Any,
    artifact_path: str,
    registered_model_name: str | None = None,
    **kwargs: Any,
) -> Any:
    """Log a model under the active run (started if needed); optionally register it.
    ``kwargs`` are :func:`save_model`'s."""
    return log_model_with(
        save_model, artifact_path, registered_model_name, xgb_model=xgb_model, **kwargs
    )


def _model_class(value: object, where: Path) -> type:
    """The class an MLmodel's ``model_class`` names: xgboost's ``Booster`` or one of its
    scikit-learn estimators, nothing else, whatever the trust."""
    xgb = _xgb()
    cls = recorded_class(value, ("xgboost",), where, f"{FLAVOR_NAME}.model_class")
    if not (issubclass(cls, xgb.Booster) or issubclass(cls, xgb.XGBModel)):
        raise ModelFormatError(
            f"{where / 'MLmodel'}: {FLAVOR_NAME}.model_class is {value!r}, which is neither "
            "xgboost.Booster nor an estimator of xgboost's scikit-learn API. Save the model "
            "again with the xgboost flavor."
        )
    return cls


def _sniff(path: Path) -> str:
    """What ``path`` holds: ``"json"``, ``"ubj"`` or ``"binary"`` (the retired format)."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head[:1] == b"{":
        return "json" if head[1:2] in (b'"', b" ", b"\n", b"\r", b"\t", b"}") else "ubj"
    return "binary"


def _read_into(model: Any, path: Path) -> Any:
    """``model.load_model(path)``, with a file xgboost cannot read reported by name."""
    xgb = _xgb()
    if not path.is_file():
        raise ModelFormatError(f"{path}: the xgboost model file is missing or not a file.")
    try:
        if path.suffix in (".ubj", ".json"):
            model.load_model(str(path))
        else:
            # Another extension (model.xgb, model.deprecated): xgboost would guess UBJSON
            # from the name and warn; from a buffer it tells the encoding by the content.
            model.load_model(bytearray(path.read_bytes()))
    except xgb.core.XGBoostError as exc:
        kind = _sniff(path)
        hint = "Restore the file, or save the model again."
        if kind == "binary" and _version(xgb.__version__) >= _BINARY_REMOVED_IN:
            hint = (
                f"It looks like the binary format xgboost < 1.6 wrote, which xgboost "
                f"{xgb.__version__} no longer reads (removed in 3.1): load it with "
                "pip install 'xgboost<3.1' and save it again as ubj or json."
            )
        raise SerializationError(
            f"{path}: xgboost {xgb.__version__} cannot read this model file "
            f"({str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}). {hint}"
        ) from exc
    return model


def _version(text: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", text)[:2]
    return tuple(int(p) for p in parts)


def _load_from(folder: Path, conf: dict[str, Any], data_path: Path) -> Any:
    """Build the recorded class and read the model file into it."""
    cls = _model_class(conf.get("model_class", _DEFAULT_CLASS), folder)
    return _read_into(cls(), data_path)


def load_model(
    model_uri: str | os.PathLike[str],
    dst_path: str | os.PathLike[str] | None = None,
    *,
    trust_remote_code: bool | None = None,
) -> Any:
    """Load the xgboost model itself (a ``Booster`` or the recorded estimator class) from any
    model URI. xgboost's formats run no code, so an untrusted source loads too;
    ``trust_remote_code`` is accepted for symmetry with the other flavors. ``dst_path`` is
    accepted for MLflow's signature and ignored (models are cached by pyfunc_ops)."""
    opened = open_for_load(model_uri, FLAVOR_NAME, trust_remote_code)
    return _load_from(opened.path, opened.conf, opened.data_file())


def read_native(path: str | os.PathLike[str]) -> Any:
    """An xgboost model file (``.ubj``, ``.json``, ``.xgb``) as its native object: the
    scikit-learn estimator the file says it came from (xgboost records it), else a
    ``Booster``. For ``package_model(estimator_path=...)``."""
    xgb = _xgb()
    target = Path(path)
    booster = _read_into(xgb.Booster(), target)
    kinds = {"regressor": xgb.XGBRegressor, "classifier": xgb.XGBClassifier}
    if hasattr(xgb, "XGBRanker"):
        kinds["ranker"] = xgb.XGBRanker
    try:
        kind = json.loads(booster.attr("scikit_learn") or "{}").get("_estimator_type")
    except (ValueError, AttributeError):
        kind = None
    cls = kinds.get(kind) if isinstance(kind, str) else None
    return booster if cls is None else _read_into(cls(), target)


class _XGBModelWrapper:
    """The pyfunc inference API over an xgboost model, predicting as MLflow's does."""

    def __init__(self, xgb_model: Any) -> None:
        self.xgb_model = xgb_model

    def get_raw_model(self) -> Any:
        return self.xgb_model

    def predict(self, dataframe: Any, params: dict[str, Any] | None = None) -> Any:
        xgb = _xgb()
        model = self.xgb_model
        kwargs = dict(params or {})
        if isinstance(model, xgb.Booster):
            kwargs.pop("validate_features", None)
            kwargs = _accepted(model.predict, kwargs)
            return model.predict(xgb.DMatrix(dataframe), validate_features=True, **kwargs)
        if isinstance(model, xgb.XGBModel):
            kwargs.setdefault("validate_features", True)
        return model.predict(dataframe, **_accepted(model.predict, kwargs))


def _accepted(fn: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The ``params`` ``fn`` takes; the others are dropped with a warning (as MLflow does,
    so a caller passing extra keys, e.g. a feature store's, still scores)."""
    if not params:
        return params
    accepted = inspect.signature(fn).parameters
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in accepted.values()):
        return params
    dropped = sorted(k for k in params if k not in accepted)
    if dropped:
        log.warning("The xgboost model's predict takes no %s; ignoring them.", dropped)
    return {k: v for k, v in params.items() if k in accepted}


def _load_pyfunc(path: str, model_config: Any = None) -> _XGBModelWrapper:
    """Loader entry point: ``path`` is the model file (``python_function.data``) or the
    model folder."""
    opened = open_for_pyfunc(path, FLAVOR_NAME)
    return _XGBModelWrapper(_load_from(opened.path, opened.conf, opened.data_file()))
