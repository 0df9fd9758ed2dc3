"""The scikit-learn flavor: save, log and load an estimator; a pyfunc ``loader_module``.

The default serialization is skops, which refuses to construct types it was not told to
trust, so loading a model from an untrusted place cannot run arbitrary code. cloudpickle
and pickle remain available for estimators skops cannot represent; such a file is read
only when the load is trusted (see :mod:`pyfunc_ops.pyfunc.trust`), whatever the MLmodel
says. The extra types skops may build come from the caller (``skops_trusted_types=``) and,
when the source is trusted (a local path, a registry version matching its digest, which
may run a pickle anyway), from the ``skops_trusted_types`` the flavor records; from an
untrusted source the recorded list is never trusted because the file says so. The ``sklearn``
flavor section has the keys other tools of the format read (``pickled_model``,
``serialization_format``, ``sklearn_version``), so those tools load our models too.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyfunc_ops.core.paths import confine
from pyfunc_ops.errors import InvalidParameterError, ModelFormatError, SerializationError
from pyfunc_ops.models import env as env_files
from pyfunc_ops.models.mlmodel import Model

# ``import_skops_io`` is shared with the other flavors that read skops files (LightGBM);
# importable from here as before (the example DAG and older code use this path).
from pyfunc_ops.pyfunc.flavor_support import (
    FlavorFiles,
    import_skops_io,
    saves_model,
    skops_load,
    skops_types,
    unpickle_file,
)
from pyfunc_ops.pyfunc.log import log_model_with
from pyfunc_ops.pyfunc.save import StagedModel, add_to_model

if TYPE_CHECKING:
    from pyfunc_ops.pyfunc.trust import TrustDecision

FLAVOR_NAME = "sklearn"
# The loader module saved models name: MLflow's, so stock MLflow loads them; ours serves it
# through the flavor registry (and older models naming this module keep loading).
LOADER_MODULE = "mlflow.sklearn"
SERIALIZATION_FORMATS = ("skops", "cloudpickle", "pickle")
_FILE_NAMES = {"skops": "model.skops", "cloudpickle": "model.pkl", "pickle": "model.pkl"}


def default_pip_requirements(serialization_format: str = "skops") -> list[str]:
    reqs = [*env_files.default_pip_requirements(), env_files.pinned("scikit-learn")]
    if serialization_format == "skops":
        reqs.append(env_files.pinned("skops"))
    return reqs


def code_reason(flavors: dict[str, Any]) -> str | None:
    """What loading would run: a pickled estimator does; skops builds data only."""
    fmt = (flavors.get(FLAVOR_NAME) or {}).get("serialization_format", "pickle")
    if fmt != "skops":
        return f"its scikit-learn estimator is a {fmt} file, and unpickling runs code"
    return None


def _dump(sk_model: Any, path: Path, fmt: str, trusted: list[str] | None) -> list[str] | None:
    """Serialize; for skops return the extra types the file needs trusted at load."""
    if fmt == "skops":
        skops_io = import_skops_io()
        try:
            skops_io.dump(sk_model, path)
        except Exception as exc:  # skops raises many types for unsupported objects
            raise SerializationError(
                f"scikit-learn model {type(sk_model).__name__}: skops cannot serialize it "
                f"({exc}). Save it with serialization_format='cloudpickle' instead."
            ) from exc
        # Refuse at save what a load would refuse: a type outside skops' safe set must be
        # trusted explicitly by the caller, never silently recorded as trusted for them.
        needed = set(skops_io.get_untrusted_types(file=path))
        untrusted = sorted(needed - set(trusted or []))
        if untrusted:
            raise SerializationError(
                f"scikit-learn model {type(sk_model).__name__}: the skops file references types "
                f"skops does not trust by default: {untrusted}. If loading them is safe, pass "
                "skops_trusted_types=[...] with these names, or save with "
                "serialization_format='cloudpickle' (which can run arbitrary code at load)."
            )
        return sorted(needed) or None
    import cloudpickle

    with open(path, "wb") as fh:
        (cloudpickle if fmt == "cloudpickle" else pickle).dump(sk_model, fh)
    return None


@saves_model
def save_model(
    sk_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str | os.PathLike[str]] | None = None,
    mlflow_model: Model | None = None,
    serialization_format: str = "skops",
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    pyfunc_predict_fn: str = "predict",
    skops_trusted_types: list[str] | None = None,
) -> FlavorFiles:
    """Save a fitted scikit-learn estimator as a model with ``sklearn`` and pyfunc flavors."""
    if serialization_format not in SERIALIZATION_FORMATS:
        raise InvalidParameterError(
            f"serialization_format {serialization_format!r} is not supported; use one of "
            f"{list(SERIALIZATION_FORMATS)} ('skops' is safe to load from untrusted places)."
        )
    if not callable(getattr(sk_model, pyfunc_predict_fn, None)):
        raise InvalidParameterError(
            f"The {type(sk_model).__name__} has no method {pyfunc_predict_fn!r}; pass a fitted "
            "estimator, or pyfunc_predict_fn='predict_proba' (or another method it has)."
        )
    file_name = _FILE_NAMES[serialization_format]

    def write_sklearn(staged: StagedModel) -> None:
        trusted = _dump(
            sk_model, staged.path / file_name, serialization_format, skops_trusted_types
        )
        add_to_model(
            staged.model,
            loader_module=LOADER_MODULE,
            model_path=file_name,
            predict_fn=pyfunc_predict_fn,
            env=staged.env,
            code=staged.code,
        )
        staged.model.add_flavor(
            FLAVOR_NAME,
            pickled_model=file_name,
            sklearn_version=env_files.pinned("scikit-learn").partition("==")[2] or None,
            serialization_format=serialization_format,
            code=staged.code,
            skops_trusted_types=trusted,
        )

    return FlavorFiles(write_sklearn, default_pip_requirements(serialization_format))


def log_model(
    sk_model: Any,
    artifact_path: str,
    registered_model_name: str | None = None,
    **kwargs: Any,
) -> Any:
    """Log an estimator under the active run (started if needed); optionally register it."""
    return log_model_with(
        save_model, artifact_path, registered_model_name, sk_model=sk_model, **kwargs
    )


def _read_estimator(
    path: Path,
    fmt: object,
    trusted: Sequence[str] = (),
    trust: TrustDecision | None = None,
    key: str = "sklearn.pickled_model",
) -> Any:
    """Read the estimator file ``path`` written as ``fmt``.

    skops builds only its own safe types plus ``trusted`` (the caller's list). A pickle is
    read only when ``trust`` allows code to run (``None``: a local file, trusted).
    """
    if fmt not in SERIALIZATION_FORMATS:
        raise SerializationError(
            f"{path}: unknown serialization_format {fmt!r}; expected one of "
            f"{list(SERIALIZATION_FORMATS)}."
        )
    if not path.is_file():
        raise ModelFormatError(
            f"{path.parent / 'MLmodel'}: {key} names {path.name!r}, but {path} is not a "
            "file. Restore the estimator file, or save the model again."
        )
    if fmt == "skops":
        return skops_load(path, trusted, "scikit-learn estimator")
    if trust is not None:
        trust.require(f"its scikit-learn estimator is a {fmt} file, and unpickling runs code")
    # cloudpickle output is read by the standard unpickler
    return unpickle_file(path, "scikit-learn estimator")


def _flavor_of(model_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from pyfunc_ops.pyfunc.load import model_metadata

    model = model_metadata(model_dir)
    return model.flavors.get(FLAVOR_NAME, {}), model.flavors.get("python_function", {})


def _estimator_file(model_dir: Path, conf: dict[str, Any], pyfunc_conf: dict[str, Any]) -> Path:
    if conf.get("pickled_model"):
        return confine(model_dir, conf["pickled_model"], key="sklearn.pickled_model")
    if pyfunc_conf.get("model_path"):
        return confine(model_dir, pyfunc_conf["model_path"], key="python_function.model_path")
    raise SerializationError(
        f"{model_dir}: the MLmodel names no serialized estimator ('pickled_model' in the "
        "sklearn flavor or 'model_path' in python_function)."
    )


def load_model(
    model_uri: str | os.PathLike[str],
    skops_trusted_types: list[str] | None = None,
    *,
    trust_remote_code: bool | None = None,
) -> Any:
    """Load the scikit-learn estimator itself (not a pyfunc wrapper) from any model URI.

    ``skops_trusted_types``: extra types skops may build (the caller's choice; the model
    file's own list counts only when its source is trusted). ``trust_remote_code`` as for
    :func:`pyfunc_ops.pyfunc.load_model`: pickled estimators from an untrusted URL load
    only with it.
    """
    from pyfunc_ops.pyfunc.confinement import check_model_folder
    from pyfunc_ops.pyfunc.load import check_skops_types
    from pyfunc_ops.pyfunc.localize import resolve_model
    from pyfunc_ops.pyfunc.trust import decide_for

    types = check_skops_types(skops_trusted_types)
    resolved = resolve_model(model_uri)
    trust = decide_for(resolved, trust_remote_code, str(model_uri))
    model_dir = resolved.path
    model = Model.load(model_dir)
    conf = model.flavors.get(FLAVOR_NAME, {})
    if not conf:
        raise InvalidParameterError(
            f"Model at {str(model_uri)!r} has no 'sklearn' flavor; load it with "
            "pyfunc_ops.pyfunc.load_model instead."
        )
    check_model_folder(model_dir, model)
    path = _estimator_file(model_dir, conf, {})
    fmt = conf.get("serialization_format", "pickle")
    return _read_estimator(path, fmt, skops_types(conf, types, trust), trust)


class _SklearnModelWrapper:
    """The inference API over an estimator: ``predict(DataFrame)`` calls ``predict_fn``."""

    def __init__(self, sk_model: Any, predict_fn: str = "predict") -> None:
        self.sk_model = sk_model
        self._predict = getattr(sk_model, predict_fn)
        if predict_fn != "predict":
            # MLflow's PyFuncModel calls the wrapper's method named by the flavor's
            # ``predict_fn`` (e.g. ``predict_proba``), so expose it under that name too.
            setattr(self, predict_fn, self.predict)

    def predict(self, model_input: Any, params: Any = None) -> Any:
        return self._predict(model_input)

    def get_raw_model(self) -> Any:
        return self.sk_model


def _predict_fn(pyfunc_conf: dict[str, Any], where: Path) -> str:
    name = pyfunc_conf.get("predict_fn", "predict")
    if not isinstance(name, str) or not name.isidentifier():
        raise ModelFormatError(
            f"{where}: python_function 'predict_fn' must be the name of an estimator method "
            f"such as 'predict' or 'predict_proba', found {name!r}."
        )
    return name


def _wrap(estimator: Any, predict_fn: str, where: Path) -> _SklearnModelWrapper:
    if not callable(getattr(estimator, predict_fn, None)):
        raise ModelFormatError(
            f"{where}: python_function 'predict_fn' is {predict_fn!r}, but the "
            f"{type(estimator).__name__} has no such method. Fix the MLmodel or save the "
            "model again with pyfunc_predict_fn set to one of its methods."
        )
    return _SklearnModelWrapper(estimator, predict_fn)


def _load_pyfunc(path: str, model_config: Any = None) -> _SklearnModelWrapper:
    """Loader entry point: ``path`` is the model folder or the serialized file itself.

    The trust decision and the caller's skops types come from the load in progress
    (:func:`pyfunc_ops.pyfunc.load.load_trust`): this function is only handed a path.
    """
    from pyfunc_ops.pyfunc.load import caller_skops_types, load_trust

    target = Path(path)
    if target.is_dir():
        conf, pyfunc_conf = _flavor_of(target)
        file = _estimator_file(target, conf, pyfunc_conf)
        predict_fn = _predict_fn(pyfunc_conf, target / "MLmodel")
        fmt = conf.get("serialization_format", "pickle")
        trust = load_trust(target)
        types = skops_types(conf, caller_skops_types(target), trust)
        estimator = _read_estimator(file, fmt, types, trust)
        return _wrap(estimator, predict_fn, target / "MLmodel")
    # Legacy layout: ``data: model.pkl`` hands us the file itself.
    folder = target.parent
    fmt = "skops" if target.suffix == ".skops" else "pickle"
    predict_fn = "predict"
    mlmodel = folder / "MLmodel"
    conf = {}
    if mlmodel.is_file():
        conf, pyfunc_conf = _flavor_of(folder)
        fmt = conf.get("serialization_format", fmt)
        predict_fn = _predict_fn(pyfunc_conf, mlmodel)
    trust = load_trust(folder)
    types = skops_types(conf, caller_skops_types(folder), trust)
    estimator = _read_estimator(target, fmt, types, trust, "python_function.data")
    return _wrap(estimator, predict_fn, mlmodel)
