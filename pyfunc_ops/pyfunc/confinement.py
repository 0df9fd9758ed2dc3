"""Every path a model's ``MLmodel`` names, checked to stay inside the model folder.

Run once per load, before any loader sees the folder (``load_model``, ``spark_udf`` on the
driver, ``sklearn.load_model``). Two checks, because each catches what the other cannot:

* the folder is walked with :func:`~pyfunc_ops.core.paths.iter_tree`, which refuses any
  symlink that leaves it (or dangles, or loops), wherever it sits: a loader may read any
  file below a folder the MLmodel names (``data: model_dir``), not only the named ones;
* every value the format names (the keys MLflow writes too) is resolved with
  :func:`~pyfunc_ops.core.paths.confine`, which refuses absolute paths and ``..`` escapes
  even when the target does not exist.

The loaders resolve the paths they open with ``confine`` again (they may be called on a
folder directly), so a check here is never the only one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyfunc_ops.core.paths import confine, iter_tree
from pyfunc_ops.models import env as env_files
from pyfunc_ops.models.mlmodel import PYFUNC_FLAVOR, Model

__all__ = ["check_model_folder", "named_paths"]

# python_function keys whose value is a path inside the model folder.
_PYFUNC_PATH_KEYS = ("data", "code", "python_model", "model_path")
# Keys of any flavor that name a path (scikit-learn's estimator file, a flavor's code/).
_FLAVOR_PATH_KEYS = ("pickled_model", "code", "data")
_EXAMPLE_KEYS = ("artifact_path", "serving_input_path")


def named_paths(model: Model) -> list[tuple[str, Any]]:
    """``(key, value)`` of every path the MLmodel names (values not yet checked)."""
    out: list[tuple[str, Any]] = []
    for flavor, conf in model.flavors.items():
        if flavor == PYFUNC_FLAVOR:
            keys: tuple[str, ...] = _PYFUNC_PATH_KEYS
        else:
            keys = _FLAVOR_PATH_KEYS
        for key in keys:
            if conf.get(key) is not None:
                out.append((f"{flavor}.{key}", conf[key]))
        if flavor == PYFUNC_FLAVOR and isinstance(conf.get("model_code_path"), str):
            # MLflow records where the file was when saved (often an absolute path on
            # another machine); the file read is the one of that name at the model root.
            name = conf["model_code_path"].replace("\\", "/").rsplit("/", 1)[-1]
            out.append((f"{flavor}.model_code_path", name))
        if isinstance(conf.get("model_config"), str):  # a config file, not inline values
            out.append((f"{flavor}.model_config", conf["model_config"]))
        env = conf.get("env")
        if isinstance(env, str):
            out.append((f"{flavor}.env", env))
        elif isinstance(env, dict):
            out.extend((f"{flavor}.env.{k}", v) for k, v in env.items() if v is not None)
        artifacts = conf.get("artifacts")
        if isinstance(artifacts, dict):
            for name, spec in artifacts.items():
                value = spec.get("path") if isinstance(spec, dict) else spec
                out.append((f"{flavor}.artifacts.{name}.path", value))
    info = model.saved_input_example_info
    if isinstance(info, dict):
        out.extend((f"saved_input_example_info.{k}", info[k]) for k in _EXAMPLE_KEYS if info.get(k))
    return out


def check_model_folder(model_dir: Path, model: Model, *, walked: bool = False) -> None:
    """Refuse (``ModelFormatError`` naming the key, its value and the folder) a model
    whose named paths or symlinks leave ``model_dir``, or whose requirement files include
    files outside it.

    ``walked``: the folder was just verified against its manifest, a check that walks it
    with the same link rules (:func:`~pyfunc_ops.core.paths.iter_tree`), so the walk is
    not repeated; the named paths are still confined.
    """
    if not walked:
        iter_tree(model_dir)
    for key, value in named_paths(model):
        confine(model_dir, value, key=key)
    env_files.check_env_files(model_dir)
