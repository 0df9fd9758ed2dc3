"""``ModelVersionTrigger``: waits in the triggerer for a model version to be registered.

The registry is polled with the same
:func:`~pyfunc_ops.jobs.conditions.find_model_version` the sensor pokes with;
the waiting loop, the connection's settings and the events are
:class:`~pyfunc_ops.airflow.triggers.polling.PollingTrigger`'s.
"""

from __future__ import annotations

from typing import Any

from pyfunc_ops.airflow.triggers.polling import PollingTrigger
from pyfunc_ops.jobs.conditions import (
    VersionCondition,
    find_model_version,
    model_version_info,
    requested_uri,
)

CLASSPATH = "pyfunc_ops.airflow.triggers.model_version.ModelVersionTrigger"


class ModelVersionTrigger(PollingTrigger):
    """Fires once a version of ``name`` matches (see ``find_model_version``).

    :param name: registered model name.
    :param stage: wait for a version in this stage (canonical spelling, e.g. "Production").
    :param alias: wait for the alias to exist (and hold ``stage``, if given).
    :param min_version: wait for a version numbered above this one.
    :param polling: ``pyfunc_ops_conn_id``, ``poll_interval``, ``end_time``, see
        :class:`~pyfunc_ops.airflow.triggers.polling.PollingTrigger`.

    Events: ``{"status": "success", "model_version": {name, version, model_uri,
    requested_uri, source, digest, stage, aliases}}``, ``{"status": "timeout", "message": ...}`` or
    ``{"status": "error", "message": ...}``.
    """

    def __init__(
        self,
        name: str,
        stage: str | None = None,
        alias: str | None = None,
        min_version: int | None = None,
        **polling: Any,
    ) -> None:
        super().__init__(**polling)
        self.name = name
        self.stage = stage
        self.alias = alias
        self.min_version = min_version

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "name": self.name,
                "stage": self.stage,
                "alias": self.alias,
                "min_version": self.min_version,
                **self.polling_kwargs(),
            },
        )

    def _parsed(self) -> VersionCondition:
        # Parsed again (not trusted from the sensor) so a hand-built trigger with a
        # non-canonical stage or a bad argument still gets a clear error event.
        return VersionCondition.parse(self.name, self.stage, self.alias, self.min_version)

    def subject(self) -> str:
        return f"a version of registered model {self.name!r}"

    def describe(self) -> str:
        return self._parsed().describe()

    def check(self) -> dict[str, Any] | None:
        from pyfunc_ops.tracking import TrackingClient

        condition = self._parsed()
        found = find_model_version(
            TrackingClient(),
            condition.name,
            condition.stage,
            condition.alias,
            condition.min_version,
        )
        if found is None:
            return None
        requested = requested_uri(condition.name, condition.stage, condition.alias)
        return {"model_version": model_version_info(found, requested)}
