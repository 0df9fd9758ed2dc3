"""Triggers of the pyfunc_ops Airflow provider: deferrable sensors wait in the polling
triggers, asset watchers run :class:`RegistryEventTrigger`."""

from pyfunc_ops.airflow.triggers.model import PyfuncModelTrigger
from pyfunc_ops.airflow.triggers.model_version import ModelVersionTrigger
from pyfunc_ops.airflow.triggers.registry_event import RegistryEventTrigger

__all__ = ["ModelVersionTrigger", "PyfuncModelTrigger", "RegistryEventTrigger"]
