"""The one store interface: what a run store and a registry store offer.

Two implementations satisfy it: the SQL stores (:class:`~pyfunc_ops.tracking.runs.RunStore`
and :class:`~pyfunc_ops.tracking.registry.RegistryStore`, SQLite or PostgreSQL) and the REST
stores (:mod:`pyfunc_ops.tracking.rest`, an MLflow tracking server). ``TrackingClient``,
the fluent API and :mod:`pyfunc_ops.tracking.locate` are written against these protocols
only, so everything above them works the same whichever store the tracking URI names; both
raise the same error classes with the same wording.

Structural (``Protocol``) rather than a base class: the SQL stores predate this interface
and need no change to satisfy it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from pyfunc_ops.tracking.entities import Metric, ModelVersion, RegisteredModel, Run
from pyfunc_ops.tracking.filters import Condition

__all__ = ["LoggedModelStore", "RegistryStoreProtocol", "RunStoreProtocol"]


class RunStoreProtocol(Protocol):
    """Runs: create, log to, end, read and search them."""

    def get_run(self, run_id: str) -> Run: ...

    def search_runs(
        self,
        status: str | Iterable[str] | None = None,
        tags: Mapping[str, str] | None = None,
        run_name: str | None = None,
        max_results: int | None = 1000,
    ) -> list[Run]: ...

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]: ...

    def create_run(
        self,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        start_time: int | None = None,
        artifact_root: str | None = None,
        run_id: str | None = None,
    ) -> Run: ...

    def update_run(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
        clear_end_time: bool = False,
    ) -> None: ...

    def log_batch(
        self,
        run_id: str,
        metrics_: Iterable[Metric] = (),
        params_: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None: ...

    def delete_tag(self, run_id: str, key: str) -> None: ...


class RegistryStoreProtocol(Protocol):
    """Registered models, their numbered versions, stages and aliases."""

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> RegisteredModel: ...

    def get_registered_model(self, name: str) -> RegisteredModel: ...

    def search_registered_models(
        self, conditions: Sequence[Condition] = (), max_results: int | None = None
    ) -> list[RegisteredModel]: ...

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel: ...

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None: ...

    def delete_registered_model(self, name: str) -> None: ...

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel: ...

    def delete_registered_model_tag(self, name: str, key: str) -> None: ...

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
        digest: str | None = None,
    ) -> ModelVersion: ...

    def get_model_version(self, name: str, version: int | str) -> ModelVersion: ...

    def delete_model_version(self, name: str, version: int | str) -> None: ...

    def get_latest_versions(
        self, name: str, stage_list: Iterable[str] | None = None
    ) -> list[ModelVersion]: ...

    def transition_model_version_stage(
        self,
        name: str,
        version: int | str,
        stage: str,
        archive_existing_versions: bool = False,
    ) -> ModelVersion: ...

    def update_model_version(
        self, name: str, version: int | str, description: str | None
    ) -> ModelVersion: ...

    def set_model_version_tag(
        self, name: str, version: int | str, key: str, value: Any
    ) -> None: ...

    def set_registered_model_alias(
        self,
        name: str,
        alias: str,
        version: int | str,
        expected_version: int | str | None = None,
    ) -> None: ...

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None: ...

    def delete_registered_model_alias(self, name: str, alias: str) -> None: ...

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    def search_model_versions(
        self, conditions: Sequence[Condition] = (), max_results: int | None = None
    ) -> list[ModelVersion]: ...


@runtime_checkable
class LoggedModelStore(Protocol):
    """MLflow 3 logged models (``models:/m-...``), which only a tracking server has.

    A run store that also satisfies this lets ``runs:/<run_id>/<name>`` find a model MLflow
    3 logged under ``name`` for that run, and ``models:/<model_id>`` resolve at all.
    """

    def logged_model_location(self, model_id: str) -> str:
        """The artifact URL of logged model ``model_id``."""
        ...

    def run_logged_model_location(self, run_id: str, name: str) -> str | None:
        """The artifact URL of the model logged as ``name`` by run ``run_id``, if any."""
        ...
