"""``ModelVersionSensor``: wait until a registered model has the version a DAG needs.

Typical use: a scoring DAG waits for a ``champion`` alias, or for a version newer than the
one it scored with last time. The sensor runs in all three Airflow ways of waiting:
``mode="poke"`` (holds a worker slot), ``mode="reschedule"`` (frees it between pokes) and
``deferrable=True`` (waits in the triggerer with :class:`ModelVersionTrigger`). All three
ask the registry the same question through ``find_model_version``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import PokeReturnValue

from pyfunc_ops.airflow.sensors.base import PyfuncOpsSensor
from pyfunc_ops.airflow.triggers.model_version import ModelVersionTrigger
from pyfunc_ops.jobs.conditions import (
    VersionCondition,
    find_model_version,
    model_version_info,
    observe_model_version,
    requested_uri,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


class ModelVersionSensor(PyfuncOpsSensor):
    """Succeeds once registered model ``name`` has a matching version; returns (XCom)
    ``{"name", "version", "model_uri", "requested_uri", "source", "digest", "stage",
    "aliases"}`` of it, where ``model_uri`` is ``models:/<name>/<version>`` (pinned:
    downstream tasks score exactly the version the sensor saw, even if the alias moves
    meanwhile) and ``requested_uri`` the moving URI waited for (``models:/<name>@<alias>``,
    ``models:/<name>/<stage>`` or ``models:/<name>/latest``). Each key is also its own
    XCom: ``sensor.output["model_uri"]``.

    :param name: registered model name (templated).
    :param stage: only a version in this stage counts, any casing (templated).
    :param alias: only the version this alias points to counts (templated).
    :param min_version: only a version numbered above this counts, e.g. the version a
        previous run used (templated; ``None`` or ``""`` for no bound).
    :param pyfunc_ops_conn_id: the ``pyfunc_ops`` connection with the tracking store.
    :param deferrable: wait in the triggerer instead of a worker.
    :param poll_interval: seconds between registry queries while deferred (default: the
        sensor's ``poke_interval``).

    A registered model or alias that does not exist yet means "keep waiting"; an
    unreachable or misconfigured tracking store fails the task at once. ``timeout`` and
    ``soft_fail`` behave as for every Airflow sensor, in all three modes.
    """

    template_fields: Sequence[str] = ("name", "stage", "alias", "min_version")
    event_field = "model_version"

    def __init__(
        self,
        name: str,
        *,
        stage: str | None = None,
        alias: str | None = None,
        min_version: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.stage = stage
        self.alias = alias
        self.min_version = min_version

    def _condition(self) -> VersionCondition:
        # Called after template rendering, so the checks see the final values.
        return VersionCondition.parse(self.name, self.stage, self.alias, self.min_version)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        condition = self._condition()
        found = find_model_version(
            self.hook.get_client(),
            condition.name,
            condition.stage,
            condition.alias,
            condition.min_version,
        )
        if found is None:
            self.log.info("waiting for %s", condition.describe())
            return False
        self.log.info("found %s: version %s", condition.describe(), found.version)
        requested = requested_uri(condition.name, condition.stage, condition.alias)
        return PokeReturnValue(is_done=True, xcom_value=model_version_info(found, requested))

    def awaiting(self) -> str:
        return self._condition().describe()

    def last_seen(self) -> str:
        return observe_model_version(self.hook.get_client(), self._condition())

    def trigger(self, end_time: float) -> ModelVersionTrigger:
        condition = self._condition()
        return ModelVersionTrigger(
            name=condition.name,
            stage=condition.stage,
            alias=condition.alias,
            min_version=condition.min_version,
            pyfunc_ops_conn_id=self.pyfunc_ops_conn_id,
            poll_interval=self.poll_interval,
            end_time=end_time,
        )
