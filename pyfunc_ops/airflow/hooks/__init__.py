"""Hooks of the pyfunc_ops Airflow provider."""

from pyfunc_ops.airflow.hooks.aws import aws_storage_options
from pyfunc_ops.airflow.hooks.pyfunc_ops import PyfuncOpsConfig, PyfuncOpsHook

__all__ = ["PyfuncOpsConfig", "PyfuncOpsHook", "aws_storage_options"]
