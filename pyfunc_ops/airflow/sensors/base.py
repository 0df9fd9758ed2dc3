"""What the pyfunc_ops sensors share: the connection, the three ways of waiting, and how
a trigger's event becomes the task's result.

``mode="poke"`` holds a worker slot, ``mode="reschedule"`` frees it between pokes, and
``deferrable=True`` waits in the triggerer with the sensor's trigger. All three ask the
same question: :meth:`poke` and the trigger's ``check`` call the same function of
:mod:`~pyfunc_ops.jobs.conditions`.

Before waiting in any mode the sensor tests its connection's tracking store (when what it
waits for lives there): a mistyped URL or a server that is not an MLflow server fails the
task at once instead of looking like "not registered yet" until the timeout. When it gives
up (timeout, or a skip with ``soft_fail``), the message says what it waited for and what
it saw last. The result dict is also pushed key by key (``multiple_outputs``), so
``sensor.output["model_uri"]`` works in a DAG file.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException

from pyfunc_ops.airflow.hooks.pyfunc_ops import PyfuncOpsHook
from pyfunc_ops.airflow.hooks.task_hook import TaskHookMixin
from pyfunc_ops.core.redact import redact
from pyfunc_ops.errors import TrackingStoreError

if TYPE_CHECKING:
    from airflow.sdk import Context

    from pyfunc_ops.airflow.triggers.polling import PollingTrigger


class PyfuncOpsSensor(TaskHookMixin, BaseSensorOperator):
    """Base of the pyfunc_ops sensors.

    :param pyfunc_ops_conn_id: the ``pyfunc_ops`` connection (templated: tracking store,
        S3 endpoint and credentials); the environment applies when it does not exist. The
        task reaches it through one cached :attr:`hook`, as the operators do.
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
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.pyfunc_ops_conn_id = pyfunc_ops_conn_id
        self.deferrable = deferrable
        self.poll_interval = self.poke_interval if poll_interval is None else float(poll_interval)

    def trigger(self, end_time: float) -> PollingTrigger:
        """The trigger that waits for the same thing as :meth:`poke`."""
        raise NotImplementedError

    def awaiting(self) -> str:
        """What the sensor waits for, in words (from the rendered arguments)."""
        raise NotImplementedError

    def last_seen(self) -> str:
        """What is there now, in words: asked once when the sensor gives up."""
        raise NotImplementedError

    def needs_registry(self) -> bool:
        """Whether the wait asks the tracking store (then it is tested at start)."""
        return True

    def check_connection(self) -> None:
        """Fail now, with the reason, if the tracking store cannot be used: waiting would
        only turn a configuration error into a timeout hours later."""
        if not self.needs_registry():
            return
        ok, message = self.hook.test_connection()
        if not ok:
            raise TrackingStoreError(
                f"sensor {self.task_id!r} cannot wait for {self.awaiting()}: the tracking "
                f"store of connection {self.pyfunc_ops_conn_id!r} is not usable ({message}). "
                "Fix the connection's tracking_uri (or PYFUNC_OPS_TRACKING_URI); the sensor "
                f"stopped at once instead of waiting out its timeout of {self.timeout} s"
            )

    def explain(self, exc: BaseException) -> str:
        """``exc``'s message with what was awaited and the last state seen."""
        reason = str(exc)
        cause = exc.__cause__
        if cause is not None and str(cause) and str(cause) not in reason:
            reason = f"{reason} ({cause})"
        awaited, seen = _safely(self.awaiting), _safely(self.last_seen)
        return redact(f"{reason}; waited for {awaited}; last seen: {seen}")

    def execute(self, context: Context) -> Any:
        self.check_connection()
        with self._explained():
            if not self.deferrable:
                return super().execute(context)
            # Check once before deferring: if it is there already, the task ends here
            # without a round trip through the triggerer.
            done = self.poke(context)
            if isinstance(done, PokeReturnValue):
                return done.xcom_value
            self.defer(
                trigger=self.trigger(end_time=time.time() + self.timeout),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout),
            )

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context
    ) -> Any:
        with self._explained():
            return super().resume_execution(next_method, next_kwargs, context)

    @contextlib.contextmanager
    def _explained(self) -> Iterator[None]:
        """Re-raise a timeout or a skip with the reason, and log it: Airflow's own
        messages ("Skipping due to soft_fail is set to True.") say neither what was
        awaited nor what was there."""
        try:
            yield
        except AirflowSkipException as exc:
            message = self.explain(exc)
            self.log.warning("skipping: %s", message)
            raise AirflowSkipException(message) from exc
        except AirflowSensorTimeout as exc:
            message = self.explain(exc)
            self.log.error("timed out: %s", message)
            raise AirflowSensorTimeout(message) from exc

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


def _safely(describe: Callable[[], str]) -> str:
    """``describe()``, or why it failed: an explanation must not hide the error it explains
    (the registry may be down, which is often why the sensor gave up)."""
    try:
        return describe()
    except Exception as exc:  # reported in the message, see the docstring
        return f"unknown ({type(exc).__name__}: {exc})"
