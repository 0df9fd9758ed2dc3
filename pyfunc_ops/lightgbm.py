"""The LightGBM flavor: save, log and load a ``Booster`` or an estimator of LightGBM's
scikit-learn API (``LGBMRegressor``, ``LGBMClassifier``, ...); a pyfunc ``loader_module``.

The layout is MLflow 3.18's. A ``Booster`` is LightGBM's own text file, ``model.lgb``; an
estimator is serialized like a scikit-learn one (``serialization_format``): skops (the
default, ``model.skops``), cloudpickle or pickle (``model.pkl``). The ``lightgbm`` section
records ``lgb_version``, ``data``, ``model_class``, ``serialization_format`` and
``skops_trusted_types`` (for skops MLflow's built-in LightGBM types plus the caller's), and
``python_function.loader_module`` is ``mlflow.lightgbm``, so stock MLflow loads what we write.

MLflow records ``serialization_format: skops`` even for a ``Booster`` it wrote as text, so a
load reads what the file *is* (a text model, a skops zip or a pickle), never what the
MLmodel claims: a text ``Booster`` builds from data and loads from an untrusted place; skops
builds only its safe types, the four LightGBM types MLflow trusts (a ``Booster`` rebuilds
from its model text, the estimators from their attributes) and the caller's, plus the types
the model records when its source is trusted (the scikit-learn flavor's rule);
a pickle is read only when the load is trusted. ``model_class`` must name a LightGBM class.
The pyfunc wrapper predicts as MLflow's: the model's ``predict`` on the input, no params.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyfunc_ops.errors import (
    InvalidParameterError,
    ModelFormatError,
    SerializationError,
)
from pyfunc_ops.pyfunc.flavor_support import (
    FlavorFiles,
    OpenedFlavor,
    add_sections,
    flavor_requirements,
    framework_version_of,
    import_skops_io,
    open_for_load,
    open_for_pyfunc,
    recorded_class,
    saves_model,
    skops_load,
    skops_types,
    type_name,
)
from pyfunc_ops.pyfunc.log import log_model_with

if TYPE_CHECKING:
    from pyfunc_ops.models.mlmodel import Model
    from pyfunc_ops.pyfunc.save import StagedModel
    from pyfunc_ops.pyfunc.trust import TrustDecision

FLAVOR_NAME = "lightgbm"
SERIALIZATION_FORMATS = ("skops", "cloudpickle", "pickle")
DEFAULT_SERIALIZATION_FORMAT = "skops"
#: What ``read_native`` (``package_model(estimator_path=...)``) takes: a text Booster.
NATIVE_SUFFIXES: tuple[str, ...] = (".lgb",)
BOOSTER_CLASS = "lightgbm.basic.Booster"
#: The types MLflow trusts for a LightGBM estimator saved with skops (and records): their
#: state is data (a Booster is rebuilt by parsing its model text), so they are safe to
#: build whatever the source.
SKOPS_LIGHTGBM_TYPES: frozenset[str] = frozenset(
    {
        "collections.OrderedDict",
        BOOSTER_CLASS,
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
    }
)
_FILE_NAMES = {"booster": "model.lgb", "skops": "model.skops"}
_PICKLE_FILE = "model.pkl"


def _lgb() -> Any:
    from pyfunc_ops.models.flavors import import_framework

    return import_framework(FLAVOR_NAME)


def _skops_io() -> Any:
    """``skops.io`` (a missing lightgbm is reported first)."""
    if sys.modules.get("skops.io") is None:
        _lgb()
    return import_skops_io("A LightGBM model saved with skops")


def _skops_types(conf: dict[str, Any], caller: Sequence[str], trust: TrustDecision) -> list[str]:
    """LightGBM's own skops types, the caller's, and a trusted source's recorded ones."""
    return skops_types(conf, caller, trust, SKOPS_LIGHTGBM_TYPES)


def get_default_pip_requirements(
    include_cloudpickle: bool = False, include_skops: bool = False
) -> list[str]:
    """A saved model's default requirements: MLflow's pin, cloudpickle, lightgbm, and for an
    estimator scikit-learn (its API needs it; lightgbm does not require it) and skops."""
    extra = (["scikit-learn", "skops"] if include_skops else []) + (
        ["scikit-learn"] if include_cloudpickle else []
    )
    return flavor_requirements(FLAVOR_NAME, *extra)


def code_reason(flavors: dict[str, Any]) -> str | None:
    """What loading would run, from the MLmodel alone: a pickled estimator does; a text
    ``Booster`` and skops do not. (The load checks the file itself again.)"""
    conf = flavors.get(FLAVOR_NAME) or {}
    if conf.get("model_class", BOOSTER_CLASS) == BOOSTER_CLASS:
        return None
    fmt = conf.get("serialization_format", "cloudpickle")
    if fmt != "skops":
        return f"its LightGBM model is a {fmt} file, and unpickling runs code"
    return None


def _check_model(lgb_model: Any) -> bool:
    """Whether ``lgb_model`` is a Booster; refuse what is no LightGBM model."""
    lgb = _lgb()
    if isinstance(lgb_model, lgb.Booster):
        return True
    if not isinstance(lgb_model, lgb.LGBMModel):
        raise InvalidParameterError(
            "lightgbm.save_model takes a lightgbm.Booster or an estimator of LightGBM's "
            "scikit-learn API (LGBMRegressor, LGBMClassifier, ...), got "
            f"{type_name(lgb_model)}."
        )
    if not getattr(lgb_model, "fitted_", False) and getattr(lgb_model, "_Booster", None) is None:
        raise InvalidParameterError(
            f"The {type(lgb_model).__name__} is not fitted; call fit() before saving it."
        )
    return False


def _dump_estimator(lgb_model: Any, path: Path, fmt: str, trusted: list[str] | None) -> None:
    """Serialize an estimator; a skops file must need no type beyond ``trusted``."""
    if fmt == "skops":
        skops_io = _skops_io()
        try:
            skops_io.dump(lgb_model, path)
        except Exception as exc:  # skops raises many types for objects it cannot represent
            raise SerializationError(
                f"LightGBM model {type(lgb_model).__name__}: skops cannot serialize it "
                f"({exc}). Save it with serialization_format='cloudpickle' instead."
            ) from exc
        untrusted = sorted(set(skops_io.get_untrusted_types(file=path)) - set(trusted or []))
        if untrusted:
            raise SerializationError(
                f"LightGBM model {type(lgb_model).__name__}: the skops file references types "
                f"skops does not trust by default: {untrusted}. If loading them is safe, pass "
                "skops_trusted_types=[...] with these names, or save with "
                "serialization_format='cloudpickle' (which can run arbitrary code at load)."
            )
        return
    import cloudpickle

    with open(path, "wb") as fh:
        (cloudpickle if fmt == "cloudpickle" else pickle).dump(lgb_model, fh)


@saves_model
def save_model(
    lgb_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str | os.PathLike[str]] | None = None,
    mlflow_model: Model | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    metadata: dict[str, Any] | None = None,
    serialization_format: str | None = None,
    skops_trusted_types: list[str] | None = None,
) -> FlavorFiles:
    """Save a LightGBM ``Booster`` (as its text file) or scikit-learn API estimator (as
    ``serialization_format``: ``"skops"``, the default and safe to load anywhere,
    ``"cloudpickle"`` or ``"pickle"``) to the local folder ``path``.

    ``skops_trusted_types``: extra types the skops file may hold, recorded with MLflow's
    LightGBM types. ``metadata`` goes to the MLmodel's ``metadata``.
    """
    fmt = DEFAULT_SERIALIZATION_FORMAT if serialization_format is None else serialization_format
    if fmt not in SERIALIZATION_FORMATS:
        raise InvalidParameterError(
            f"serialization_format {serialization_format!r} is not supported; use one of "
            f"{list(SERIALIZATION_FORMATS)} ('skops' is safe to load from untrusted places)."
        )
    if skops_trusted_types is not None and (
        not isinstance(skops_trusted_types, (list, tuple))
        or not all(isinstance(t, str) for t in skops_trusted_types)
    ):
        raise InvalidParameterError(
            f"skops_trusted_types must be a list of dotted type names, got {skops_trusted_types!r}."
        )
    is_booster = _check_model(lgb_model)
    trusted = (
        sorted(SKOPS_LIGHTGBM_TYPES.union(skops_trusted_types or []))
        if fmt == "skops"
        else (list(skops_trusted_types) if skops_trusted_types is not None else None)
    )
    file_name = _FILE_NAMES["booster"] if is_booster else _FILE_NAMES.get(fmt, _PICKLE_FILE)
    cls = type(lgb_model)
    model_class = f"{cls.__module__}.{cls.__name__}"

    def write_lightgbm(staged: StagedModel) -> None:
        if is_booster:
            lgb_model.save_model(str(staged.path / file_name))
        else:
            _dump_estimator(lgb_model, staged.path / file_name, fmt, trusted)
        add_sections(staged, FLAVOR_NAME, file_name)
        # The section is written again here, in MLflow's key order and with its null
        # ``skops_trusted_types`` for a Booster or a pickle (add_sections leaves out None).
        staged.model.add_flavor(
            FLAVOR_NAME,
            lgb_version=framework_version_of(FLAVOR_NAME),
            data=file_name,
            model_class=model_class,
            code=staged.code,
            serialization_format=fmt,
            skops_trusted_types=trusted,
        )

    return FlavorFiles(
        write_lightgbm,
        get_default_pip_requirements(
            include_cloudpickle=not is_booster and fmt == "cloudpickle",
            include_skops=not is_booster and fmt == "skops",
        ),
    )


def log_model(
    lgb_model: Any,
    artifact_path: str,
    registered_model_name: str | None = None,
    **kwargs: Any,
) -> Any:
    """Log a model under the active run (started if needed); optionally register it.
    ``kwargs`` are :func:`save_model`'s."""
    return log_model_with(
        save_model, artifact_path, registered_model_name, lgb_model=lgb_model, **kwargs
    )


def _sniff(path: Path) -> str:
    """What the model file is: ``"text"`` (a Booster), ``"skops"`` (a zip), ``"pickle"``
    (a protocol 2+ pickle) or ``"unknown"``."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith((b"tree\n", b"tree\r\n")):
        return "text"
    if head.startswith(b"PK\x03\x04"):
        return "skops"
    if head[:1] == b"\x80":
        return "pickle"
    return "unknown"


def _model_class(value: object, where: Path) -> type:
    """The class ``model_class`` names: ``lightgbm.Booster`` or a LightGBM estimator."""
    lgb = _lgb()
    cls = recorded_class(value, ("lightgbm",), where, f"{FLAVOR_NAME}.model_class")
    if not (issubclass(cls, lgb.Booster) or issubclass(cls, lgb.LGBMModel)):
        raise ModelFormatError(
            f"{where / 'MLmodel'}: {FLAVOR_NAME}.model_class is {value!r}, which is neither "
            "lightgbm.Booster nor an estimator of LightGBM's scikit-learn API. Save the model "
            "again with the lightgbm flavor."
        )
    return cls


def _read_booster(path: Path) -> Any:
    lgb = _lgb()
    try:
        return lgb.Booster(model_file=str(path))
    except lgb.basic.LightGBMError as exc:
        raise SerializationError(
            f"{path}: LightGBM cannot read this model text file ({exc}). Restore the file, "
            "or save the model again."
        ) from exc


def _read_skops(path: Path, types: list[str]) -> Any:
    _skops_io()  # a missing lightgbm or skops is named first
    return skops_load(path, types, "LightGBM model")


def _read_model(opened: OpenedFlavor, path: Path, caller_types: tuple[str, ...] | list[str]) -> Any:
    """Read the model file by what it is; the recorded class must agree with it."""
    where = opened.path
    recorded = opened.conf.get("model_class", BOOSTER_CLASS)
    cls = _model_class(recorded, where)
    kind = _sniff(path)
    lgb = _lgb()
    if kind == "text":
        if not issubclass(cls, lgb.Booster):
            raise ModelFormatError(
                f"{path}: a LightGBM Booster text file, but {FLAVOR_NAME}.model_class is "
                f"{recorded!r}. Fix model_class to {BOOSTER_CLASS!r} or save the model again."
            )
        return _read_booster(path)
    if kind == "skops":
        trust: TrustDecision = opened.trust
        types = _skops_types(opened.conf, caller_types, trust)
        model = _read_skops(path, types)
    elif kind == "pickle" or opened.conf.get("serialization_format") in ("pickle", "cloudpickle"):
        from pyfunc_ops.pyfunc.flavor_support import read_pickle

        model = read_pickle(path, opened.trust, "LightGBM model")
    else:
        raise SerializationError(
            f"{path}: neither a LightGBM model text file, a skops file nor a pickle. Restore "
            "the file, or save the model again."
        )
    if not isinstance(model, cls):
        raise ModelFormatError(
            f"{path}: holds a {type_name(model)}, but "
            f"{FLAVOR_NAME}.model_class is {recorded!r}. Save the model again."
        )
    return model


def load_model(
    model_uri: str | os.PathLike[str],
    dst_path: str | os.PathLike[str] | None = None,
    *,
    trust_remote_code: bool | None = None,
    skops_trusted_types: list[str] | None = None,
) -> Any:
    """Load the LightGBM model itself (a ``Booster`` or the recorded estimator) from any URI.

    A text Booster and a skops estimator load from an untrusted place; a pickle needs
    ``trust_remote_code=True`` there. ``skops_trusted_types``: extra types skops may build
    (the caller's choice). ``dst_path`` is accepted for MLflow's signature and ignored.
    """
    from pyfunc_ops.pyfunc.load import check_skops_types

    types = check_skops_types(skops_trusted_types)
    opened = open_for_load(model_uri, FLAVOR_NAME, trust_remote_code)
    return _read_model(opened, opened.data_file(), types)


def read_native(path: str | os.PathLike[str]) -> Any:
    """A LightGBM model text file as a ``Booster`` (for ``package_model(estimator_path=...)``);
    anything else is refused: only the text format is known to be data."""
    target = Path(path)
    if not target.is_file():
        raise SerializationError(f"{target}: no such LightGBM model file.")
    if _sniff(target) != "text":
        raise SerializationError(
            f"{target}: not a LightGBM model text file (as Booster.save_model writes). "
            "Pass the fitted model object instead."
        )
    return _read_booster(target)


class _LGBModelWrapper:
    """The pyfunc inference API over a LightGBM model, predicting as MLflow's does."""

    def __init__(self, lgb_model: Any) -> None:
        self.lgb_model = lgb_model

    def get_raw_model(self) -> Any:
        return self.lgb_model

    def predict(self, dataframe: Any, params: dict[str, Any] | None = None) -> Any:
        return self.lgb_model.predict(dataframe)


def _load_pyfunc(path: str, model_config: Any = None) -> _LGBModelWrapper:
    """Loader entry point: ``path`` is the model file (``python_function.data``) or the
    model folder; the trust and the caller's skops types come from the load in progress."""
    from pyfunc_ops.pyfunc.load import caller_skops_types

    opened = open_for_pyfunc(path, FLAVOR_NAME)
    types = caller_skops_types(opened.path)
    return _LGBModelWrapper(_read_model(opened, opened.data_file(), types))
