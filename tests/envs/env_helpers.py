"""Helpers shared by the environment tests: the version-reporting and echo models."""

from __future__ import annotations

import textwrap
from pathlib import Path

from pyfunc_ops.models.signature import ModelSignature, ParamSchema, ParamSpec
from pyfunc_ops.pyfunc import save_model

# A tiny pure-Python package whose pinned version differs from the host's (six 1.17.0).
PINNED_SIX = "1.16.0"

VERSION_MODEL = textwrap.dedent(
    '''
    """Test model: reports the version of ``six`` it runs with, and misbehaves on request."""
    import os

    import numpy as np
    import pandas as pd
    import six


    class VersionModel:
        def predict(self, df, params=None):
            kind = (params or {}).get("kind", "series")
            if "crash" in df.columns:
                os._exit(7)
            if "tag" in df.columns:  # which worker process answered, for the Spark test
                return pd.Series([f"{six.__version__}@{os.getpid()}"] * len(df))
            if "fail" in df.columns:
                raise ValueError("asked to fail")
            if kind == "series":
                return pd.Series([six.__version__] * len(df), name="six", index=df.index)
            if kind == "frame":
                return pd.DataFrame({"six": [six.__version__] * len(df), "n": df["x"] * 2})
            if kind == "ndarray":
                return np.arange(len(df) * 2, dtype="float32").reshape(len(df), 2)
            if kind == "list":
                return [float(v) for v in df["x"]]
            if kind == "dict":
                return {"rows": len(df), "six": six.__version__}
            if kind == "pid":
                return pd.Series([os.getpid()] * len(df))
            raise ValueError(f"unknown kind {kind}")


    def _load_pyfunc(path):
        return VersionModel()
    '''
)


ECHO_MODEL = textwrap.dedent(
    '''
    """Test model: returns what it received, and how it saw it, from the process it ran in."""
    import os

    import numpy as np


    def _seen(value):
        if isinstance(value, np.ndarray):
            return ["ndarray", value.dtype.str, list(value.shape), bool(value.flags.writeable)]
        if isinstance(value, dict):
            return {k: _seen(v) for k, v in value.items()}
        if isinstance(value, list):
            return [_seen(v) for v in value]
        return type(value).__name__


    class EchoModel:
        def predict(self, data, params=None):
            return {"data": data, "params": params, "seen": [_seen(data), _seen(params)],
                    "pid": os.getpid()}


    def _load_pyfunc(path):
        return EchoModel()
    '''
)


def _save_code_model(
    path: Path, module: str, source: str, requirements: list[str], signature: ModelSignature
) -> Path:
    code = path.parent / f"{path.name}-code"
    code.mkdir(parents=True)
    (code / f"{module}.py").write_text(source)
    save_model(
        path,
        loader_module=module,
        code_path=[str(code / f"{module}.py")],
        pip_requirements=requirements,
        signature=signature,
    )
    return path


def save_version_model(path: Path, requirements: list[str]) -> Path:
    """Save the version-reporting model with the given pip requirements."""
    # Only params are declared (the input reaches the model as given): ``kind``.
    signature = ModelSignature(params=ParamSchema([ParamSpec("kind", "string", "series")]))
    return _save_code_model(path, "version_model", VERSION_MODEL, requirements, signature)


def save_echo_model(path: Path, requirements: list[str], signature: ModelSignature) -> Path:
    """Save the model that echoes its input and params (with the types it saw them as)."""
    return _save_code_model(path, "echo_model", ECHO_MODEL, requirements, signature)
