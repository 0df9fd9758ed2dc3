"""``SavePyfuncModelOperator``: package, log and optionally register a model as a task."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from pyfunc_ops.airflow.assets import emit_model_event, model_outlets
from pyfunc_ops.airflow.hooks.pyfunc_ops import PyfuncOpsHook

if TYPE_CHECKING:
    from airflow.sdk import Context


def idempotency_key(context: Context) -> str:
    """``<dag_id>/<run_id>/<task_id>[/<map_index>]``: the same for every try of a task."""
    ti = context["ti"]
    key = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}"
    map_index = getattr(ti, "map_index", -1)
    return key if map_index is None or map_index < 0 else f"{key}/{map_index}"


class SavePyfuncModelOperator(BaseOperator):
    """Log a model under a new tracking run and optionally register it.

    Give exactly one of:

    - ``python_model="package.module:Class"`` (a ``PythonModel`` subclass) with
      ``python_model_kwargs`` and ``artifacts``;
    - ``loader_module="pkg.module"`` with ``data_path`` (e.g. an upstream task's output);
    - ``estimator_path``: a fitted scikit-learn estimator file (``.skops``, pickle, joblib).

    Returns (XCom) ``{"model_uri", "run_id", "artifact_uri", "name", "version",
    "reused"}``; ``model_uri`` is ``models:/<name>/<version>`` when registered. A retry of
    the same task instance returns the first try's result instead of registering again.
    With ``registered_model_name``, an Asset event for the model is emitted (see
    :mod:`pyfunc_ops.airflow.assets`).

    :param save_kwargs: further ``save_model`` arguments (``code_path`` for pyfunc models,
        ``code_paths`` for estimators, ``pip_requirements``, ``input_example``, ...).
    """

    template_fields: Sequence[str] = (
        "artifact_path",
        "python_model",
        "python_model_kwargs",
        "artifacts",
        "loader_module",
        "data_path",
        "estimator_path",
        "registered_model_name",
        "run_name",
        "tags",
        "save_kwargs",
    )
    template_fields_renderers = {"python_model_kwargs": "json", "artifacts": "json"}
    ui_color = "#e3f2d9"

    def __init__(
        self,
        *,
        artifact_path: str = "model",
        python_model: str | None = None,
        python_model_kwargs: Mapping[str, Any] | None = None,
        artifacts: Mapping[str, str] | None = None,
        loader_module: str | None = None,
        data_path: str | None = None,
        estimator_path: str | None = None,
        serialization_format: str = "skops",
        skops_trusted_types: Sequence[str] | None = None,
        registered_model_name: str | None = None,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        save_kwargs: Mapping[str, Any] | None = None,
        pyfunc_ops_conn_id: str = PyfuncOpsHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        if "outlets" not in kwargs:
            kwargs["outlets"] = model_outlets(registered_model_name)
        super().__init__(**kwargs)
        self.artifact_path = artifact_path
        self.python_model = python_model
        self.python_model_kwargs = python_model_kwargs
        self.artifacts = artifacts
        self.loader_module = loader_module
        self.data_path = data_path
        self.estimator_path = estimator_path
        self.serialization_format = serialization_format
        self.skops_trusted_types = skops_trusted_types
        self.registered_model_name = registered_model_name
        self.run_name = run_name
        self.tags = tags
        self.save_kwargs = save_kwargs
        self.pyfunc_ops_conn_id = pyfunc_ops_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from pyfunc_ops.packaging import package_model

        ti = context["ti"]
        tags = {
            "airflow.dag_id": ti.dag_id,
            "airflow.run_id": ti.run_id,
            "airflow.task_id": ti.task_id,
        }
        tags.update(self.tags or {})
        with PyfuncOpsHook(self.pyfunc_ops_conn_id).configured():
            result = package_model(
                artifact_path=self.artifact_path,
                python_model=self.python_model,
                python_model_kwargs=self.python_model_kwargs,
                artifacts=self.artifacts,
                loader_module=self.loader_module,
                data_path=self.data_path,
                estimator_path=self.estimator_path,
                serialization_format=self.serialization_format,
                skops_trusted_types=self.skops_trusted_types,
                registered_model_name=self.registered_model_name or None,
                idempotency_key=idempotency_key(context),
                run_name=self.run_name or ti.task_id,
                tags=tags,
                **dict(self.save_kwargs or {}),
            )
        if result.version is not None and result.name:
            emit_model_event(
                context,
                list(self.outlets),
                {"name": result.name, "version": result.version, "model_uri": result.model_uri},
            )
        return result.to_dict()
