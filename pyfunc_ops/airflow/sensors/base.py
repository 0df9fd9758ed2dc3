"""What the pyfunc_ops sensors share: the connection, the three ways of waiting, and how
a trigger's event becomes the task's result.

``mode="poke"`` holds a worker slot, ``mode="reschedule"`` frees it between pokes, and
``deferrable=True`` waits in the triggerer with the sensor's trigger. All three ask the
same question: :meth:`poke` and the trigger's ``check`` call the same function of
:mod:`~pyfunc_ops.airflow.triggers.conditions`.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

from pyfunc_ops.airflow.hooks.pyfunc_ops import PyfuncOpsHook

if TYPE_CHECKING:
    from airflow.sdk import Context

    from pyfunc_ops.airflow.triggers.polling import PollingTrigger


class PyfuncOpsSensor(BaseSensorOperator):
    """Base of the pyfunc_ops sensors.

    :param pyfunc_ops_conn_id: the ``pyfunc_ops`` connection (tracking store, S3 endpoint
        and credentials); the environment applies when it does not exist.
    :param deferrable: wait in the triggerer instead of a worker.
    :param poll_interval: seconds between checks while deferred (default: the sensor's
        ``poke_interval``).

    Subclasses implement ``poke`` and :meth:`trigger`, and name the field of the trigger's
    success event that is the task's result (:attr:`event_field`).
    """

    ui_color = "#d5e8f7"
    event_field: str

    def __init__(
        self,
        *,
        pyfunc_ops_conn_id: str = PyfuncOpsHook.default_conn_name,
        deferrable: bool = False,
        poll_interval: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pyfunc_ops_conn_id = pyfunc_ops_conn_id
        self.deferrable = deferrable
        self.poll_interval = self.poke_interval if poll_interval is None else float(poll_interval)

    @property
    def hook(self) -> PyfuncOpsHook:
        """A new hook on the connection (it reads the connection on first use)."""
        return PyfuncOpsHook(pyfunc_ops_conn_id=self.pyfunc_ops_conn_id)

    def trigger(self, end_time: float) -> PollingTrigger:
        """The trigger that waits for the same thing as :meth:`poke`."""
        raise NotImplementedError

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        # Check once before deferring: if it is there already, the task ends here without
        # a round trip through the triggerer.
        done = self.poke(context)
        if isinstance(done, PokeReturnValue):
            return done.xcom_value
        self.defer(
            trigger=self.trigger(end_time=time.time() + self.timeout),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: return its result, or raise.

        Raised errors are Airflow exceptions so that ``BaseSensorOperator.resume_execution``
        applies ``soft_fail`` (skip instead of fail) exactly as in poke mode; a trigger
        timeout becomes ``AirflowSensorTimeout`` like a poke-mode timeout.
        """
        status = event.get("status")
        if status == "success":
            result = event[self.event_field]
            self.log.info("the trigger found %s", result)
            return result
        message = str(event.get("message") or f"unexpected trigger event {event!r}")
        if status == "timeout":
            raise AirflowSensorTimeout(message)
        raise AirflowException(message)
