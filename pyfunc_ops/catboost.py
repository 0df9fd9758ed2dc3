"""The CatBoost flavor: save, log and load CatBoost models; a pyfunc ``loader_module``.

CatBoost writes its own binary format (``cbm``, the default) or JSON, and reads them back
as data: no Python object is unpickled, so a CatBoost model loads from an untrusted place.
The one thing an MLmodel decides about what gets built is ``model_type``, the class the
file is read into; it must be one of CatBoost's model classes (``CatBoost``,
``CatBoostClassifier``, ``CatBoostRegressor``, ``CatBoostRanker``), whatever the trust, so
an MLmodel cannot make a load import or call anything else.

The layout is MLflow's (``mlflow.catboost``): the model in ``model.cb``, named by ``data``
in both sections, and the ``catboost`` section recording ``catboost_version``,
``model_type`` and ``save_format``. Stock MLflow loads what we write, and we load what it
writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyfunc_ops.errors import InvalidParameterError, ModelFormatError, SerializationError
from pyfunc_ops.models.flavors import import_framework
from pyfunc_ops.models.mlmodel import MLMODEL_FILE_NAME, Model
from pyfunc_ops.pyfunc.flavor_support import (
    FlavorFiles,
    add_sections,
    check_save_options,
    flavor_requirements,
    framework_version_of,
    open_for_load,
    open_for_pyfunc,
    saves_model,
    type_name,
)
from pyfunc_ops.pyfunc.log import log_model_with

if TYPE_CHECKING:
    from pyfunc_ops.pyfunc.save import StagedModel

FLAVOR_NAME = "catboost"
#: The file MLflow writes the model to (named by ``data`` in both MLmodel sections).
MODEL_FILE_NAME = "model.cb"
#: The classes a ``model_type`` may name: the ones ``mlflow.catboost`` builds.
MODEL_TYPES = ("CatBoost", "CatBoostClassifier", "CatBoostRegressor", "CatBoostRanker")
#: Formats ``save_model(format=...)`` writes: the ones CatBoost reads back into the same model.
SAVE_FORMATS = ("cbm", "json")
#: Formats a recorded ``save_format`` may name: every one CatBoost's ``load_model`` reads.
LOAD_FORMATS = ("cbm", "json", "onnx", "coreml")
#: Native files ``package_model(estimator_path=...)`` can package with this flavor.
NATIVE_SUFFIXES = (".cbm",)
_SAVE_OPTIONS = ("format", "export_parameters", "pool")


def get_default_pip_requirements() -> list[str]:
    """What a CatBoost model's environment needs: MLflow's pin, cloudpickle, catboost."""
    return flavor_requirements(FLAVOR_NAME)


def code_reason(flavors: dict[str, Any]) -> None:
    """Nothing: every format CatBoost reads is data (the class is checked on load)."""
    return None


def _check_native(cb_model: Any) -> str:
    """The class name recorded as ``model_type``: ``cb_model`` must be a CatBoost model
    of one of :data:`MODEL_TYPES` (a subclass of them would not load back as itself)."""
    catboost = import_framework(FLAVOR_NAME)
    name = type(cb_model).__name__
    if not isinstance(cb_model, catboost.CatBoost) or name not in MODEL_TYPES:
        raise InvalidParameterError(
            f"The catboost flavor saves CatBoost models ({', '.join(MODEL_TYPES)}), got "
            f"{type_name(cb_model)}. Pass the fitted CatBoost model itself."
        )
    if not cb_model.is_fitted():
        raise InvalidParameterError(f"The {name} is not fitted; call fit(...) before saving it.")
    return name


@saves_model
def save_model(
    cb_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str | os.PathLike[str]] | None = None,
    mlflow_model: Model | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    metadata: dict[str, Any] | None = None,
    **kwargs: Any,
) -> FlavorFiles:
    """Save a fitted CatBoost model as a model with ``catboost`` and pyfunc flavors.

    ``kwargs`` go to ``CatBoost.save_model`` as with MLflow: ``format`` (``"cbm"``, the
    default, or ``"json"``; recorded as ``save_format``), ``export_parameters``, ``pool``.
    Formats CatBoost cannot read back into the same model (``cpp``, ``python``, ``pmml``,
    ``onnx``, ``coreml``) are refused: a model saved in them would not load as itself.
    """
    model_type = _check_native(cb_model)
    check_save_options(FLAVOR_NAME, kwargs, _SAVE_OPTIONS, "CatBoost's save_model")
    save_format = kwargs.get("format", "cbm")
    if save_format not in SAVE_FORMATS:
        raise InvalidParameterError(
            f"catboost save_model: format {save_format!r} is not supported; use one of "
            f"{list(SAVE_FORMATS)} (the formats CatBoost loads back into the same model)."
        )

    def write_catboost(staged: StagedModel) -> None:
        catboost = import_framework(FLAVOR_NAME)
        try:
            cb_model.save_model(str(staged.path / MODEL_FILE_NAME), **kwargs)
        except catboost.CatBoostError as exc:
            raise SerializationError(
                f"{model_type}: CatBoost could not write it as {save_format!r} ({exc})."
            ) from exc
        add_sections(
            staged,
            FLAVOR_NAME,
            MODEL_FILE_NAME,
            catboost_version=framework_version_of(FLAVOR_NAME),
            model_type=model_type,
            save_format=save_format,
            data=MODEL_FILE_NAME,
        )

    return FlavorFiles(write_catboost, get_default_pip_requirements())


def log_model(
    cb_model: Any,
    artifact_path: str,
    registered_model_name: str | None = None,
    **kwargs: Any,
) -> Any:
    """Log a CatBoost model under the active run (started if needed); optionally register it."""
    return log_model_with(
        save_model, artifact_path, registered_model_name, cb_model=cb_model, **kwargs
    )


def _model_class(model_type: object, where: Path) -> type:
    """The CatBoost class ``model_type`` names; anything else is refused before import."""
    if model_type not in MODEL_TYPES:
        raise ModelFormatError(
            f"{where / MLMODEL_FILE_NAME}: catboost model_type is {model_type!r}, which is "
            f"not one of CatBoost's model classes {list(MODEL_TYPES)}; refusing to build it. "
            "Save the model again with the catboost flavor's save_model."
        )
    catboost = import_framework(FLAVOR_NAME)
    cls = getattr(catboost, str(model_type), None)
    if not isinstance(cls, type):
        raise ModelFormatError(
            f"{where / MLMODEL_FILE_NAME}: catboost model_type {model_type!r} is not offered "
            f"by the installed catboost {catboost.__version__}. Install a catboost version "
            "that has it."
        )
    return cls


def _read(file: Path, model_type: object, save_format: object, where: Path) -> Any:
    """The model in ``file``, read as ``save_format`` into a fresh ``model_type``."""
    cls = _model_class(model_type, where)
    fmt = "cbm" if save_format is None else save_format
    if fmt not in LOAD_FORMATS:
        raise ModelFormatError(
            f"{where / MLMODEL_FILE_NAME}: catboost save_format is {save_format!r}; CatBoost "
            f"reads only {list(LOAD_FORMATS)}. Save the model again in 'cbm'."
        )
    if not file.is_file():
        raise ModelFormatError(
            f"{file}: the CatBoost model file is missing or not a file. Restore it, or save "
            "the model again."
        )
    catboost = import_framework(FLAVOR_NAME)
    try:
        return cls().load_model(str(file), format=fmt)
    except catboost.CatBoostError as exc:
        raise SerializationError(
            f"{file}: not a readable CatBoost {fmt} model ({exc}). Restore the file, or save "
            "the model again."
        ) from exc


def load_model(model_uri: str | os.PathLike[str], *, trust_remote_code: bool | None = None) -> Any:
    """Load the CatBoost model itself (a ``CatBoostClassifier``, ...) from any model URI.

    CatBoost's formats are data, so ``trust_remote_code`` changes nothing for the model
    file; it is accepted (and validated) as for every flavor's ``load_model``.
    """
    opened = open_for_load(model_uri, FLAVOR_NAME, trust_remote_code)
    file = opened.data_file(MODEL_FILE_NAME)
    return _read(file, opened.conf.get("model_type"), opened.conf.get("save_format"), opened.path)


def read_native(path: str | os.PathLike[str]) -> Any:
    """A ``.cbm`` file as the CatBoost class its loss function belongs to.

    A bare ``.cbm`` file does not record its Python class; its objective does: a
    classification loss makes a ``CatBoostClassifier``, a ranking one a ``CatBoostRanker``,
    any other a ``CatBoostRegressor`` (so ``predict`` returns what the fitted object did).
    """
    catboost = import_framework(FLAVOR_NAME)
    file = Path(path)
    base = _read(file, "CatBoost", "cbm", file.parent)
    loss = str(base.get_all_params().get("loss_function", "RMSE")).split(":")[0]
    core = import_framework(FLAVOR_NAME, "catboost.core")
    if core.is_classification_objective(loss):
        name = "CatBoostClassifier"
    elif core.is_ranking_metric(loss) and hasattr(catboost, "CatBoostRanker"):
        name = "CatBoostRanker"
    else:
        name = "CatBoostRegressor"
    return _read(file, name, "cbm", file.parent)


class _CatboostModelWrapper:
    """The inference API: ``predict(DataFrame)`` is the model's own ``predict`` (class
    labels for a classifier, values for a regressor or ranker), as in MLflow."""

    def __init__(self, cb_model: Any) -> None:
        self.cb_model = cb_model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return self.cb_model.predict(model_input)

    def get_raw_model(self) -> Any:
        return self.cb_model


def _load_pyfunc(path: str, model_config: Any = None) -> _CatboostModelWrapper:
    """Loader entry point: ``path`` is the model file ``data`` names (or the model folder)."""
    opened = open_for_pyfunc(path, FLAVOR_NAME)
    file = opened.given_file(path, MODEL_FILE_NAME)
    conf = opened.conf
    return _CatboostModelWrapper(
        _read(file, conf.get("model_type"), conf.get("save_format"), opened.path)
    )
