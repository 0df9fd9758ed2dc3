"""Registry operators: promote a model version by alias or by stage.

Both are idempotent (setting an alias or stage twice leaves the same state), return (XCom)
``{"name", "version", "alias"|"stage", "model_uri", "digest"}`` and emit an Asset event for
the model (see :mod:`pyfunc_ops.airflow.assets`), so scoring DAGs can be scheduled on a
promotion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pyfunc_ops.airflow.assets import emit_model_event, model_outlets
from pyfunc_ops.airflow.operators.base import PyfuncOpsBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class _RegistryOperator(PyfuncOpsBaseOperator):
    template_fields: Sequence[str] = ("name", "version")
    ui_color = "#e8def8"

    def __init__(self, *, name: str, version: int | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.version = version

    def _emit(self, context: Context, mv: Any, model_uri: str, **target: str) -> dict[str, Any]:
        """The XCom result, also attached to the model's Asset events; ``target`` is the
        ``alias`` or the ``stage``; ``digest`` is the version's (``None``: it has none)."""
        result = {
            "name": self.name,
            "version": int(mv.version),
            **target,
            "model_uri": model_uri,
            "digest": mv.digest,
        }
        emit_model_event(context, list(self.outlets), result)
        return result


class SetModelAliasOperator(_RegistryOperator):
    """Point ``alias`` (e.g. ``champion``) of registered model ``name`` at ``version``
    (templated, e.g. ``"{{ ti.xcom_pull('package')['version'] }}"``)."""

    template_fields: Sequence[str] = ("name", "version", "alias")

    def __init__(self, *, alias: str, **kwargs: Any) -> None:
        if "outlets" not in kwargs:
            kwargs["outlets"] = model_outlets(kwargs.get("name"), alias=alias)
        super().__init__(**kwargs)
        self.alias = alias

    def execute_job(self, context: Context) -> dict[str, Any]:
        client = self.hook.get_client()
        client.set_registered_model_alias(self.name, self.alias, self.version)
        mv = client.get_model_version_by_alias(self.name, self.alias)
        self.log.info("%s@%s -> version %s", self.name, self.alias, mv.version)
        model_uri = f"models:/{self.name}@{self.alias}"
        return self._emit(context, mv, model_uri, alias=self.alias)


class TransitionModelStageOperator(_RegistryOperator):
    """Move ``version`` of registered model ``name`` to ``stage`` (Staging, Production,
    Archived, None); ``archive_existing_versions`` archives the versions already there."""

    template_fields: Sequence[str] = ("name", "version", "stage")

    def __init__(self, *, stage: str, archive_existing_versions: bool = False, **kwargs: Any):
        if "outlets" not in kwargs:
            kwargs["outlets"] = model_outlets(kwargs.get("name"), stage=stage)
        super().__init__(**kwargs)
        self.stage = stage
        self.archive_existing_versions = archive_existing_versions

    def execute_job(self, context: Context) -> dict[str, Any]:
        client = self.hook.get_client()
        mv = client.transition_model_version_stage(
            self.name, self.version, self.stage, self.archive_existing_versions
        )
        self.log.info("%s version %s -> stage %s", self.name, mv.version, mv.current_stage)
        model_uri = f"models:/{self.name}/{mv.version}"
        return self._emit(context, mv, model_uri, stage=mv.current_stage)
