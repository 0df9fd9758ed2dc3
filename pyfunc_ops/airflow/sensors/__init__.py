"""Sensors of the pyfunc_ops Airflow provider."""

from pyfunc_ops.airflow.sensors.model import PyfuncModelSensor
from pyfunc_ops.airflow.sensors.model_version import ModelVersionSensor

__all__ = ["ModelVersionSensor", "PyfuncModelSensor"]
