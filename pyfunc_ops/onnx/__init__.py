"""The ONNX flavor: save, log and load ONNX models; a pyfunc loader over onnxruntime.

An ONNX file is a protobuf graph of standard operators: loading it builds a graph and runs
no Python, so an ONNX model loads from an untrusted place. Two things around the graph are
guarded. Tensors stored as external data (``save_as_external_data=True``, MLflow's default)
name their files by a path inside the graph; every such path must stay inside the model
folder (checked by ``onnx.external_data`` before onnxruntime opens anything, and
onnxruntime checks again).
Session settings beyond the four MLflow maps to ``SessionOptions`` attributes
(``extra_session_config`` entries) and execution-provider options can make onnxruntime
write files or load provider plugin libraries, so an MLmodel carrying them loads from an
untrusted place only with the caller's trust (:func:`code_reason`).

The layout is MLflow's (``mlflow.onnx``): ``model.onnx`` (plus its external data files),
named by ``data`` in both sections; the ``onnx`` section records ``onnx_version``,
``providers`` (default CUDA then CPU) and ``onnx_session_options``. Providers are used as
recorded where this onnxruntime build has them; one it lacks (CUDA on a machine without
a GPU) is dropped with a warning, and CPU serves when none is left, as in MLflow.

``load_model`` returns the ``onnx.ModelProto`` (as ``mlflow.onnx.load_model`` does); the
pyfunc model wraps an ``onnxruntime.InferenceSession`` (``get_raw_model()``), and its
``predict`` returns what MLflow's does: a DataFrame with one flattened column per graph
output for a DataFrame input, a dict of output arrays for a dict or ndarray input.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyfunc_ops.core.paths import confine
from pyfunc_ops.errors import InvalidParameterError, ModelFormatError, SerializationError
from pyfunc_ops.models.flavors import import_framework
from pyfunc_ops.models.mlmodel import MLMODEL_FILE_NAME, Model
from pyfunc_ops.onnx.external_data import check_external_data
from pyfunc_ops.pyfunc.flavor_support import (
    FlavorFiles,
    add_sections,
    check_flag,
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

log = logging.getLogger(__name__)

FLAVOR_NAME = "onnx"
#: The file MLflow writes the graph to (named by ``data`` in both MLmodel sections).
MODEL_FILE_NAME = "model.onnx"
#: What MLflow records when the caller names no providers: GPU first, then CPU.
ONNX_EXECUTION_PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"]
#: Native files ``package_model(estimator_path=...)`` can package with this flavor.
NATIVE_SUFFIXES = (".onnx",)
_CPU = "CPUExecutionProvider"
_SAVE_OPTIONS = (
    "format",
    "all_tensors_to_one_file",
    "location",
    "size_threshold",
    "convert_attribute",
)
_EXECUTION_MODES = ("SEQUENTIAL", "PARALLEL")
_OPTIMIZATION_LEVELS = (0, 1, 2, 99)


def get_default_pip_requirements() -> list[str]:
    """What an ONNX model's environment needs: MLflow's pin, cloudpickle, onnx and
    onnxruntime (the pyfunc model runs on it)."""
    return flavor_requirements(FLAVOR_NAME)


def code_reason(flavors: dict[str, Any]) -> str | None:
    """The graph runs no Python; session settings that reach past the four options MLflow
    maps (``extra_session_config``, provider options) can make onnxruntime write files or
    load plugin libraries, so those need the caller's trust."""
    conf = flavors.get(FLAVOR_NAME) or {}
    options = conf.get("onnx_session_options")
    if isinstance(options, dict) and options.get("extra_session_config"):
        return (
            "its onnx_session_options.extra_session_config sets onnxruntime session entries, "
            "which can write files or load libraries"
        )
    providers = conf.get("providers")
    if isinstance(providers, list) and any(
        isinstance(p, (list, tuple)) and len(p) > 1 and p[1] for p in providers
    ):
        return (
            "its onnx providers carry execution-provider options, which can make onnxruntime "
            "load plugin libraries"
        )
    return None


def _check_session_options(options: object) -> dict[str, Any] | None:
    """``onnx_session_options`` as MLflow accepts it: ``SessionOptions`` attribute names plus
    ``extra_session_config`` (a dict of session config entries)."""
    if options is None:
        return None
    ort = import_framework(FLAVOR_NAME)
    if not isinstance(options, dict):
        raise InvalidParameterError(
            f"onnx_session_options must be a dict such as {{'intra_op_num_threads': 1}}, got "
            f"{type(options).__name__}."
        )
    for key, value in options.items():
        if key == "extra_session_config":
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise InvalidParameterError(
                    "onnx_session_options['extra_session_config'] must map session config "
                    f"keys to string values, got {value!r}."
                )
        elif not isinstance(key, str) or not hasattr(ort.SessionOptions, key):
            raise InvalidParameterError(
                f"onnx_session_options key {key!r} is not an onnxruntime SessionOptions "
                "attribute (e.g. intra_op_num_threads, inter_op_num_threads, execution_mode, "
                "graph_optimization_level) nor 'extra_session_config'."
            )
        elif key == "execution_mode" and str(value).upper() not in _EXECUTION_MODES:
            raise InvalidParameterError(
                f"onnx_session_options['execution_mode'] must be 'sequential' or 'parallel', "
                f"got {value!r}."
            )
        elif key == "graph_optimization_level" and value not in _OPTIMIZATION_LEVELS:
            raise InvalidParameterError(
                "onnx_session_options['graph_optimization_level'] must be 0, 1, 2 or 99, got "
                f"{value!r}."
            )
        elif key in ("intra_op_num_threads", "inter_op_num_threads") and (
            not isinstance(value, int) or value < 0
        ):
            raise InvalidParameterError(
                f"onnx_session_options[{key!r}] must be an integer >= 0, got {value!r}."
            )
    return dict(options)


def _check_providers(providers: object) -> list[Any]:
    """Provider names, or ``(name, options)`` pairs (recorded as two-item lists)."""
    if providers is None:
        return list(ONNX_EXECUTION_PROVIDERS)
    entries = [providers] if isinstance(providers, str) else providers
    if not isinstance(entries, (list, tuple)) or not entries:
        raise InvalidParameterError(
            "onnx_execution_providers must be a non-empty list of provider names (or "
            f"(name, options) pairs) such as ['CPUExecutionProvider'], got {providers!r}."
        )
    out: list[Any] = []
    for entry in entries:
        if isinstance(entry, str):
            out.append(entry)
        elif (
            isinstance(entry, (list, tuple))
            and len(entry) == 2
            and isinstance(entry[0], str)
            and isinstance(entry[1], dict)
        ):
            out.append([entry[0], dict(entry[1])])
        else:
            raise InvalidParameterError(
                f"onnx_execution_providers entry {entry!r} is neither a provider name nor a "
                "(name, options dict) pair."
            )
    return out


def _as_proto(onnx_model: Any) -> Any:
    onnx = import_framework(FLAVOR_NAME, "onnx")
    if isinstance(onnx_model, (bytes, bytearray)):
        try:
            return onnx.load_from_string(bytes(onnx_model))
        except Exception as exc:  # protobuf raises DecodeError and others for bad bytes
            raise SerializationError(
                f"onnx save_model: the bytes given are not a serialized ONNX model ({exc})."
            ) from exc
    if not isinstance(onnx_model, onnx.ModelProto):
        raise InvalidParameterError(
            f"The onnx flavor saves an onnx.ModelProto (or its serialized bytes), got "
            f"{type_name(onnx_model)}."
        )
    return onnx_model


@saves_model
def save_model(
    onnx_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str | os.PathLike[str]] | None = None,
    mlflow_model: Model | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    onnx_execution_providers: list[Any] | None = None,
    onnx_session_options: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    save_as_external_data: bool = True,
    **kwargs: Any,
) -> FlavorFiles:
    """Save an ONNX model (an ``onnx.ModelProto``) with ``onnx`` and pyfunc flavors.

    ``onnx_execution_providers``: what the pyfunc session asks onnxruntime for (default
    CUDA, then CPU). ``onnx_session_options``: ``SessionOptions`` settings (and
    ``extra_session_config``). ``save_as_external_data`` (default ``True``, as MLflow):
    tensors of 1 KB or more go to a data file beside ``model.onnx``. ``kwargs`` go to
    ``onnx.save_model`` (``location``, ``all_tensors_to_one_file``, ``size_threshold``,
    ``convert_attribute``). Like MLflow, no signature is inferred from ``input_example``.
    """
    onnx = import_framework(FLAVOR_NAME, "onnx")
    proto = _as_proto(onnx_model)
    providers = _check_providers(onnx_execution_providers)
    options = _check_session_options(onnx_session_options)
    check_save_options(FLAVOR_NAME, kwargs, _SAVE_OPTIONS, "onnx.save_model")
    check_flag(save_as_external_data, "save_as_external_data")

    def write_onnx(staged: StagedModel) -> None:
        location = kwargs.get("location")
        if save_as_external_data and location is not None:
            # onnx writes the data file at this path relative to model.onnx: keep it inside.
            confine(staged.path, location, key="onnx save_model location")
        # onnx.save_model moves tensors out of the proto it is given when it writes them
        # as external data (their bytes are cleared): write a copy, so the caller's model
        # keeps its weights (mlflow.onnx.save_model empties them).
        copy = onnx.ModelProto()
        copy.CopyFrom(proto)
        try:
            onnx.save_model(
                copy,
                str(staged.path / MODEL_FILE_NAME),
                save_as_external_data=save_as_external_data,
                **kwargs,
            )
        except (ValueError, OSError) as exc:
            raise SerializationError(
                f"onnx save_model: the model could not be written ({exc})."
            ) from exc
        add_sections(
            staged,
            FLAVOR_NAME,
            MODEL_FILE_NAME,
            onnx_version=framework_version_of(FLAVOR_NAME),
            providers=providers,
            data=MODEL_FILE_NAME,
        )
        # MLflow records the session options even when there are none (``null``), which
        # add_sections would leave out.
        staged.model.flavors[FLAVOR_NAME]["onnx_session_options"] = options

    # MLflow's onnx flavor infers no signature from an input example: neither do we.
    return FlavorFiles(write_onnx, get_default_pip_requirements(), infer_signature=False)


def log_model(
    onnx_model: Any,
    artifact_path: str,
    registered_model_name: str | None = None,
    **kwargs: Any,
) -> Any:
    """Log an ONNX model under the active run (started if needed); optionally register it."""
    return log_model_with(
        save_model, artifact_path, registered_model_name, onnx_model=onnx_model, **kwargs
    )


def _read_proto(file: Path, folder: Path) -> Any:
    """The checked ``onnx.ModelProto`` in ``file`` with its external data."""
    onnx = import_framework(FLAVOR_NAME, "onnx")
    if not file.is_file():
        raise ModelFormatError(
            f"{file}: the ONNX model file is missing or not a file. Restore it, or save the "
            "model again."
        )
    check_external_data(file, folder)
    try:
        onnx.checker.check_model(str(file))
        return onnx.load(str(file))
    except Exception as exc:  # ValidationError, protobuf's DecodeError, OSError, ...
        raise SerializationError(
            f"{file}: not a valid ONNX model ({type(exc).__name__}: {exc}). Restore the file, "
            "or save the model again."
        ) from exc


def load_model(model_uri: str | os.PathLike[str], *, trust_remote_code: bool | None = None) -> Any:
    """Load the ``onnx.ModelProto`` (with its external data) from any model URI.

    The graph is data; ``trust_remote_code`` matters only for an MLmodel whose session
    settings need it (:func:`code_reason`), which the pyfunc load applies.
    """
    opened = open_for_load(model_uri, FLAVOR_NAME, trust_remote_code)
    file = opened.data_file(MODEL_FILE_NAME)
    return _read_proto(file, opened.path)


def read_native(path: str | os.PathLike[str]) -> Any:
    """A local ``.onnx`` file (and the external data beside it) as an ``onnx.ModelProto``."""
    file = Path(path).absolute()
    return _read_proto(file, file.parent)


def _providers(conf: dict[str, Any]) -> list[Any]:
    """The recorded providers as onnxruntime takes them (MLflow's default when absent)."""
    recorded = conf.get("providers")
    if isinstance(recorded, str):
        recorded = [recorded]
    if not recorded or not isinstance(recorded, list):
        recorded = ONNX_EXECUTION_PROVIDERS
    return [tuple(p) if isinstance(p, list) else p for p in recorded]


def _provider_name(entry: object) -> str | None:
    if isinstance(entry, tuple):
        entry = entry[0] if entry else None
    return entry if isinstance(entry, str) else None


def _session_options(conf: dict[str, Any]) -> Any:
    """``SessionOptions`` from the recorded ``onnx_session_options``: the keys MLflow's
    loader applies (thread counts, execution mode, optimization level, config entries)."""
    ort = import_framework(FLAVOR_NAME)
    options = ort.SessionOptions()
    recorded = conf.get("onnx_session_options")
    if not recorded:
        return options
    if not isinstance(recorded, dict):
        raise ModelFormatError(
            f"onnx_session_options must be a mapping, found {type(recorded).__name__}."
        )
    try:
        if value := recorded.get("inter_op_num_threads"):
            options.inter_op_num_threads = value
        if value := recorded.get("intra_op_num_threads"):
            options.intra_op_num_threads = value
        if value := recorded.get("execution_mode"):
            mode = str(value).upper()
            if mode == "SEQUENTIAL":
                options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            elif mode == "PARALLEL":
                options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        if value := recorded.get("graph_optimization_level"):
            options.graph_optimization_level = ort.GraphOptimizationLevel(value)
        for key, entry in (recorded.get("extra_session_config") or {}).items():
            options.add_session_config_entry(key, entry)
    except (TypeError, ValueError, AttributeError, RuntimeError) as exc:
        raise ModelFormatError(
            f"onnx_session_options {recorded!r} cannot be applied ({exc}). Fix the MLmodel or "
            "save the model again."
        ) from exc
    return options


def _session(file: Path, conf: dict[str, Any]) -> Any:
    """An ``InferenceSession`` on the recorded providers this build has (CPU if none)."""
    ort = import_framework(FLAVOR_NAME)
    providers = _providers(conf)
    options = _session_options(conf)
    available = set(ort.get_available_providers())
    usable = [p for p in providers if _provider_name(p) in available]
    missing = [p for p in providers if _provider_name(p) not in available]
    requested = usable or [_CPU]
    if missing:
        log.warning(
            "ONNX model %s names execution providers %s that this onnxruntime build lacks; "
            "serving with %s.",
            file,
            missing,
            requested,
        )
    try:
        try:
            return ort.InferenceSession(str(file), sess_options=options, providers=requested)
        except Exception as exc:  # a listed provider may fail to initialise (no driver)
            if requested == [_CPU]:
                raise
            log.warning(
                "ONNX model %s: providers %s failed to initialise (%r); serving on CPU.",
                file,
                requested,
                exc,
            )
            return ort.InferenceSession(str(file), sess_options=options, providers=[_CPU])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise SerializationError(
            f"{file}: onnxruntime cannot load it ({type(exc).__name__}: {exc}). Restore the "
            "model's files, or save it again."
        ) from exc


class _OnnxModelWrapper:
    """The inference API over an ``InferenceSession``, returning what MLflow's does.

    Input: a dict is the feed itself; an ndarray feeds the only graph input; a DataFrame
    feeds its whole value matrix to a single-input graph, else column ``name`` to each
    input ``name``. float64 is cast to float32 where an input is ``tensor(float)``.
    Output: a DataFrame (one flattened column per graph output) for a DataFrame input, a
    dict of output arrays otherwise.
    """

    def __init__(self, session: Any) -> None:
        self.rt = session
        self.inputs = [(i.name, i.type) for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]

    def get_raw_model(self) -> Any:
        return self.rt

    def _feed(self, data: Any) -> dict[str, Any]:
        import numpy as np
        import pandas as pd

        if isinstance(data, dict):
            return dict(data)
        if isinstance(data, np.ndarray):
            if len(self.inputs) != 1:
                raise InvalidParameterError(
                    f"This ONNX model has {len(self.inputs)} inputs "
                    f"{[n for n, _ in self.inputs]}; an ndarray feeds a single-input model "
                    "only. Pass a dict of arrays or a DataFrame with these columns."
                )
            return {self.inputs[0][0]: data}
        if isinstance(data, pd.DataFrame):
            if len(self.inputs) == 1:
                return {self.inputs[0][0]: data.values}
            absent = [n for n, _ in self.inputs if n not in data.columns]
            if absent:
                raise InvalidParameterError(
                    f"This ONNX model takes the inputs {[n for n, _ in self.inputs]}, one per "
                    f"DataFrame column; the frame lacks {absent}."
                )
            return {name: data[name].values for name, _ in self.inputs}
        raise InvalidParameterError(
            "An ONNX model predicts from a pandas DataFrame, a numpy ndarray or a dict of "
            f"arrays, got {type(data).__name__}."
        )

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import numpy as np
        import pandas as pd

        feed = self._feed(data)
        # JSON and Spark hand over float64 where the graph takes float32: cast, as MLflow.
        for name, kind in self.inputs:
            value = feed.get(name)
            if kind == "tensor(float)" and isinstance(value, np.ndarray):
                feed[name] = value.astype(np.float32) if value.dtype == np.float64 else value
        predicted = self.rt.run(self.output_names, feed)
        if isinstance(data, pd.DataFrame):
            return pd.DataFrame.from_dict(
                {
                    name: np.asarray(value).reshape(-1)
                    for name, value in zip(self.output_names, predicted, strict=False)
                }
            )
        return dict(zip(self.output_names, predicted, strict=False))


def _load_pyfunc(path: str, model_config: Any = None) -> _OnnxModelWrapper:
    """Loader entry point: ``path`` is the ``model.onnx`` ``data`` names (or the folder)."""
    opened = open_for_pyfunc(path, FLAVOR_NAME)
    file = opened.given_file(path, MODEL_FILE_NAME)
    reason = code_reason(opened.model.flavors)
    if reason is not None:
        opened.trust.require(reason)
    if not file.is_file():
        raise ModelFormatError(
            f"{opened.path / MLMODEL_FILE_NAME}: the ONNX model file {file} is missing. "
            "Restore it, or save the model again."
        )
    check_external_data(file, opened.path)
    return _OnnxModelWrapper(_session(file, opened.conf))
