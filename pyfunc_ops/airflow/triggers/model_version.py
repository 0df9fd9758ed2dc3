"""``ModelVersionTrigger``: waits in the triggerer for a model version to be registered.

Its kwargs are plain JSON (names, numbers, a connection id), never a client or a
connection's secrets: Airflow stores them in its database and rebuilds the trigger from
``serialize()`` in another process. The registry is polled with the same
:func:`~pyfunc_ops.airflow.triggers.conditions.find_model_version` the sensor pokes with,
run in a worker thread because it is a blocking SQLAlchemy call and the triggerer's event
loop is shared by every deferred task.

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

from pyfunc_ops.airflow.triggers.conditions import (
    VersionCondition,
    find_model_version,
    model_version_info,
)

if TYPE_CHECKING:
    from pyfunc_ops.tracking import TrackingClient

CLASSPATH = "pyfunc_ops.airflow.triggers.model_version.ModelVersionTrigger"


class ModelVersionTrigger(BaseTrigger):
    """Fires once a version of ``name`` matches (see ``find_model_version``).

    :param name: registered model name.
    :param stage: wait for a version in this stage (canonical spelling, e.g. "Production").
    :param alias: wait for the alias to exist (and hold ``stage``, if given).
    :param min_version: wait for a version numbered above this one.
    :param pyfunc_ops_conn_id: the ``pyfunc_ops`` connection naming the tracking store
        (the library's environment variables apply when it does not exist).
    :param poll_interval: seconds between two registry queries.
    :param end_time: a Unix timestamp after which the trigger gives up with a
        ``"timeout"`` event. The sensor sets it from its ``timeout`` so the wait is bounded
        even where nothing enforces the deferral timeout (``dag.test()`` runs triggers
        inline without one); it is absolute so a triggerer restart does not extend it.

    Events: ``{"status": "success", "model_version": {name, version, model_uri, source,
    stage, aliases}}``, ``{"status": "timeout", "message": ...}`` or
    ``{"status": "error", "message": ...}``.
    """

    def __init__(
        self,
        name: str,
        stage: str | None = None,
        alias: str | None = None,
        min_version: int | None = None,
        pyfunc_ops_conn_id: str = "pyfunc_ops_default",
        poll_interval: float = 60.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.stage = stage
        self.alias = alias
        self.min_version = min_version
        self.pyfunc_ops_conn_id = pyfunc_ops_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = end_time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "name": self.name,
                "stage": self.stage,
                "alias": self.alias,
                "min_version": self.min_version,
                "pyfunc_ops_conn_id": self.pyfunc_ops_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        event = await self._wait()
        yield TriggerEvent(event)

    async def _wait(self) -> dict[str, Any]:
        what = f"a version of registered model {self.name!r}"
        try:
            # Parsed again (not trusted from the sensor) so a hand-built trigger with a
            # non-canonical stage or a bad argument still gets a clear error event.
            condition = VersionCondition.parse(self.name, self.stage, self.alias, self.min_version)
            what = condition.describe()
            client = await asyncio.to_thread(self._client)
            while True:
                found = await asyncio.to_thread(
                    find_model_version,
                    client,
                    condition.name,
                    condition.stage,
                    condition.alias,
                    condition.min_version,
                )
                if found is not None:
                    self.log.info("found %s: version %s", what, found.version)
                    return {"status": "success", "model_version": model_version_info(found)}
                remaining = None if self.end_time is None else self.end_time - time.time()
                if remaining is not None and remaining <= 0:
                    return {
                        "status": "timeout",
                        "message": f"timed out waiting for {what}",
                    }
                self.log.debug("not yet: %s", what)
                delay = (
                    self.poll_interval if remaining is None else min(self.poll_interval, remaining)
                )
                await asyncio.sleep(delay)
        except Exception as exc:  # reported as an event, see the module docstring
            self.log.exception("polling the registry failed")
            return {
                "status": "error",
                "message": f"waiting for {what} failed: {type(exc).__name__}: {exc}",
            }

    def _client(self) -> TrackingClient:
        # Reading the connection is a blocking call to the supervisor: run off the loop.
        from pyfunc_ops.airflow.hooks.pyfunc_ops import PyfuncOpsHook

        return PyfuncOpsHook(pyfunc_ops_conn_id=self.pyfunc_ops_conn_id).get_client()
