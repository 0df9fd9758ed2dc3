"""Operators of the pyfunc_ops Airflow provider."""

from pyfunc_ops.airflow.operators.predict import PyfuncPredictOperator
from pyfunc_ops.airflow.operators.registry import (
    SetModelAliasOperator,
    TransitionModelStageOperator,
)
from pyfunc_ops.airflow.operators.save import SavePyfuncModelOperator
from pyfunc_ops.airflow.operators.spark import SparkUDFScoreOperator

__all__ = [
    "PyfuncPredictOperator",
    "SavePyfuncModelOperator",
    "SetModelAliasOperator",
    "SparkUDFScoreOperator",
    "TransitionModelStageOperator",
]
