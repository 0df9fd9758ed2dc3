"""The store base: what every tracking backend offers, most of it derived once here.

fsspec's model: a backend implements a few primitives (the ``_``-prefixed abstract
methods, plus the public ones no other call can be built from), and this base owns
everything that must be the same whichever store the tracking URI names: argument checks,
the "not found" wording (with :mod:`pyfunc_ops.tracking.hints`), the derived calls (latest
versions per stage, the "no such tag or alias" answer of a delete, the alias compare-and-set)
and the search conditions' canonical form. ``TrackingClient``, the fluent API and
:mod:`pyfunc_ops.tracking.locate` are written against these two classes only.

The backends: SQL (:mod:`pyfunc_ops.tracking.sql`, SQLite or PostgreSQL) and REST
(:mod:`pyfunc_ops.tracking.rest`, an MLflow tracking server), chosen by the URI's scheme
through :mod:`pyfunc_ops.tracking.backends`. The run base lives in
:mod:`pyfunc_ops.tracking.runstore` (this module re-exports it).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from pyfunc_ops.core.names import (
    canonical_stage,
    validate_alias,
    validate_model_name,
    validate_version,
)
from pyfunc_ops.errors import (
    AliasConflictError,
    InvalidParameterError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from pyfunc_ops.tracking import hints
from pyfunc_ops.tracking.entities import ModelVersion, RegisteredModel
from pyfunc_ops.tracking.filters import Condition
from pyfunc_ops.tracking.runstore import RunStoreBase, canonical_status
from pyfunc_ops.tracking.validation import (
    string_values,
    validate_key,
    validate_tags,
    validate_text,
    validate_transition,
)

__all__ = [
    "ALIAS_ABSENT",
    "LoggedModelStore",
    "RegistryStoreBase",
    "RunStoreBase",
    "Stores",
    "canonical_condition",
    "canonical_status",
    "check_alias_expectation",
    "describe_stages",
    "validate_expected_version",
]

# ``expected_version`` of a compare-and-set that means "the alias must not exist yet".
ALIAS_ABSENT = 0


def describe_stages(versions: Sequence[ModelVersion]) -> str:
    """``"Staging (v2), None (v1)"``: the newest version in each stage, for error messages."""
    if not versions:
        return "none (the model has no versions)"
    return ", ".join(f"{v.current_stage} (v{v.version})" for v in versions)


def validate_expected_version(value: object, name: str, alias: str) -> int | None:
    """The ``expected_version`` of an alias compare-and-set: ``None`` (no check: move the
    alias whatever it points at), :data:`ALIAS_ABSENT` (``0``: the alias must not exist
    yet) or a version number. Templated values arrive as strings: ``""`` and ``"None"``
    (what ``{{ ... }}`` renders for an empty or ``None`` upstream value) mean ``None``."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
        return None
    number = -1  # refused below: booleans, non-numbers and negative numbers
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number < 0:
        raise InvalidParameterError(
            f"expected_version for alias {alias!r} of registered model {name!r} must be "
            f"None (no check), 0 (the alias must not exist yet) or the version the alias "
            f"points at now; got {value!r}"
        )
    return number


def check_alias_expectation(
    name: str, alias: str, version: int, expected: int, found: int | None
) -> bool:
    """Whether alias ``alias`` of ``name``, found at ``found`` (``None``: not set), may be
    moved to ``version`` by a compare-and-set that expected ``expected``: ``True`` when
    it is where the caller expected, ``False`` when it already points at ``version`` (a
    retried promotion is idempotent: nothing to write). Raises
    :class:`~pyfunc_ops.errors.AliasConflictError` otherwise."""
    if (found or ALIAS_ABSENT) == expected:
        return True
    if found == version:
        return False
    now = "does not exist" if found is None else f"points at version {found}"
    wanted = "not to exist yet" if not expected else f"at version {expected}"
    raise AliasConflictError(
        f"alias {alias!r} of registered model {name!r} was expected "
        f"{wanted} but {now}: someone moved it first, so it was "
        f"not moved to version {version}. Read the alias again, decide again, and retry "
        f"with expected_version={found or ALIAS_ABSENT} (or expected_version=None to move it "
        "whatever it points at)"
    )


def canonical_condition(condition: Condition) -> Condition:
    """A version search condition in the form every store compares: versions as numbers
    (``LIKE`` refused), stages in their canonical spelling, other values as given."""
    values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
    if condition.field == "version":
        if condition.op in ("LIKE", "ILIKE"):
            raise InvalidParameterError(
                f"version_number cannot be compared with {condition.op}; use =, !=, IN or NOT IN"
            )
        fixed: tuple[str | int, ...] = tuple(validate_version(v, "<search>") for v in values)
    elif condition.field == "current_stage" and condition.op in ("=", "!=", "IN", "NOT IN"):
        fixed = tuple(canonical_stage(str(v)) for v in values)
    else:
        return condition
    value = fixed if isinstance(condition.value, tuple) else fixed[0]
    return Condition(condition.field, condition.op, value)


def _no_tag(what: str, key: str, tags: Iterable[str]) -> ResourceNotFoundError:
    listed = ", ".join(sorted(tags)) or "none"
    return ResourceNotFoundError(f"{what} has no tag {key!r}; its tags: {listed}")


class RegistryStoreBase(abc.ABC):
    """Registered models, their numbered versions, stages and aliases.

    A backend implements the abstract methods; the public calls check their arguments
    here first, so a primitive receives a valid name, a version number, canonical stages
    and tag values as strings."""

    # -- registered models ----------------------------------------------------------------

    @staticmethod
    def _exists(name: str) -> ResourceExistsError:
        """The error for creating a registered model that exists, for every store."""
        return ResourceExistsError(
            f"registered model {name!r} already exists; add a version to it with "
            f"create_model_version({name!r}, source), use register_model(source, {name!r}) "
            "which accepts an existing model, or choose another name"
        )

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        """A new registered model; :class:`ResourceExistsError` if ``name`` is taken."""
        name = validate_model_name(name)
        validate_tags(tags, "create_registered_model")
        validate_text(description, "description", "create_registered_model")
        return self._create_registered_model(name, string_values(tags, "tag"), description)

    @abc.abstractmethod
    def _create_registered_model(
        self, name: str, tags: dict[str, str], description: str | None
    ) -> RegisteredModel:
        """Create ``name``; raise ``self._exists(name)`` when it exists."""

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self._get_registered_model(validate_model_name(name))

    @abc.abstractmethod
    def _get_registered_model(self, name: str) -> RegisteredModel: ...

    def search_registered_models(
        self, conditions: Sequence[Condition] = (), max_results: int | None = None
    ) -> list[RegisteredModel]:
        """Registered models by name, matching every condition (``name`` ones only)."""
        for condition in conditions:
            if condition.field != "name":
                raise InvalidParameterError(
                    f"search_registered_models filters on 'name' only; got "
                    f"{condition.field!r} (filter model versions with search_model_versions)"
                )
        return self._search_registered_models(conditions, max_results)

    @abc.abstractmethod
    def _search_registered_models(
        self, conditions: Sequence[Condition], max_results: int | None
    ) -> list[RegisteredModel]: ...

    @abc.abstractmethod
    def update_registered_model(
        self, name: str, description: str | None = None
    ) -> RegisteredModel: ...

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self._set_registered_model_tag(name, validate_key(key, "tag"), str(value))

    @abc.abstractmethod
    def _set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...

    @abc.abstractmethod
    def delete_registered_model(self, name: str) -> None:
        """Delete the model with all its versions, tags and aliases (artifacts stay)."""

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a registered model; its versions, tags and aliases move with it."""
        validate_model_name(name)
        return self._rename_registered_model(name, validate_model_name(new_name))

    @abc.abstractmethod
    def _rename_registered_model(self, name: str, new_name: str) -> RegisteredModel: ...

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        name = validate_model_name(name)
        if not self._delete_registered_model_tag(name, key):
            tags = self.get_registered_model(name).tags
            raise _no_tag(f"registered model {name!r}", key, tags)

    @abc.abstractmethod
    def _delete_registered_model_tag(self, name: str, key: str) -> bool:
        """Delete the tag; ``False`` when the model has no such tag (the base then says
        which tags it has). A missing model raises its not-found error."""

    # -- model versions -------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
        digest: str | None = None,
    ) -> ModelVersion:
        """The next version of ``name``, pinned to ``digest`` (its manifest's digest)."""
        if not isinstance(source, str) or not source.strip():
            raise InvalidParameterError(
                f"source of a new version of registered model {name!r} must be a non-empty "
                f"artifact URL or path; got {source!r}"
            )
        validate_tags(tags, "create_model_version")
        return self._create_model_version(
            name, source, run_id, string_values(tags, "tag"), description, digest
        )

    @abc.abstractmethod
    def _create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None,
        tags: dict[str, str],
        description: str | None,
        digest: str | None,
    ) -> ModelVersion: ...

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        return self._get_model_version(name, validate_version(version, name))

    @abc.abstractmethod
    def _get_model_version(self, name: str, version: int) -> ModelVersion: ...

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete one version, its tags and the aliases pointing at it."""
        self._delete_model_version(name, validate_version(version, name))

    @abc.abstractmethod
    def _delete_model_version(self, name: str, version: int) -> None: ...

    def get_latest_versions(
        self, name: str, stage_list: Iterable[str] | None = None
    ) -> list[ModelVersion]:
        """The newest version in each stage of ``stage_list`` (in that order) that has one;
        with ``None``, in every stage present, by version."""
        wanted = None if stage_list is None else [canonical_stage(s) for s in stage_list]
        newest = {
            v.current_stage: v for v in self._newest_per_stage(validate_model_name(name), wanted)
        }
        if wanted is None:
            return sorted(newest.values(), key=lambda v: v.version)
        return [newest[stage] for stage in dict.fromkeys(wanted) if stage in newest]

    def _newest_per_stage(self, name: str, stages: list[str] | None) -> list[ModelVersion]:
        """The newest version of ``name`` in each of ``stages`` (every stage: ``None``), in
        any order; not-found when the model does not exist. Derived here from a search; a
        backend that can ask for exactly this (SQL: one grouped query) overrides it."""
        self._get_registered_model(name)  # the not-found message when it does not exist
        if stages == []:
            return []
        newest: dict[str, ModelVersion] = {}
        for version in self.search_model_versions([Condition("name", "=", name)]):
            current = newest.get(version.current_stage)
            if current is None or version.version > current.version:
                newest[version.current_stage] = version
        return [v for stage, v in newest.items() if stages is None or stage in stages]

    def transition_model_version_stage(
        self,
        name: str,
        version: int | str,
        stage: str,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        """Move a version to ``stage``; with ``archive_existing_versions``, the versions
        already in that stage (Staging or Production) move to Archived."""
        number, target = validate_transition(name, version, stage, archive_existing_versions)
        return self._transition_stage(name, number, target, archive_existing_versions)

    @abc.abstractmethod
    def _transition_stage(
        self, name: str, version: int, stage: str, archive_existing_versions: bool
    ) -> ModelVersion: ...

    def update_model_version(
        self, name: str, version: int | str, description: str | None = None
    ) -> ModelVersion:
        return self._update_model_version(name, validate_version(version, name), description)

    @abc.abstractmethod
    def _update_model_version(
        self, name: str, version: int, description: str | None
    ) -> ModelVersion: ...

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: Any) -> None:
        number = validate_version(version, name)
        self._set_model_version_tag(name, number, validate_key(key, "tag"), str(value))

    @abc.abstractmethod
    def _set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None: ...

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        number = validate_version(version, name)
        if not self._delete_model_version_tag(name, number, key):
            tags = self.get_model_version(name, number).tags
            raise _no_tag(f"version {number} of registered model {name!r}", key, tags)

    @abc.abstractmethod
    def _delete_model_version_tag(self, name: str, version: int, key: str) -> bool:
        """Delete the tag; ``False`` when the version has no such tag. A missing model
        or version raises its not-found error."""

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """The artifact URL of a version (its ``source``)."""
        return self.get_model_version(name, version).source

    def search_model_versions(
        self, conditions: Sequence[Condition] = (), max_results: int | None = None
    ) -> list[ModelVersion]:
        """Versions matching every condition; by name, newest version first."""
        checked = [canonical_condition(c) for c in conditions]
        return self._search_model_versions(checked, max_results)

    @abc.abstractmethod
    def _search_model_versions(
        self, conditions: Sequence[Condition], max_results: int | None
    ) -> list[ModelVersion]:
        """``conditions`` are canonical (:func:`canonical_condition`)."""

    # -- aliases --------------------------------------------------------------------------

    def set_registered_model_alias(
        self,
        name: str,
        alias: str,
        version: int | str,
        expected_version: int | str | None = None,
    ) -> None:
        """Point ``alias`` at ``version`` (moving it from any other version).

        ``expected_version`` makes it a compare-and-set: ``None`` (default) moves the alias
        whatever it points at; ``0`` requires that the alias does not exist yet; a number
        requires that it points at that version now. When someone else moved (or created)
        it first, :class:`~pyfunc_ops.errors.AliasConflictError` names the expected and the
        found version and nothing changes; an alias already at ``version`` counts as done
        (a retried promotion succeeds). Atomic on the SQL stores (SQLite, PostgreSQL); a
        read-compare-write, not atomic, on an MLflow server (its API has no conditional
        update).
        """
        alias = validate_alias(alias, name)
        number = validate_version(version, name)
        expected = validate_expected_version(expected_version, name, alias)
        self._set_alias(name, alias, number, expected)

    def _set_alias(self, name: str, alias: str, version: int, expected: int | None) -> None:
        """The compare-and-set as read, compare, write: **not atomic**. It catches a
        promotion that moved the alias any time before the read, not one landing between
        the read and the write. A store with conditional writes overrides this."""
        self.get_model_version(name, version)  # the messages for what is missing
        if expected is not None:
            try:
                found: int | None = self.get_model_version_by_alias(name, alias).version
            except ResourceNotFoundError:
                found = None
            if not check_alias_expectation(name, alias, version, expected, found):
                return  # it points at ``version`` already
        self._write_alias(name, alias, version)

    def _write_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at ``version`` unconditionally (for :meth:`_set_alias`)."""
        raise NotImplementedError(f"{type(self).__name__} overrides _set_alias instead")

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        name = validate_model_name(name)
        if not self._delete_alias(name, alias):
            raise hints.alias_not_found(name, alias, self.get_registered_model(name).aliases)

    @abc.abstractmethod
    def _delete_alias(self, name: str, alias: str) -> bool:
        """Delete the alias; ``False`` when the model has no such alias. A missing model
        raises its not-found error."""

    @abc.abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...


class Stores(NamedTuple):
    """What a backend opens for one tracking URI: its run store and its registry store."""

    runs: RunStoreBase
    registry: RegistryStoreBase


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
