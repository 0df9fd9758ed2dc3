"""``PyfuncModelTrigger``: waits in the triggerer until a complete pyfunc model exists.

The check is the sensor's own :func:`~pyfunc_ops.jobs.conditions.find_model`,
run with the connection's settings current (tracking store for ``runs:/``/``models:/``,
S3 endpoint and credentials); the waiting loop and the events are
:class:`~pyfunc_ops.airflow.triggers.polling.PollingTrigger`'s.
"""

from __future__ import annotations

from typing import Any

from pyfunc_ops.airflow.triggers.polling import PollingTrigger
from pyfunc_ops.jobs.conditions import find_model

CLASSPATH = "pyfunc_ops.airflow.triggers.model.PyfuncModelTrigger"


class PyfuncModelTrigger(PollingTrigger):
    """Fires once ``model_uri`` holds a complete model (its ``MLmodel`` file exists).

    :param model_uri: a local path, any fsspec URL, ``runs:/`` or ``models:/`` URI.
    :param polling: ``pyfunc_ops_conn_id``, ``poll_interval``, ``end_time``, see
        :class:`~pyfunc_ops.airflow.triggers.polling.PollingTrigger`.

    Events: ``{"status": "success", "model": {...}}`` (the sensor's result, see
    :func:`~pyfunc_ops.jobs.conditions.find_model`),
    ``{"status": "timeout", "message": ...}`` or ``{"status": "error", "message": ...}``.
    """

    def __init__(
        self,
        model_uri: str,
        **polling: Any,
    ) -> None:
        super().__init__(**polling)
        self.model_uri = model_uri

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (CLASSPATH, {"model_uri": self.model_uri, **self.polling_kwargs()})

    def subject(self) -> str:
        return f"a complete model at {self.model_uri!r}"

    def check(self) -> dict[str, Any] | None:
        found = find_model(self.model_uri)
        return None if found is None else {"model": found}
