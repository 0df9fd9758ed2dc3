"""The scikit-learn flavor: save, log and load an estimator; a pyfunc ``loader_module``.

The default serialization is skops, which refuses to construct types it was not told to
trust, so loading a model from an untrusted place cannot run arbitrary code. cloudpickle
and pickle remain available for estimators skops cannot represent. The ``sklearn`` flavor
section has the keys other tools of the format read (``pickled_model``,
``serialization_format``, ``sklearn_version``), so those tools load our models too.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from pyfunc_ops.errors import InvalidParameterError, SerializationError
from pyfunc_ops.models import env as env_files
from pyfunc_ops.models.model import Model
from pyfunc_ops.models.writer import staged_directory

FLAVOR_NAME = "sklearn"
SERIALIZATION_FORMATS = ("skops", "cloudpickle", "pickle")
_FILE_NAMES = {"skops": "model.skops", "cloudpickle": "model.pkl", "pickle": "model.pkl"}


def default_pip_requirements(serialization_format: str = "skops") -> list[str]:
    reqs = [*env_files.default_pip_requirements(), env_files.pinned("scikit-learn")]
    if serialization_format == "skops":
        reqs.append(env_files.pinned("skops"))
    return reqs


def _dump(sk_model: Any, path: Path, fmt: str, trusted: list[str] | None) -> list[str] | None:
    """Serialize; for skops return the extra types the file needs trusted at load."""
    if fmt == "skops":
        import skops.io

        try:
            skops.io.dump(sk_model, path)
        except Exception as exc:  # skops raises many types for unsupported objects
            raise SerializationError(
                f"scikit-learn model {type(sk_model).__name__}: skops cannot serialize it "
                f"({exc}). Save it with serialization_format='cloudpickle' instead."
            ) from exc
        # Refuse at save what a load would refuse: a type outside skops' safe set must be
        # trusted explicitly by the caller, never silently recorded as trusted for them.
        needed = set(skops.io.get_untrusted_types(file=path))
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
) -> Model:
    """Save a fitted scikit-learn estimator as a model with ``sklearn`` and pyfunc flavors."""
    from pyfunc_ops.pyfunc.save import add_to_model, copy_code, write_metadata

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
    model = mlflow_model if mlflow_model is not None else Model()
    file_name = _FILE_NAMES[serialization_format]
    with staged_directory(path) as tmp:
        code = copy_code(code_paths, tmp)
        trusted = _dump(sk_model, tmp / file_name, serialization_format, skops_trusted_types)
        env = write_metadata(
            tmp,
            model,
            signature,
            input_example,
            conda_env,
            pip_requirements,
            extra_pip_requirements,
            default_pip_requirements(serialization_format),
        )
        add_to_model(
            model,
            loader_module="pyfunc_ops.sklearn",
            model_path=file_name,
            predict_fn=pyfunc_predict_fn,
            env=env,
            code=code,
        )
        model.add_flavor(
            FLAVOR_NAME,
            pickled_model=file_name,
            sklearn_version=env_files.pinned("scikit-learn").partition("==")[2] or None,
            serialization_format=serialization_format,
            code=code,
            skops_trusted_types=trusted,
        )
        model.save(tmp)
    return model


def log_model(
    sk_model: Any,
    artifact_path: str,
    registered_model_name: str | None = None,
    **kwargs: Any,
) -> Any:
    """Log an estimator under the active run (started if needed); optionally register it."""
    from pyfunc_ops.pyfunc.log import log_model_with

    return log_model_with(
        save_model, artifact_path, registered_model_name, sk_model=sk_model, **kwargs
    )


def _read_estimator(path: Path, fmt: str, trusted: list[str] | None = None) -> Any:
    if fmt == "skops":
        import skops.io

        try:
            return skops.io.load(path, trusted=trusted)
        except skops.io.exceptions.UntrustedTypesFoundException as exc:
            raise SerializationError(
                f"{path}: refusing to load types not recorded as trusted ({exc}). If you trust "
                "this model, pass them as skops_trusted_types when loading."
            ) from None
    if fmt not in SERIALIZATION_FORMATS:
        raise SerializationError(
            f"{path}: unknown serialization_format {fmt!r}; expected one of "
            f"{list(SERIALIZATION_FORMATS)}."
        )
    with open(path, "rb") as fh:
        return pickle.load(fh)  # cloudpickle output is read by the standard unpickler


def _flavor_of(model_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    model = Model.load(model_dir)
    return model.flavors.get(FLAVOR_NAME, {}), model.flavors.get("python_function", {})


def load_model(
    model_uri: str | os.PathLike[str], skops_trusted_types: list[str] | None = None
) -> Any:
    """Load the scikit-learn estimator itself (not a pyfunc wrapper) from any model URI."""
    from pyfunc_ops.pyfunc.resolve import local_model_path

    model_dir = local_model_path(model_uri)
    conf, _ = _flavor_of(model_dir)
    if not conf:
        raise InvalidParameterError(
            f"Model at {str(model_uri)!r} has no 'sklearn' flavor; load it with "
            "pyfunc_ops.pyfunc.load_model instead."
        )
    trusted = sorted(set(conf.get("skops_trusted_types") or []) | set(skops_trusted_types or []))
    return _read_estimator(
        model_dir / conf["pickled_model"], conf.get("serialization_format", "pickle"), trusted
    )


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


def _load_pyfunc(path: str, model_config: Any = None) -> _SklearnModelWrapper:
    """Loader entry point: ``path`` is the model folder or the serialized file itself."""
    target = Path(path)
    if target.is_dir():
        conf, pyfunc_conf = _flavor_of(target)
        file_name = conf.get("pickled_model") or pyfunc_conf.get("model_path")
        if not file_name:
            raise SerializationError(
                f"{target}: the MLmodel names no serialized estimator ('pickled_model' in the "
                "sklearn flavor or 'model_path' in python_function)."
            )
        fmt = conf.get("serialization_format", "pickle")
        estimator = _read_estimator(target / file_name, fmt, conf.get("skops_trusted_types"))
        return _SklearnModelWrapper(estimator, pyfunc_conf.get("predict_fn", "predict"))
    # Legacy layout: ``data: model.pkl`` hands us the file itself.
    fmt = "skops" if target.suffix == ".skops" else "pickle"
    predict_fn = "predict"
    mlmodel = target.parent / "MLmodel"
    if mlmodel.is_file():
        conf, pyfunc_conf = _flavor_of(target.parent)
        fmt = conf.get("serialization_format", fmt)
        predict_fn = pyfunc_conf.get("predict_fn", predict_fn)
    return _SklearnModelWrapper(_read_estimator(target, fmt), predict_fn)
