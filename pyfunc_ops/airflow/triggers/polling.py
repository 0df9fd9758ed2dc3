"""The waiting loop every pyfunc_ops trigger shares: poll a blocking check until it finds
something, the deadline passes or it fails.

A trigger's kwargs are plain JSON (names, numbers, a connection id), never settings, a
client or a connection's secrets: Airflow stores them in its database and rebuilds the
trigger from ``serialize()`` in the triggerer. There the connection is read once through
the hook, and every check runs inside ``use_settings`` of those settings, in a worker
thread (``asyncio.to_thread`` copies the context, so the scope reaches it) because the
checks are blocking calls and the triggerer's event loop is shared by every deferred task.
The settings live in this trigger's own context: concurrent triggers for different
connections in one triggerer never see each other's registry or credentials.

Failures are reported as events (``{"status": "error", "message": ...}``), not raised: an
exception in ``run()`` would only surface as a generic trigger failure, while an event
lets the sensor's ``execute_complete`` raise a clear error (or skip, with ``soft_fail``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from pyfunc_ops.airflow.hooks.pyfunc_ops import PyfuncOpsHook
from pyfunc_ops.config import use_settings

if TYPE_CHECKING:
    from pyfunc_ops.config import Settings


class PollingTrigger(BaseTrigger):
    """Base of the pyfunc_ops triggers. Subclasses implement :meth:`subject` and
    :meth:`check` (and :meth:`describe` if they validate), and add their own kwargs to
    :meth:`serialize`.

    :param pyfunc_ops_conn_id: the ``pyfunc_ops`` connection whose settings the checks run
        with (the triggerer's environment applies when it does not exist).
    :param poll_interval: seconds between two checks.
    :param end_time: a Unix timestamp after which the trigger gives up with a
        ``"timeout"`` event. The sensor sets it from its ``timeout`` so the wait is bounded
        even where nothing enforces the deferral timeout (``dag.test()`` runs triggers
        inline without one); it is absolute so a triggerer restart does not extend it.

    Events: ``{"status": "success", **check()}``, ``{"status": "timeout", "message": ...}``
    or ``{"status": "error", "message": ...}``.
    """

    def __init__(
        self,
        *,
        pyfunc_ops_conn_id: str = PyfuncOpsHook.default_conn_name,
        poll_interval: float = 60.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__()
        self.pyfunc_ops_conn_id = pyfunc_ops_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = end_time

    def subject(self) -> str:
        """What the trigger waits for, in words, from its arguments as given."""
        raise NotImplementedError

    def describe(self) -> str:
        """:meth:`subject` once the arguments are checked; a bad argument raises here and
        becomes an error event that names :meth:`subject`."""
        return self.subject()

    def check(self) -> dict[str, Any] | None:
        """One blocking check, run with the connection's settings current: the success
        event's fields, or ``None`` for "not yet"."""
        raise NotImplementedError

    def polling_kwargs(self) -> dict[str, Any]:
        """The kwargs of this base, for the subclass's :meth:`serialize`."""
        return {
            "pyfunc_ops_conn_id": self.pyfunc_ops_conn_id,
            "poll_interval": self.poll_interval,
            "end_time": self.end_time,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        event = await self._wait()
        yield TriggerEvent(event)

    async def _wait(self) -> dict[str, Any]:
        what = self.subject()
        try:
            what = self.describe()
            # Reading the connection is a blocking call to the supervisor: off the loop.
            settings = await asyncio.to_thread(self._settings)
            while True:
                found = await asyncio.to_thread(self._check_with, settings)
                if found is not None:
                    self.log.info("found %s", what)
                    return {"status": "success", **found}
                remaining = None if self.end_time is None else self.end_time - time.time()
                if remaining is not None and remaining <= 0:
                    return {"status": "timeout", "message": f"timed out waiting for {what}"}
                self.log.debug("not yet: %s", what)
                delay = (
                    self.poll_interval if remaining is None else min(self.poll_interval, remaining)
                )
                await asyncio.sleep(delay)
        except Exception as exc:  # reported as an event, see the module docstring
            self.log.exception("waiting for %s failed", what)
            return {
                "status": "error",
                "message": f"waiting for {what} failed: {type(exc).__name__}: {exc}",
            }

    def _settings(self) -> Settings:
        return PyfuncOpsHook(pyfunc_ops_conn_id=self.pyfunc_ops_conn_id).get_settings()

    def _check_with(self, settings: Settings) -> dict[str, Any] | None:
        with use_settings(settings):
            return self.check()
