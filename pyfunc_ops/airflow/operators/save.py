"""``SavePyfuncModelOperator``: package, log and optionally register a model as a task."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from pyfunc_ops.airflow.assets import emit_model_event, model_outlets
from pyfunc_ops.airflow.operators.base import PyfuncOpsBaseOperator
from pyfunc_ops.jobs.packaging import PackageRequest

if TYPE_CHECKING:
    from airflow.sdk import Context


def idempotency_key(context: Context) -> str:
    """``<dag_id>/<run_id>/<task_id>[/<map_index>]``: the same for every try of a task."""
    ti = context["ti"]
    key = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}"
    map_index = getattr(ti, "map_index", -1)
    return key if map_index is None or map_index < 0 else f"{key}/{map_index}"


class SavePyfuncModelOperator(PyfuncOpsBaseOperator):
    """Log a model under a new tracking run and optionally register it.

    Give exactly one of:

    - ``python_model="package.module:Class"`` (a ``PythonModel`` subclass) with
      ``python_model_kwargs`` and ``artifacts``;
    - ``loader_module="pkg.module"`` with ``data_path`` (e.g. an upstream task's output);
    - ``estimator_path``: a fitted estimator file (``.skops``, pickle, joblib, or a
      framework's own file: xgboost ``.ubj``/``.json``, LightGBM ``.txt``, ``.onnx``, ...);
      the flavor is chosen by the estimator's type, or by ``flavor=`` (e.g. ``"xgboost"``).

    The arguments (all templated) are the fields of
    :class:`pyfunc_ops.jobs.packaging.PackageRequest`, with its defaults, except
    ``idempotency_key``: the task instance is the key (:func:`idempotency_key`), so a retry
    of the same task instance returns the first try's result instead of registering again.
    ``run_name`` defaults to the task id; the run is tagged with the DAG, run and task ids.
    ``input_example`` is the path (templated, any fsspec URL) of a Parquet or CSV sample
    of the model's input: its first rows are saved as the model's input example and give
    it an input signature, so scoring (Spark too) passes columns by name and refuses a
    frame that lacks one. Or give ``signature`` (``{"inputs": [{"name": "f0", "type":
    "double"}, ...]}``). ``save_kwargs`` are further ``save_model`` arguments
    (``code_path`` for pyfunc models, ``code_paths`` for estimators, ``pip_requirements``,
    ...).

    Returns (XCom) ``{"model_uri", "run_id", "artifact_uri", "name", "version",
    "reused", "digest"}`` (``digest``: the model's manifest digest, as recorded);
    ``model_uri`` is ``models:/<name>/<version>`` when registered. With
    ``registered_model_name``, an Asset event for the model is emitted (see
    :mod:`pyfunc_ops.airflow.assets`).
    """

    request_type = PackageRequest
    operator_fields = frozenset({"idempotency_key"})
    template_fields_renderers = {
        "python_model_kwargs": "json",
        "artifacts": "json",
        "signature": "json",
    }
    ui_color = "#e3f2d9"

    def __init__(self, **kwargs: Any) -> None:
        name = kwargs.get("registered_model_name")
        super().__init__(**self.with_default_outlets(kwargs, model_outlets, name))

    def lineage_io(self) -> tuple[list[str], list[str]]:
        """Inputs: the estimator file, data path, artifacts and input example."""
        names = ("estimator_path", "data_path", "input_example")
        inputs = [str(getattr(self, n)) for n in names if getattr(self, n, None)]
        artifacts = getattr(self, "artifacts", None) or {}
        if isinstance(artifacts, dict):
            inputs += [str(v) for v in artifacts.values() if isinstance(v, str)]
        return inputs, []

    def execute_job(self, context: Context) -> dict[str, Any]:
        from pyfunc_ops.jobs.packaging import run_package

        ti = context["ti"]
        request: PackageRequest = self.job_request()
        tags = {
            "airflow.dag_id": ti.dag_id,
            "airflow.run_id": ti.run_id,
            "airflow.task_id": ti.task_id,
            **(request.tags or {}),
        }
        request = dataclasses.replace(
            request,
            idempotency_key=idempotency_key(context),
            run_name=request.run_name or ti.task_id,
            tags=tags,
        )
        result = run_package(request)
        digest = _recorded_digest(result, request.artifact_path)
        self.record_model(
            result.model_uri,
            name=result.name,
            version=result.version,
            digest=digest,
            source=result.artifact_uri,
        )
        self._lineage_outputs = [result.artifact_uri]
        if result.version is not None and result.name:
            emit_model_event(
                context,
                list(self.outlets),
                {
                    "name": result.name,
                    "version": result.version,
                    "model_uri": result.model_uri,
                    "digest": digest,
                },
            )
        return {**result.to_dict(), "digest": digest}


def _recorded_digest(result: Any, artifact_path: str) -> str | None:
    """The digest the tracking store recorded for the packaged model (the version's, else
    the run's tag), so a retry that reuses the first try's result reports the same one."""
    from pyfunc_ops import tracking
    from pyfunc_ops.tracking.integrity import run_digest_tag

    client = tracking.TrackingClient()
    if result.name and result.version is not None:
        digest: str | None = client.get_model_version(result.name, result.version).digest
        return digest
    return client.get_run(result.run_id).data.tags.get(run_digest_tag(artifact_path))
