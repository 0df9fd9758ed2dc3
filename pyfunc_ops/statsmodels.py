"""The statsmodels flavor: save, log and load fitted results objects; a pyfunc loader.

statsmodels persists results (``OLSResults``, ``ARIMAResults``, ...) only as a pickle
(``results.save``), and unpickling runs whatever code the file names. So a statsmodels
model is read only when the load is trusted (a local path, a registry version matching its
digest, or the caller's ``trust_remote_code=True``); from any other place it is refused
before the file is opened (:func:`code_reason`).

The layout is MLflow's (``mlflow.statsmodels``): the pickle in ``model.statsmodels``, named
by ``data`` in both MLmodel sections, and ``statsmodels_version`` in the flavor section.
``remove_data=True`` drops the arrays of training length before pickling (smaller files;
some results then cannot compute every statistic, predict still works).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyfunc_ops.errors import InvalidParameterError, ModelFormatError
from pyfunc_ops.models.flavors import import_framework
from pyfunc_ops.models.mlmodel import MLMODEL_FILE_NAME, Model
from pyfunc_ops.pyfunc.flavor_support import (
    TRUSTED_LOCAL,
    FlavorFiles,
    add_sections,
    check_flag,
    flavor_requirements,
    framework_version_of,
    open_for_load,
    open_for_pyfunc,
    read_pickle,
    saves_model,
    type_name,
)
from pyfunc_ops.pyfunc.log import log_model_with

if TYPE_CHECKING:
    from pyfunc_ops.pyfunc.save import StagedModel

FLAVOR_NAME = "statsmodels"
#: The file MLflow pickles the results to (named by ``data`` in both MLmodel sections).
MODEL_FILE_NAME = "model.statsmodels"
#: Native files ``package_model(estimator_path=...)`` can package with this flavor: a
#: ``results.save(...)`` pickle under MLflow's own suffix (``.pkl`` would be ambiguous).
NATIVE_SUFFIXES = (".statsmodels",)
_WHAT = "statsmodels results"


def get_default_pip_requirements() -> list[str]:
    """What a statsmodels model's environment needs: MLflow's pin, cloudpickle, statsmodels."""
    return flavor_requirements(FLAVOR_NAME)


def code_reason(flavors: dict[str, Any]) -> str:
    """Always a reason: statsmodels results are a pickle, and unpickling runs code."""
    data = (flavors.get(FLAVOR_NAME) or {}).get("data", MODEL_FILE_NAME)
    return f"its {_WHAT} are a pickle file ({data}), and unpickling runs code"


@saves_model
def save_model(
    statsmodels_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str | os.PathLike[str]] | None = None,
    mlflow_model: Model | None = None,
    remove_data: bool = False,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    metadata: dict[str, Any] | None = None,
) -> FlavorFiles:
    """Save a fitted statsmodels results object (what ``model.fit()`` returns) as a model
    with ``statsmodels`` and pyfunc flavors. ``remove_data``: see the module docstring."""
    import_framework(FLAVOR_NAME)
    if not callable(getattr(statsmodels_model, "save", None)) or not callable(
        getattr(statsmodels_model, "predict", None)
    ):
        raise InvalidParameterError(
            f"The statsmodels flavor saves fitted results (what model.fit() returns), got "
            f"{type_name(statsmodels_model)}. Pass the results of fit(), not the model."
        )
    check_flag(remove_data, "remove_data")

    def write_statsmodels(staged: StagedModel) -> None:
        statsmodels_model.save(str(staged.path / MODEL_FILE_NAME), remove_data)
        add_sections(
            staged,
            FLAVOR_NAME,
            MODEL_FILE_NAME,
            statsmodels_version=framework_version_of(FLAVOR_NAME),
            data=MODEL_FILE_NAME,
        )

    return FlavorFiles(write_statsmodels, get_default_pip_requirements())


def log_model(
    statsmodels_model: Any,
    artifact_path: str,
    registered_model_name: str | None = None,
    **kwargs: Any,
) -> Any:
    """Log a results object under the active run (started if needed); optionally register it."""
    return log_model_with(
        save_model,
        artifact_path,
        registered_model_name,
        statsmodels_model=statsmodels_model,
        **kwargs,
    )


def _read(file: Path, trust: Any) -> Any:
    """The results pickled in ``file``, read only when ``trust`` allows code to run."""
    import_framework(FLAVOR_NAME)  # the pickle names statsmodels' classes: a clear hint
    results = read_pickle(file, trust, _WHAT)
    if not callable(getattr(results, "predict", None)):
        raise ModelFormatError(
            f"{file}: holds a {type_name(results)}, not "
            "statsmodels results with a predict method. Save the results of fit() again."
        )
    return results


def load_model(model_uri: str | os.PathLike[str], *, trust_remote_code: bool | None = None) -> Any:
    """Load the statsmodels results object itself from any model URI.

    The file is a pickle: from an untrusted source it loads only with
    ``trust_remote_code=True`` (see :mod:`pyfunc_ops.pyfunc.trust`).
    """
    opened = open_for_load(model_uri, FLAVOR_NAME, trust_remote_code)
    opened.trust.require(code_reason(opened.model.flavors))
    file = opened.data_file(MODEL_FILE_NAME)
    return _read(file, opened.trust)


def read_native(path: str | os.PathLike[str]) -> Any:
    """A local ``results.save(...)`` pickle (the caller's own file: a trusted path)."""
    return _read(Path(path), TRUSTED_LOCAL)


class _StatsmodelsModelWrapper:
    """The inference API, as MLflow's: ``predict(DataFrame)`` is ``results.predict(frame)``
    (the frame holds the exog columns); for a time-series model the frame is one row with
    ``start`` and ``end`` columns, and the result is ``results.predict(start=, end=)``."""

    def __init__(self, statsmodels_model: Any) -> None:
        self.statsmodels_model = statsmodels_model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        tsa = import_framework(FLAVOR_NAME, "statsmodels.tsa.base.tsa_model")
        if isinstance(getattr(self.statsmodels_model, "model", None), tsa.TimeSeriesModel):
            columns = getattr(model_input, "columns", ())
            if (
                getattr(model_input, "shape", (0,))[0] != 1
                or "start" not in columns
                or "end" not in columns
            ):
                raise InvalidParameterError(
                    "A statsmodels time-series model predicts from a DataFrame of exactly one "
                    "row with the columns 'start' and 'end' (the range to predict), got "
                    f"{type(model_input).__name__} of shape "
                    f"{getattr(model_input, 'shape', None)}."
                )
            start = model_input["start"][0]
            end = model_input["end"][0]
            return self.statsmodels_model.predict(start=start, end=end)
        return self.statsmodels_model.predict(model_input)

    def get_raw_model(self) -> Any:
        return self.statsmodels_model


def _load_pyfunc(path: str, model_config: Any = None) -> _StatsmodelsModelWrapper:
    """Loader entry point: ``path`` is the pickle ``data`` names (or the model folder)."""
    opened = open_for_pyfunc(path, FLAVOR_NAME)
    file = opened.given_file(path, MODEL_FILE_NAME)
    if not file.is_file():
        raise ModelFormatError(
            f"{opened.path / MLMODEL_FILE_NAME}: the statsmodels pickle {file} is missing. "
            "Restore it, or save the model again."
        )
    return _StatsmodelsModelWrapper(_read(file, opened.trust))
