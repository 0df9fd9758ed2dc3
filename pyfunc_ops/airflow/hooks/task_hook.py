"""The hook of a task: what every pyfunc_ops operator and sensor shares about its
connection.

A task names its ``pyfunc_ops`` connection in the templated ``pyfunc_ops_conn_id`` and
reaches it through one :class:`~pyfunc_ops.airflow.hooks.PyfuncOpsHook`, built on first
use (after templates are rendered) and cached for the task's run, as the Amazon
provider's operators do. The hook reads the connection once; every poke, lineage lookup
and job call of the task then runs with the same settings.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cached_property
from typing import Any

from pyfunc_ops.airflow.hooks.pyfunc_ops import PyfuncOpsHook

__all__ = ["CONN_FIELD", "TaskHookMixin"]

CONN_FIELD = "pyfunc_ops_conn_id"


class TaskHookMixin:
    """Mixed into an operator or sensor: ``pyfunc_ops_conn_id`` is always one of its
    ``template_fields``, and :attr:`hook` is the connection's hook."""

    pyfunc_ops_conn_id: str
    template_fields: Collection[str] = (CONN_FIELD,)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.template_fields = tuple(dict.fromkeys([*cls.template_fields, CONN_FIELD]))

    @cached_property
    def hook(self) -> PyfuncOpsHook:
        """The hook of ``pyfunc_ops_conn_id``, built once (the id is rendered by then)."""
        return PyfuncOpsHook(self.pyfunc_ops_conn_id)
