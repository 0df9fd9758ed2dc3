"""The public pyfunc API.

Importing this package stays cheap: pandas is imported when a model is loaded or
predicted, pyspark by ``spark_udf``, SQLAlchemy by ``log_model`` and registry URIs.
"""

from __future__ import annotations

from typing import Any

from pyfunc_ops.models.env import get_default_conda_env
from pyfunc_ops.pyfunc.compat import set_model
from pyfunc_ops.pyfunc.load import load_model, load_pyfunc
from pyfunc_ops.pyfunc.loaded_model import PyFuncModel
from pyfunc_ops.pyfunc.log import ModelInfo, log_model
from pyfunc_ops.pyfunc.python_model import PythonModel, PythonModelContext
from pyfunc_ops.pyfunc.save import add_to_model, save_model

__all__ = [
    "ModelInfo",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "add_to_model",
    "get_default_conda_env",
    "load_model",
    "load_pyfunc",
    "log_model",
    "save_model",
    "set_model",
    "spark_udf",
]


def spark_udf(spark: Any, model_uri: str, result_type: Any = "double", **kwargs: Any) -> Any:
    """A Spark pandas UDF scoring with the model at ``model_uri``; see ``pyfunc.spark``."""
    from pyfunc_ops.pyfunc.spark import spark_udf as _spark_udf

    return _spark_udf(spark, model_uri, result_type=result_type, **kwargs)
