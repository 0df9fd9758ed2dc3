"""``PyfuncModelSensor``: wait until a complete pyfunc model exists at a URI.

Use it when a model is produced outside the registry (another team's job copies it to a
bucket) or to gate on a ``runs:/`` / ``models:/`` URI becoming loadable. "Complete" means
the ``MLmodel`` file is there: writers publish it last, so its presence implies the rest.

Poke and reschedule mode only. A deferrable variant would have to apply the connection's
S3 settings inside the shared triggerer process, where they are process-wide state that
concurrent triggers for different connections would overwrite; reschedule mode frees the
worker slot between checks without that hazard.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from pyfunc_ops.airflow.triggers.conditions import find_model_location

if TYPE_CHECKING:
    from airflow.sdk import Context


class PyfuncModelSensor(BaseSensorOperator):
    """Succeeds once ``model_uri`` holds a complete model; returns (XCom)
    ``{"model_uri": <as given>, "location": <resolved local path or URL>}``.

    :param model_uri: a local path, ``file://`` or any fsspec URL (``s3://...``),
        ``runs:/<run_id>/<path>`` or a ``models:/`` URI (templated). A run or registered
        model that does not exist yet counts as "not yet".
    :param pyfunc_ops_conn_id: the ``pyfunc_ops`` connection (tracking store for
        ``runs:/``/``models:/``, S3 endpoint and credentials).

    ``timeout``, ``soft_fail`` and ``mode`` are the usual sensor arguments.
    """

    template_fields: Sequence[str] = ("model_uri",)
    ui_color = "#d5e8f7"

    def __init__(
        self,
        model_uri: str | os.PathLike[str],
        *,
        pyfunc_ops_conn_id: str = "pyfunc_ops_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_uri = os.fspath(model_uri)
        self.pyfunc_ops_conn_id = pyfunc_ops_conn_id

    def poke(self, context: Context) -> bool | PokeReturnValue:
        from pyfunc_ops.airflow.hooks.pyfunc_ops import PyfuncOpsHook

        with PyfuncOpsHook(pyfunc_ops_conn_id=self.pyfunc_ops_conn_id).configured():
            location = find_model_location(self.model_uri)
        if location is None:
            self.log.info("no complete model at %s yet", self.model_uri)
            return False
        self.log.info("model at %s is complete (%s)", self.model_uri, location)
        return PokeReturnValue(
            is_done=True, xcom_value={"model_uri": self.model_uri, "location": location}
        )
