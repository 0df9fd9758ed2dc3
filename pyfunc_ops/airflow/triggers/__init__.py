"""Triggers of the pyfunc_ops Airflow provider (deferrable sensors wait in these)."""

from pyfunc_ops.airflow.triggers.model import PyfuncModelTrigger
from pyfunc_ops.airflow.triggers.model_version import ModelVersionTrigger

__all__ = ["ModelVersionTrigger", "PyfuncModelTrigger"]
