"""``RegistryEventTrigger``: event-driven scheduling on the model registry.

An Airflow 3 event trigger (a ``BaseEventTrigger``) for an ``AssetWatcher``: it watches one
registered model and yields an event each time what it watches changes, whoever changed
it (an Airflow task, the ``pyfunc-ops`` CLI, a notebook, the MLflow UI on an MLflow-server
registry). The triggerer turns each event into an Asset event of the watched asset, so a
DAG scheduled on ``model_asset("churn", alias="champion")`` with this watcher runs when the
champion moves, with no polling DAG. Build the watcher with
:func:`pyfunc_ops.airflow.assets.model_watcher`.

What is watched (the version :func:`~pyfunc_ops.jobs.conditions.find_model_version`
selects, the same lookup the sensors use):

- ``alias``: the version the alias points at (an alias move);
- ``stage``: the newest version in that stage (a stage change);
- neither: the newest version of the model (a new version).

Restart-safe: the baseline is read from the registry when the trigger starts (its first
check), never carried in kwargs, so a triggerer restart or a re-parsed DAG does not fire
again for a change it already reported; a change made while no triggerer runs is seen as
the new baseline, not as an event. An alias that is removed updates the baseline without
an event (there is nothing to score). The kwargs are those of
:class:`~pyfunc_ops.airflow.triggers.polling.PollingTrigger` plus ``name``, ``alias``,
``stage``: plain JSON, no settings or secrets, and stable, so
``BaseEventTrigger.hash(classpath, kwargs)`` identifies the watcher across DAG parses.

Errors (registry down) are logged and the watch goes on after ``poll_interval``: an
event trigger must not fire its asset for an error, and stopping would silently end the
schedule.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from pyfunc_ops.airflow.triggers.polling import PollingTrigger
from pyfunc_ops.jobs.conditions import (
    VersionCondition,
    find_model_version,
    model_version_info,
    requested_uri,
)

CLASSPATH = "pyfunc_ops.airflow.triggers.registry_event.RegistryEventTrigger"
_UNSET = object()


class RegistryEventTrigger(PollingTrigger, BaseEventTrigger):
    """Yields ``{"status": "success", name, version, model_uri, requested_uri, digest,
    source, stage, aliases, previous_version, [alias]}`` each time the watched version of
    registered model ``name`` changes (``model_uri`` pinned to the new version).

    :param name: registered model name.
    :param alias: watch this alias (e.g. ``champion``).
    :param stage: watch the newest version in this stage (any casing).
    :param polling: ``pyfunc_ops_conn_id``, ``poll_interval`` (default 60 s); see
        :class:`~pyfunc_ops.airflow.triggers.polling.PollingTrigger`. ``end_time`` is
        refused: a watcher never times out.

    The arguments are checked here, at DAG parse time: a bad name fails the DAG's import,
    not a triggerer hours later.
    """

    def __init__(
        self,
        name: str,
        alias: str | None = None,
        stage: str | None = None,
        **polling: Any,
    ) -> None:
        if polling.pop("end_time", None) is not None:
            raise TypeError("RegistryEventTrigger watches forever; it takes no end_time")
        super().__init__(**polling)
        condition = VersionCondition.parse(name, stage, alias)
        self.name = condition.name
        self.alias = condition.alias
        self.stage = condition.stage
        self._baseline: Any = _UNSET

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "name": self.name,
                "alias": self.alias,
                "stage": self.stage,
                "pyfunc_ops_conn_id": self.pyfunc_ops_conn_id,
                "poll_interval": self.poll_interval,
            },
        )

    def subject(self) -> str:
        what = (
            f"alias {self.alias!r}"
            if self.alias
            else f"stage {self.stage!r}"
            if self.stage
            else "newest version"
        )
        return f"a change of the {what} of registered model {self.name!r}"

    def check(self) -> dict[str, Any] | None:
        """One poll: the event's fields when the watched version differs from the
        baseline (then the baseline moves to it), else ``None``."""
        from pyfunc_ops.tracking import TrackingClient

        found = find_model_version(TrackingClient(), self.name, self.stage, self.alias)
        current = None if found is None else found.version
        if self._baseline is _UNSET:
            self._baseline = current
            self.log.info("watching %s; now: version %s", self.subject(), current)
            return None
        if current == self._baseline:
            return None
        previous, self._baseline = self._baseline, current
        if found is None:
            self.log.info("%s: it no longer selects a version (was %s)", self.subject(), previous)
            return None
        info = model_version_info(found, requested_uri(self.name, self.stage, self.alias))
        extra = {"alias": self.alias} if self.alias else {}
        return {**info, **extra, "previous_version": previous}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            event = await self._wait()
            if event.get("status") == "success":
                yield TriggerEvent(event)
                continue
            # _wait already logged the traceback; keep watching (see the module docstring).
            self.log.error("%s; retrying in %s s", event.get("message"), self.poll_interval)
            await asyncio.sleep(self.poll_interval)
