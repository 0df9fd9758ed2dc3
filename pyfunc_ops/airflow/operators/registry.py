"""Registry operators: promote a model version by alias or by stage.

Both are idempotent (setting an alias or stage twice leaves the same state), return (XCom)
``{"name", "version", "alias"|"stage", "model_uri", "requested_uri", "digest"}`` and emit an
Asset event with the same ``extra`` for the model (see :mod:`pyfunc_ops.airflow.assets`), so
scoring DAGs can be scheduled on a promotion. ``model_uri`` is pinned,
``models:/<name>/<version>``: a downstream task scores exactly the version promoted, even
if the alias moves again before it starts; ``requested_uri`` is the moving URI
(``models:/<name>@<alias>``, ``models:/<name>/<stage>``) for display and lineage.

Each key is also its own XCom (``multiple_outputs``), so ``op.output["model_uri"]`` works
in a DAG file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pyfunc_ops.airflow.assets import emit_model_event, model_outlets
from pyfunc_ops.airflow.operators.base import PyfuncOpsBaseOperator
from pyfunc_ops.core.uri import models_uri

if TYPE_CHECKING:
    from airflow.sdk import Context


class _RegistryOperator(PyfuncOpsBaseOperator):
    template_fields: Sequence[str] = ("name", "version")
    ui_color = "#e8def8"

    def __init__(
        self, *, name: str, version: int | str, promotion: dict[str, str], **kwargs: Any
    ) -> None:
        """``promotion``: ``{"alias": ...}`` or ``{"stage": ...}``, what the task moves
        (its default outlets are that asset and the model's)."""
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**self.with_default_outlets(kwargs, model_outlets, name, **promotion))
        self.name = name
        self.version = version

    def _emit(self, context: Context, mv: Any, requested_uri: str, **target: str) -> dict[str, Any]:
        """The XCom result, also attached to the model's Asset events; ``target`` is the
        ``alias`` or the ``stage``; ``digest`` is the version's (``None``: it has none)."""
        result = {
            "name": self.name,
            "version": int(mv.version),
            **target,
            "model_uri": models_uri(self.name, int(mv.version)),
            "requested_uri": requested_uri,
            "digest": mv.digest,
        }
        emit_model_event(context, list(self.outlets), result)
        return result


class SetModelAliasOperator(_RegistryOperator):
    """Point ``alias`` (e.g. ``champion``) of registered model ``name`` at ``version``
    (templated, e.g. ``"{{ ti.xcom_pull('package')['version'] }}"``).

    :param expected_version: compare-and-set (templated): ``None`` (default) moves the
        alias whatever it points at; ``0`` requires that it does not exist yet; a number
        requires that it points at that version now, e.g. the champion an upstream task
        compared against (``"{{ ti.xcom_pull('validate')['champion_version'] or 0 }}"``).
        When someone moved it first the task fails with
        :class:`~pyfunc_ops.errors.AliasConflictError` and the alias stays where they put
        it; an alias already at ``version`` counts as done, so a retry succeeds.
    """

    template_fields: Sequence[str] = ("name", "version", "alias", "expected_version")

    def __init__(
        self, *, alias: str, expected_version: int | str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(promotion={"alias": alias}, **kwargs)
        self.alias = alias
        self.expected_version = expected_version

    def execute_job(self, context: Context) -> dict[str, Any]:
        client = self.hook.get_client()
        client.set_registered_model_alias(
            self.name, self.alias, self.version, expected_version=self.expected_version
        )
        # The version just set, not a second alias lookup: someone may move it meanwhile.
        mv = client.get_model_version(self.name, self.version)
        self.log.info(
            "%s@%s -> version %s (expected before: %s)",
            self.name,
            self.alias,
            mv.version,
            "any" if self.expected_version in (None, "", "None") else self.expected_version,
        )
        return self._emit(context, mv, models_uri(self.name, alias=self.alias), alias=self.alias)


class TransitionModelStageOperator(_RegistryOperator):
    """Move ``version`` of registered model ``name`` to ``stage`` (Staging, Production,
    Archived, None); ``archive_existing_versions`` archives the versions already there."""

    template_fields: Sequence[str] = ("name", "version", "stage")

    def __init__(self, *, stage: str, archive_existing_versions: bool = False, **kwargs: Any):
        super().__init__(promotion={"stage": stage}, **kwargs)
        self.stage = stage
        self.archive_existing_versions = archive_existing_versions

    def execute_job(self, context: Context) -> dict[str, Any]:
        client = self.hook.get_client()
        mv = client.transition_model_version_stage(
            self.name, self.version, self.stage, self.archive_existing_versions
        )
        self.log.info("%s version %s -> stage %s", self.name, mv.version, mv.current_stage)
        requested = models_uri(self.name, stage=mv.current_stage)
        return self._emit(context, mv, requested, stage=mv.current_stage)
