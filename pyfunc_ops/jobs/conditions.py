"""What a wait for a model waits for: "is there a matching registered version yet?" and
"is there a complete model at this URI yet?", written once.

The Airflow sensors poke these checks from a worker and their triggers run the very same
functions in a thread of the triggerer's event loop (``asyncio.to_thread``), so there is
no async copy of the lookup logic to keep in step. Each check returns ``None`` for "not
yet" and raises for anything that waiting cannot fix (an unreachable database, a
malformed argument).

Nothing here imports Airflow: the checks are plain library code on the registry and the
storage layer, testable without a DAG (they lived in ``airflow/triggers/`` before).
"""

from __future__ import annotations

import logging
import os
import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyfunc_ops.core.uri import models_uri
from pyfunc_ops.errors import InvalidParameterError, ResourceNotFoundError, TrackingStoreError
from pyfunc_ops.models.mlmodel import MLMODEL_FILE_NAME

if TYPE_CHECKING:
    from pyfunc_ops.tracking import TrackingClient
    from pyfunc_ops.tracking.entities import ModelVersion

__all__ = [
    "VersionCondition",
    "find_model",
    "find_model_location",
    "find_model_version",
    "mlmodel_exists",
    "model_version_info",
    "observe_model_location",
    "observe_model_version",
    "requested_uri",
    "require_store_folder",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionCondition:
    """A validated "which version am I waiting for": name plus optional stage, alias and
    exclusive lower bound. Built by :meth:`parse` from the (rendered) sensor arguments so
    the sensor and its trigger agree on canonical values."""

    name: str
    stage: str | None = None
    alias: str | None = None
    min_version: int | None = None

    @classmethod
    def parse(
        cls,
        name: object,
        stage: object = None,
        alias: object = None,
        min_version: object = None,
    ) -> VersionCondition:
        """Check and canonicalise user arguments (templated ones arrive as strings).

        ``min_version`` may be ``None`` or ``""`` (no bound: a template whose upstream
        value is empty renders to ``""``), a positive int, or a string of digits.
        """
        from pyfunc_ops.core.names import canonical_stage, validate_alias, validate_model_name

        model = validate_model_name(name)
        canonical = None if stage is None or stage == "" else canonical_stage(str(stage))
        checked_alias = None if alias is None or alias == "" else validate_alias(alias, model)
        return cls(model, canonical, checked_alias, _parse_min_version(min_version, model))

    def describe(self) -> str:
        """Human wording, for logs and timeout messages."""
        parts = [f"a version of registered model {self.name!r}"]
        if self.alias is not None:
            parts.append(f"with alias {self.alias!r}")
        if self.stage is not None:
            parts.append(f"in stage {self.stage!r}")
        if self.min_version is not None:
            parts.append(f"newer than version {self.min_version}")
        return " ".join(parts)


def _parse_min_version(value: object, name: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    from pyfunc_ops.core.names import validate_version

    try:
        return validate_version(value, name)
    except InvalidParameterError as exc:
        raise InvalidParameterError(
            f"min_version for registered model {name!r} must be a positive integer (the "
            f"sensor waits for a version newer than it) or None; got {value!r}"
        ) from exc


def require_store_folder(tracking_uri: str) -> None:
    """Refuse a SQLite tracking store whose folder does not exist, creating nothing.

    Waiting cannot fix a mistyped path, and opening the store would create the folder and
    an empty database there, after which the sensor waits forever on the wrong store.
    """
    from pyfunc_ops.core.redact import redact
    from pyfunc_ops.tracking.uri import missing_sqlite_folder

    folder = missing_sqlite_folder(tracking_uri)
    if folder is not None:
        raise TrackingStoreError(
            f"the SQLite tracking store {redact(tracking_uri)!r} is in folder {folder!r}, "
            "which does not exist; check the connection's tracking_uri or "
            "PYFUNC_OPS_TRACKING_URI (nothing was created)"
        )


def find_model_version(
    client: TrackingClient,
    name: str,
    stage: str | None = None,
    alias: str | None = None,
    min_version: int | None = None,
) -> ModelVersion | None:
    """The newest version of ``name`` meeting every condition given, or ``None`` if none
    does yet.

    - ``alias``: the version the alias points to (and it must also hold ``stage``, if
      given); an alias is moved rather than accumulated, so there is only one candidate.
    - ``stage`` alone: the newest version in that stage.
    - neither: the newest version of the model.
    - ``min_version``: the candidate must be numbered above it ("a new version since").

    A registered model or alias that does not exist yet is "not yet", not an error: the
    sensor typically starts before the training DAG registers the first version. Database
    and configuration errors propagate: a SQLite store whose folder does not exist is one
    (:func:`require_store_folder`), refused instead of created by every poke.
    """
    require_store_folder(client.tracking_uri)
    if alias is not None:
        try:
            version = client.get_model_version_by_alias(name, alias)
        except ResourceNotFoundError as exc:
            logger.debug("not yet: %s", exc)
            return None
        if stage is not None and version.current_stage != stage:
            return None
    else:
        newest = client.search_model_versions(name=name, stage=stage, max_results=1)
        if not newest:
            return None
        version = newest[0]
    if min_version is not None and version.version <= min_version:
        return None
    return version


def requested_uri(name: str, stage: str | None = None, alias: str | None = None) -> str:
    """The moving ``models:/`` URI of what a version condition asks for (the alias, the
    stage, or ``latest``): what the user gave, beside the pinned ``model_uri``."""
    if alias is not None:
        return models_uri(name, alias=alias)
    return models_uri(name, stage=stage)


def model_version_info(version: ModelVersion, requested: str | None = None) -> dict[str, Any]:
    """The JSON-able summary a sensor returns (its XCom) and a trigger event carries:
    ``model_uri`` pins the version, ``requested_uri`` is the moving URI asked for."""
    pinned = models_uri(version.name, version.version)
    return {
        "name": version.name,
        "version": version.version,
        "model_uri": pinned,
        "requested_uri": requested or pinned,
        "source": version.source,
        "digest": version.digest,
        "stage": version.current_stage,
        "aliases": list(version.aliases),
    }


def observe_model_version(client: TrackingClient, condition: VersionCondition) -> str:
    """What the registry holds now for ``condition``, in words: the "last seen" state a
    sensor names when it times out or skips. Lookup errors propagate."""
    name = condition.name
    try:
        model = client.get_registered_model(name)
    except ResourceNotFoundError:
        return f"registered model {name!r} does not exist"
    if condition.alias is not None:
        if condition.alias not in model.aliases:
            known = ", ".join(f"{a} -> v{v}" for a, v in sorted(model.aliases.items()))
            return f"alias {condition.alias!r} is not set (aliases: {known or 'none'})"
        version = client.get_model_version(name, model.aliases[condition.alias])
        return (
            f"alias {condition.alias!r} points at version {version.version} "
            f"(stage {version.current_stage!r})"
        )
    newest = client.search_model_versions(name=name, stage=condition.stage, max_results=1)
    where = f" in stage {condition.stage!r}" if condition.stage is not None else ""
    if not newest:
        return f"registered model {name!r} has no version{where}"
    return f"the newest version{where} is {newest[0].version}"


def find_model(model_uri: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What :class:`PyfuncModelSensor` returns for a complete model at ``model_uri``, or
    ``None`` if there is none yet: a run, registered model, version or alias that does not
    exist yet, or a folder without its ``MLmodel`` file (writers publish it last, so a
    half-copied folder never passes).

    Keys: ``model_uri`` (pinned: ``models:/<name>/<version>`` for any ``models:/`` URI that
    selects a registered version by alias, stage, ``latest`` or number; otherwise the URI
    as given), ``requested_uri`` (as given), ``location``, ``name``, ``version`` and
    ``digest`` (``None`` where the URI names no registered version / no digest was
    recorded). Location, version and digest come from one registry lookup, so they always
    describe the same version.
    """
    from pyfunc_ops.core.uri import parse_model_uri
    from pyfunc_ops.tracking.client import resolve_model_target

    given = os.fspath(model_uri)
    parsed = parse_model_uri(given)
    try:
        target = resolve_model_target(parsed)
    except ResourceNotFoundError as exc:
        logger.debug("not yet: %s", exc)
        return None
    if not mlmodel_exists(target.location):
        return None
    version = target.version
    return {
        "model_uri": given if version is None else models_uri(version.name, version.version),
        "requested_uri": given,
        "location": target.location,
        "name": None if version is None else version.name,
        "version": None if version is None else version.version,
        "digest": target.digest,
    }


def observe_model_location(model_uri: str | os.PathLike[str]) -> str:
    """What is at ``model_uri`` now, in words (a sensor's "last seen" state)."""
    from pyfunc_ops.pyfunc.localize import resolve_uri

    try:
        location = resolve_uri(model_uri)
    except ResourceNotFoundError as exc:
        return f"{os.fspath(model_uri)!r} does not resolve yet ({exc})"
    if mlmodel_exists(location):
        return f"{location!r} holds a complete model"
    return f"{location!r} has no {MLMODEL_FILE_NAME} file"


def find_model_location(model_uri: str | os.PathLike[str]) -> str | None:
    """The artifact location of a complete model at ``model_uri``, or ``None`` if there is
    none yet: the ``location`` of :func:`find_model` (``runs:/`` and ``models:/`` URIs are
    resolved through the registry first)."""
    found = find_model(model_uri)
    return None if found is None else str(found["location"])


def mlmodel_exists(location: str) -> bool:
    """Whether ``location`` (a local path or any fsspec URL) holds an ``MLmodel`` file.

    The filesystem's listing cache is dropped first: s3fs and friends cache directory
    listings per instance, and a poller must see the file the moment it appears.
    """
    from pyfunc_ops.storage.filesystem import get_filesystem

    fs, path = get_filesystem(location)
    fs.invalidate_cache()
    return bool(fs.isfile(posixpath.join(path.rstrip("/") or "/", MLMODEL_FILE_NAME)))
