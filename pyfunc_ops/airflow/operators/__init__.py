"""Operators of the pyfunc_ops Airflow provider (all derive from ``PyfuncOpsBaseOperator``)."""

from pyfunc_ops.airflow.operators.base import PyfuncOpsBaseOperator
from pyfunc_ops.airflow.operators.evaluate import EvaluateModelOperator
from pyfunc_ops.airflow.operators.predict import PyfuncPredictOperator
from pyfunc_ops.airflow.operators.registry import (
    SetModelAliasOperator,
    TransitionModelStageOperator,
)
from pyfunc_ops.airflow.operators.save import SavePyfuncModelOperator
from pyfunc_ops.airflow.operators.spark import SparkUDFScoreOperator

__all__ = [
    "EvaluateModelOperator",
    "PyfuncOpsBaseOperator",
    "PyfuncPredictOperator",
    "SavePyfuncModelOperator",
    "SetModelAliasOperator",
    "SparkUDFScoreOperator",
    "TransitionModelStageOperator",
]
