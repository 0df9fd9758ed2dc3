"""Registry chores that take more than one store call: the registered models with their
latest version and aliases, a model's versions newest first, promoting a version (alias
or stage), deleting a model, tagging a model or one version.

Single calls (rename, delete a version or an alias) are :class:`TrackingClient` methods
already; these are the combinations ``pyfunc-ops models ...`` made by hand, kept here so an
operator or a script gets the same answer (an unknown model is an error, never an empty
list) and the command line only prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyfunc_ops import tracking  # cheap: TrackingClient is imported on first use
from pyfunc_ops.errors import InvalidParameterError

__all__ = [
    "ModelSummary",
    "delete_registered_model",
    "delete_tag",
    "list_model_versions",
    "list_registered_models",
    "promote",
    "set_tag",
]


@dataclass(frozen=True)
class ModelSummary:
    """A registered model at a glance: its newest version number and where its aliases
    point (``{"champion": 3}``)."""

    name: str
    latest_version: int | None
    aliases: dict[str, int] = field(default_factory=dict)
    last_updated: int | None = None  # milliseconds since the epoch


def list_registered_models() -> list[ModelSummary]:
    """Every registered model of the current store, in the store's order."""
    return [
        ModelSummary(
            name=m.name,
            latest_version=max((int(v.version) for v in m.latest_versions or []), default=None),
            aliases={a: int(v) for a, v in sorted((m.aliases or {}).items())},
            last_updated=m.last_updated_timestamp,
        )
        for m in tracking.TrackingClient().search_registered_models()
    ]


def list_model_versions(name: str) -> list[Any]:
    """The versions of ``name``, newest first. An unknown name raises
    :class:`~pyfunc_ops.errors.ResourceNotFoundError` (an empty list would hide a typo)."""
    client = tracking.TrackingClient()
    client.get_registered_model(name)
    versions = client.search_model_versions(name=name)
    return sorted(versions, key=lambda v: int(v.version), reverse=True)


def promote(
    name: str,
    version: int,
    *,
    alias: str | None = None,
    stage: str | None = None,
    archive_existing: bool = False,
) -> str:
    """Point ``alias`` at ``version`` or move it to ``stage`` (give one); returns the alias,
    or the stage the store recorded (its canonical spelling, e.g. ``Production``)."""
    if bool(alias) == (stage is not None):
        raise InvalidParameterError(
            f"promote version {version} of registered model {name!r}: give alias (e.g. "
            f"'champion') or stage (e.g. 'Production'), one of them; got alias={alias!r}, "
            f"stage={stage!r}."
        )
    client = tracking.TrackingClient()
    if alias:
        client.set_registered_model_alias(name, alias, version)
        return alias
    assert stage is not None
    mv = client.transition_model_version_stage(
        name, version, stage, archive_existing_versions=archive_existing
    )
    return str(mv.current_stage)


def delete_registered_model(name: str) -> int:
    """Delete ``name`` with its versions, tags and aliases (their files stay); returns how
    many versions it had."""
    client = tracking.TrackingClient()
    count = len(client.search_model_versions(name=name))
    client.delete_registered_model(name)
    return count


def set_tag(name: str, key: str, value: str, *, version: int | None = None) -> None:
    """Tag the registered model ``name``, or with ``version`` that one version."""
    client = tracking.TrackingClient()
    if version is None:
        client.set_registered_model_tag(name, key, value)
    else:
        client.set_model_version_tag(name, version, key, value)


def delete_tag(name: str, key: str, *, version: int | None = None) -> None:
    """Delete a tag of the registered model ``name``, or with ``version`` of that version."""
    client = tracking.TrackingClient()
    if version is None:
        client.delete_registered_model_tag(name, key)
    else:
        client.delete_model_version_tag(name, version, key)
