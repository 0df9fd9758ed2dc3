"""``PyfuncModelSensor``: wait until a complete pyfunc model exists at a URI.

Use it when a model is produced outside the registry (another team's job copies it to a
bucket) or to gate on a ``runs:/`` / ``models:/`` URI becoming loadable. "Complete" means
the ``MLmodel`` file is there: writers publish it last, so its presence implies the rest.

Poke, reschedule and deferrable mode (:class:`PyfuncModelTrigger`). The connection's
settings apply through a ``use_settings`` scope, which belongs to one thread or asyncio
task: in the shared triggerer, concurrent triggers for different connections never see
each other's S3 endpoint, credentials or registry.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import PokeReturnValue

from pyfunc_ops.airflow.sensors.base import PyfuncOpsSensor
from pyfunc_ops.airflow.triggers.model import PyfuncModelTrigger
from pyfunc_ops.config import use_settings
from pyfunc_ops.core.uri import is_registry_uri
from pyfunc_ops.jobs.conditions import find_model, observe_model_location

if TYPE_CHECKING:
    from airflow.sdk import Context


class PyfuncModelSensor(PyfuncOpsSensor):
    """Succeeds once ``model_uri`` holds a complete model; returns (XCom; each key is also
    its own XCom) ``{"model_uri", "requested_uri", "location", "name", "version",
    "digest"}``: ``model_uri`` is pinned (``models:/<name>/<version>``) when the URI
    selects a registered version by alias, stage or ``latest``, else the URI as given;
    ``requested_uri`` is the URI as given; ``name``/``version``/``digest`` are ``None``
    where there is no registered version (or no recorded digest).

    :param model_uri: a local path, ``file://`` or any fsspec URL (``s3://...``),
        ``runs:/<run_id>/<path>`` or a ``models:/`` URI (templated). A run or registered
        model that does not exist yet counts as "not yet".
    :param pyfunc_ops_conn_id: the ``pyfunc_ops`` connection (tracking store for
        ``runs:/``/``models:/``, S3 endpoint and credentials).
    :param deferrable: wait in the triggerer instead of a worker.
    :param poll_interval: seconds between checks while deferred (default: the sensor's
        ``poke_interval``).

    ``timeout``, ``soft_fail`` and ``mode`` are the usual sensor arguments.
    """

    template_fields: Sequence[str] = ("model_uri",)
    event_field = "model"

    def __init__(self, model_uri: str | os.PathLike[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_uri = os.fspath(model_uri)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        with use_settings(self.hook.get_settings()):
            found = find_model(self.model_uri)
        if found is None:
            self.log.info("no complete model at %s yet", self.model_uri)
            return False
        self.log.info(
            "model at %s is complete (%s, %s)",
            self.model_uri,
            found["location"],
            found["model_uri"],
        )
        return PokeReturnValue(is_done=True, xcom_value=found)

    def awaiting(self) -> str:
        return f"a complete model at {self.model_uri!r}"

    def last_seen(self) -> str:
        with use_settings(self.hook.get_settings()):
            return observe_model_location(self.model_uri)

    def needs_registry(self) -> bool:
        return is_registry_uri(self.model_uri)

    def trigger(self, end_time: float) -> PyfuncModelTrigger:
        return PyfuncModelTrigger(
            model_uri=self.model_uri,
            pyfunc_ops_conn_id=self.pyfunc_ops_conn_id,
            poll_interval=self.poll_interval,
            end_time=end_time,
        )
