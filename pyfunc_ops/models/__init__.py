"""The on-disk pyfunc format: the MLmodel file, environment files, signatures, examples.

Light dependencies only (pyyaml); pandas and numpy are imported inside the functions that
handle data.
"""

from pyfunc_ops.models.env import get_default_conda_env
from pyfunc_ops.models.mlmodel import MLMODEL_FILE_NAME, PYFUNC_FLAVOR, Model
from pyfunc_ops.models.signature import (
    AnyType,
    Array,
    ColSpec,
    Map,
    ModelSignature,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
    TensorSpec,
    enforce_params,
    enforce_schema,
    infer_signature,
)

__all__ = [
    "MLMODEL_FILE_NAME",
    "PYFUNC_FLAVOR",
    "AnyType",
    "Array",
    "ColSpec",
    "Map",
    "Model",
    "ModelSignature",
    "Object",
    "ParamSchema",
    "ParamSpec",
    "Property",
    "Schema",
    "TensorSpec",
    "enforce_params",
    "enforce_schema",
    "get_default_conda_env",
    "infer_signature",
]
