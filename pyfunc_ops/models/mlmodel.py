"""The ``MLmodel`` configuration file: read, validate, write.

Two layouts exist in the wild. The current one nests every flavor under ``flavors:``; the
format's first documentation put the python_function keys (``loader_module``, ``code``,
``data``, ``env``, ``main``) at the top level. Both are read; a model is written back in
the layout it was read in, and keys we do not know survive the round trip untouched, so
pyfunc_ops never destroys information another tool put there.
"""

from __future__ import annotations

import keyword
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from pyfunc_ops.core.versions import package_version
from pyfunc_ops.core.yamltext import load_yaml
from pyfunc_ops.errors import ModelFormatError, ModelNotFoundError, SerializationError

MLMODEL_FILE_NAME = "MLmodel"
PYFUNC_FLAVOR = "python_function"
# Keys of the python_function flavor that the legacy flat layout kept at the top level.
LEGACY_FLAT_KEYS = ("loader_module", "code", "data", "env", "main")


def ensure_yaml_serializable(key: str, value: Any) -> None:
    """Raise :class:`SerializationError` naming ``key`` when ``value`` cannot go into YAML."""
    try:
        yaml.safe_dump(value)
    except yaml.YAMLError as exc:
        raise SerializationError(
            f"MLmodel key {key!r}: value of type {type(value).__name__} is not YAML-serializable "
            f"({exc}). Pass plain strings, numbers, booleans, lists or dicts of them."
        ) from None


class Model:
    """The MLmodel configuration of one model directory.

    ``flavors`` maps a flavor name to its parameters; ``python_function`` is the one every
    consumer of the format understands. ``extra`` holds unknown top-level keys.
    """

    def __init__(
        self,
        artifact_path: str | None = None,
        run_id: str | None = None,
        utc_time_created: str | None = None,
        flavors: dict[str, dict[str, Any]] | None = None,
        signature: Any = None,
        saved_input_example_info: dict[str, Any] | None = None,
        model_uuid: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.artifact_path = artifact_path
        self.run_id = run_id
        self.utc_time_created = utc_time_created or datetime.now(timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S.%f"
        )
        self.flavors: dict[str, dict[str, Any]] = dict(flavors or {})
        self.signature = signature
        self.saved_input_example_info = saved_input_example_info
        self.model_uuid = model_uuid or uuid.uuid4().hex
        self.pyfunc_ops_version: str | None = kwargs.pop("pyfunc_ops_version", None)
        self.extra: dict[str, Any] = dict(kwargs)
        # "nested" (flavors:) or "flat" (the first documentation's layout).
        self.layout = "nested"

    # -- flavors -------------------------------------------------------------------------
    def add_flavor(self, name: str, **params: Any) -> Model:
        """Add (or replace) a flavor section; every value must be YAML-serializable."""
        for key, value in params.items():
            ensure_yaml_serializable(f"flavors.{name}.{key}", value)
        self.flavors[name] = dict(params)
        return self

    def get_flavor(self, name: str) -> dict[str, Any]:
        """The parameters of flavor ``name``, or a clear error listing the flavors present."""
        try:
            return self.flavors[name]
        except KeyError:
            present = ", ".join(sorted(self.flavors)) or "none"
            raise ModelFormatError(
                f"The model has no {name!r} flavor (flavors present: {present}). "
                f"Save it with a tool that adds the {name!r} flavor."
            ) from None

    @property
    def python_version(self) -> str | None:
        """Python version the model was saved with, from the python_function flavor."""
        value = self.flavors.get(PYFUNC_FLAVOR, {}).get("python_version")
        return str(value) if value is not None else None

    # -- (de)serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The MLmodel content as plain data, in the layout the model was read in."""
        out: dict[str, Any] = {}
        if self.artifact_path is not None:
            out["artifact_path"] = self.artifact_path
        flavors = {k: dict(v) for k, v in self.flavors.items()}
        if self.layout == "flat":
            out.update(flavors.pop(PYFUNC_FLAVOR, {}))
        if flavors or self.layout == "nested":
            out["flavors"] = flavors
        out["model_uuid"] = self.model_uuid
        if self.run_id is not None:
            out["run_id"] = self.run_id
        if self.signature is not None:
            sig = self.signature
            out["signature"] = sig.to_dict() if hasattr(sig, "to_dict") else sig
        if self.saved_input_example_info is not None:
            out["saved_input_example_info"] = self.saved_input_example_info
        out["utc_time_created"] = self.utc_time_created
        out["pyfunc_ops_version"] = self.pyfunc_ops_version or package_version()
        out.update(self.extra)
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), default_flow_style=False, sort_keys=False)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``MLmodel`` into directory ``path`` (or to ``path`` if it names the file)."""
        target = Path(path)
        if target.is_dir() or target.name != MLMODEL_FILE_NAME:
            target = target / MLMODEL_FILE_NAME
        for key, value in self.to_dict().items():
            ensure_yaml_serializable(key, value)
        target.write_text(self.to_yaml())
        return target

    @classmethod
    def from_dict(cls, data: Any, source: str = "MLmodel") -> Model:
        """Build a Model from parsed YAML, validating the structure."""
        if not isinstance(data, dict):
            raise ModelFormatError(
                f"{source}: expected a YAML mapping at the top level, found "
                f"{type(data).__name__}. An MLmodel file maps keys such as 'flavors' to values."
            )
        data = dict(data)
        layout = "nested"
        flavors = data.pop("flavors", None)
        if flavors is None:
            flavors = {}
        if not isinstance(flavors, dict):
            raise ModelFormatError(
                f"{source}: 'flavors' must map each flavor name to a mapping of its "
                f"parameters, found {type(flavors).__name__} {_short(flavors)}."
            )
        for key, value in flavors.items():
            if not isinstance(key, str) or not isinstance(value, dict):
                raise ModelFormatError(
                    f"{source}: 'flavors' must map each flavor name to a mapping of its "
                    f"parameters; flavor {key!r} is {type(value).__name__} {_short(value)}."
                )
        flavors = {str(k): dict(v) for k, v in flavors.items()}
        for key in data:
            if not isinstance(key, str):
                raise ModelFormatError(
                    f"{source}: top-level key {key!r} is not a string; MLmodel keys are names "
                    "such as 'flavors' or 'signature'."
                )
        info = data.get("saved_input_example_info")
        if info is not None and not isinstance(info, dict):
            raise ModelFormatError(
                f"{source}: 'saved_input_example_info' must be a mapping such as "
                f"{{artifact_path: input_example.json, type: dataframe}}, found "
                f"{type(info).__name__} {_short(info)}."
            )
        for key in ("artifact_path", "run_id", "model_uuid", "utc_time_created"):
            value = data.get(key)
            if value is not None and not isinstance(value, (str, int, float)):
                raise ModelFormatError(
                    f"{source}: {key!r} must be a string, found {type(value).__name__} "
                    f"{_short(value)}."
                )
        if "loader_module" in data and PYFUNC_FLAVOR not in flavors:
            layout = "flat"
            flavors[PYFUNC_FLAVOR] = {k: data.pop(k) for k in LEGACY_FLAT_KEYS if k in data}
        if not flavors:
            raise ModelFormatError(
                f"{source}: no flavor found: expected a 'flavors' mapping (current layout) or "
                "a top-level 'loader_module' (legacy layout)."
            )
        pyfunc = flavors.get(PYFUNC_FLAVOR)
        if pyfunc is not None:
            _validate_pyfunc_flavor(pyfunc, source)
        signature = data.pop("signature", None)
        if signature is not None:
            from pyfunc_ops.models.signature import ModelSignature

            signature = ModelSignature.from_dict(signature, source=source)
        model = cls(flavors=flavors, signature=signature, **data)
        model.layout = layout
        return model

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Model:
        """Read the MLmodel file of a local model directory (or the file itself)."""
        target = Path(path)
        if target.is_dir():
            target = target / MLMODEL_FILE_NAME
        if not target.is_file():
            raise ModelNotFoundError(
                f"No MLmodel file at {str(target)!r}: a pyfunc model is a directory holding an "
                "'MLmodel' file. Check the path, or save a model there first."
            )
        raw = target.read_bytes()
        if b"\x00" in raw:
            raise ModelFormatError(
                f"{target}: the MLmodel file is binary (it contains NUL bytes), not YAML text."
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelFormatError(
                f"{target}: the MLmodel file is not UTF-8 text (byte {exc.start}: "
                f"{raw[exc.start : exc.start + 1]!r}); save it as UTF-8 YAML."
            ) from None
        try:
            # Once per load_model, cold or cached: the Model is handed down, not re-read.
            data = load_yaml(text)
        except yaml.YAMLError as exc:
            raise ModelFormatError(f"{target}: not valid YAML ({exc}).") from None
        return cls.from_dict(data, source=str(target))


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: hostile files can be huge."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_module_name(name: object) -> bool:
    """Whether ``name`` is an absolute dotted module name (``pkg.mod``): never relative
    (``.x``), never path-like (``../x``, ``x/y``), every part an identifier that is not a
    keyword. A loader module is imported by that name, so nothing else may pass."""
    return (
        isinstance(name, str)
        and all(part.isidentifier() and not keyword.iskeyword(part) for part in name.split("."))
        and name.isascii()
    )


def _validate_pyfunc_flavor(conf: dict[str, Any], source: str) -> None:
    loader = conf.get("loader_module")
    if not isinstance(loader, str) or not loader:
        raise ModelFormatError(
            f"{source}: the python_function flavor needs 'loader_module', the dotted name of a "
            f"module defining _load_pyfunc(path); found {_short(loader)}."
        )
    if not is_module_name(loader):
        raise ModelFormatError(
            f"{source}: python_function 'loader_module' {_short(loader)} is not an absolute "
            "dotted module name (letters, digits and '_' separated by '.', e.g. "
            "'my_pkg.loader'; never relative like '.x' or a path like '../x'). Fix the "
            "MLmodel or save the model again."
        )
    config = conf.get("config")
    if config is not None and not (
        isinstance(config, dict) and all(isinstance(k, str) for k in config)
    ):
        raise ModelFormatError(
            f"{source}: python_function 'config' must be a mapping with string keys (the "
            f"model's configuration), found {_short(config)}. Fix the MLmodel or save the "
            "model again with model_config={...}."
        )
    for key in ("code", "data"):
        value = conf.get(key)
        if value is not None and not isinstance(value, str):
            raise ModelFormatError(
                f"{source}: python_function '{key}' must be a path relative to the model "
                f"directory, found {value!r}."
            )
    env = conf.get("env")
    if env is not None and not isinstance(env, (str, dict)):
        raise ModelFormatError(
            f"{source}: python_function 'env' must be a file name (old layout) or a mapping "
            f"such as {{conda: conda.yaml, virtualenv: python_env.yaml}}, found {env!r}."
        )
