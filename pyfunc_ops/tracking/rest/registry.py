"""The model registry of an MLflow tracking server (REST API 2.0).

The server allocates version numbers (its own store serializes concurrent registrations),
keeps stages and aliases; this store translates calls and answers, and rebuilds the SQL
store's "not found" messages (which list what exists) from extra lookups made only once a
lookup has failed. Filters are parsed by :mod:`pyfunc_ops.tracking.filters` as for the SQL
store; the equality conditions the server understands narrow its search and every condition
is then checked here, so both stores return the same versions for the same filter.

The digest pyfunc_ops records for a version travels as the version tag
``pyfunc_ops.digest`` and comes back as :attr:`ModelVersion.digest`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from pyfunc_ops.core.names import (
    canonical_stage,
    validate_alias,
    validate_model_name,
    validate_version,
)
from pyfunc_ops.errors import InvalidParameterError, ResourceExistsError, ResourceNotFoundError
from pyfunc_ops.tracking import hints
from pyfunc_ops.tracking.entities import ModelVersion, RegisteredModel
from pyfunc_ops.tracking.filters import Condition
from pyfunc_ops.tracking.registry import (
    RegistryStore,
    check_alias_expectation,
    validate_expected_version,
)
from pyfunc_ops.tracking.rest import convert
from pyfunc_ops.tracking.rest.http import NotFoundOnServer, ServerConnection
from pyfunc_ops.tracking.validation import validate_key, validate_transition

__all__ = ["RestRegistryStore"]

log = logging.getLogger(__name__)
_PAGE = 1000
# Where MLflow 3 keeps a logged model's files: <experiment>/models/<model id>/artifacts.
_LOGGED_MODEL_PATH = re.compile(r"/models/(m-[0-9a-f]+)/artifacts(?:/|$)")


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _like(pattern: str, case: bool) -> re.Pattern[str]:
    parts = ("." if ch == "_" else ".*" if ch == "%" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), 0 if case else re.IGNORECASE | re.DOTALL)


def _matches(value: Any, condition: Condition) -> bool:
    """Whether ``value`` satisfies ``condition`` (the SQL store's semantics, in Python)."""
    op, wanted = condition.op, condition.value
    if value is None:
        return False
    if op in ("IN", "NOT IN"):
        values = {str(v) for v in (wanted if isinstance(wanted, tuple) else (wanted,))}
        return (str(value) in values) == (op == "IN")
    if op == "=":
        return str(value) == str(wanted)
    if op == "!=":
        return str(value) != str(wanted)
    return bool(_like(str(wanted), op == "LIKE").fullmatch(str(value)))


def _version_field(version: ModelVersion, condition: Condition) -> Any:
    field = condition.field
    if field.startswith("tag:"):
        return version.tags.get(field[len("tag:") :])
    if field == "source":
        return convert.theirs(version.source)
    return getattr(version, field)


def _canonical_condition(condition: Condition) -> Condition:
    """Versions compared as numbers and stages in their canonical spelling, as in SQL."""
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


class RestRegistryStore:
    """Registered models and versions on the MLflow tracking server behind ``connection``."""

    def __init__(self, connection: ServerConnection) -> None:
        self._conn = connection

    def __repr__(self) -> str:
        return f"RestRegistryStore({self._conn.url!r})"

    # -- errors ---------------------------------------------------------------------------

    def _model_names(self) -> list[str]:
        return sorted(m.name for m in self._search_models(None))

    def _model_not_found(self, name: str) -> ResourceNotFoundError:
        return hints.model_not_found(name, self._model_names())

    def _version_not_found(self, name: str, version: int) -> ResourceNotFoundError:
        numbers = sorted(v.version for v in self._search_versions(f"name = {_quote(name)}"))
        return hints.version_not_found(name, version, numbers)

    def _alias_not_found(self, name: str, alias: str) -> ResourceNotFoundError:
        return hints.alias_not_found(name, alias, self.get_registered_model(name).aliases)

    def _missing(self, name: str, version: int | None = None) -> ResourceNotFoundError:
        """The message for a failed lookup of ``name`` (and ``version``): which is absent."""
        try:
            self._conn.call("GET", "/registered-models/get", {"name": name})
        except NotFoundOnServer:
            return self._model_not_found(name)
        if version is None:
            return self._model_not_found(name)
        return self._version_not_found(name, version)

    # -- registered models ----------------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        name = validate_model_name(name)
        tag_values = {validate_key(k, "tag"): str(v) for k, v in (tags or {}).items()}
        try:
            answer = self._conn.call(
                "POST",
                "/registered-models/create",
                {
                    "name": name,
                    "tags": convert.as_key_values(tag_values),
                    "description": description,
                },
            )
        except ResourceExistsError as exc:
            raise RegistryStore._exists(name) from exc
        return convert.registered_model(answer["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModel:
        try:
            answer = self._conn.call("GET", "/registered-models/get", {"name": name})
        except NotFoundOnServer as exc:
            raise self._model_not_found(name) from exc
        return convert.registered_model(answer["registered_model"])

    def _search_models(self, filter_string: str | None) -> Iterator[RegisteredModel]:
        token: str | None = None
        while True:
            answer = self._conn.call(
                "GET",
                "/registered-models/search",
                {"filter": filter_string, "max_results": _PAGE, "page_token": token},
            )
            for item in answer.get("registered_models") or ():
                yield convert.registered_model(item)
            token = answer.get("next_page_token")
            if not token:
                return

    def search_registered_models(
        self, conditions: Sequence[Condition] = (), max_results: int | None = None
    ) -> list[RegisteredModel]:
        for condition in conditions:
            if condition.field != "name":
                raise InvalidParameterError(
                    f"search_registered_models filters on 'name' only; got "
                    f"{condition.field!r} (filter model versions with search_model_versions)"
                )
        equal = [c for c in conditions if c.op == "=" and isinstance(c.value, str)]
        server_filter = f"name = {_quote(str(equal[0].value))}" if equal else None
        found = [
            m
            for m in self._search_models(server_filter)
            if all(_matches(m.name, c) for c in conditions)
        ]
        found.sort(key=lambda m: m.name)
        return found if max_results is None else found[:max_results]

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        try:
            self._conn.call(
                "PATCH",
                "/registered-models/update",
                {"name": name, "description": description or ""},
            )
        except NotFoundOnServer as exc:
            raise self._model_not_found(name) from exc
        return self.get_registered_model(name)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        validate_key(key, "tag")
        try:
            self._conn.call(
                "POST",
                "/registered-models/set-tag",
                {"name": name, "key": key, "value": str(value)},
            )
        except NotFoundOnServer as exc:
            raise self._model_not_found(name) from exc

    def delete_registered_model(self, name: str) -> None:
        """Delete the model with all its versions, tags and aliases (artifacts stay)."""
        try:
            self._conn.call("DELETE", "/registered-models/delete", {"name": name})
        except NotFoundOnServer as exc:
            raise self._model_not_found(name) from exc

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        new_name = validate_model_name(new_name)
        self.get_registered_model(name)  # the SQL store's message when it is missing
        if new_name in self._model_names():
            raise ResourceExistsError(
                f"registered model {new_name!r} already exists; choose another name for "
                f"{name!r} or delete {new_name!r} first"
            )
        self._conn.call("POST", "/registered-models/rename", {"name": name, "new_name": new_name})
        return self.get_registered_model(new_name)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        # Checked first: the server answers a missing key with success.
        if key not in self.get_registered_model(name).tags:
            raise ResourceNotFoundError(f"registered model {name!r} has no tag {key!r}")
        self._conn.call("DELETE", "/registered-models/delete-tag", {"name": name, "key": key})

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
        """A new version; the server picks its number. ``digest`` (of the model's files)
        is kept as the version tag ``pyfunc_ops.digest``."""
        if not isinstance(source, str) or not source.strip():
            raise InvalidParameterError(
                f"source of a new version of registered model {name!r} must be a non-empty "
                f"artifact URL or path; got {source!r}"
            )
        tag_values = {validate_key(k, "tag"): str(v) for k, v in (tags or {}).items()}
        if digest is not None:
            tag_values[convert.DIGEST_TAG] = digest
        # A source inside an MLflow 3 logged model's folder belongs to that model, not to
        # the run: the server accepts it only with the model's id.
        logged = _LOGGED_MODEL_PATH.search(source) if source.startswith(convert.SCHEME) else None
        try:
            answer = self._conn.call(
                "POST",
                "/model-versions/create",
                {
                    "name": name,
                    "source": convert.theirs(source),
                    "run_id": run_id,
                    "tags": convert.as_key_values(tag_values),
                    "description": description,
                    "model_id": logged.group(1) if logged else None,
                },
            )
        except NotFoundOnServer as exc:
            raise self._missing(name) from exc
        created = convert.model_version(answer["model_version"])
        log.info("registered model %r version %d (source %s)", name, created.version, source)
        return created

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        number = validate_version(version, name)
        try:
            answer = self._conn.call(
                "GET", "/model-versions/get", {"name": name, "version": str(number)}
            )
        except NotFoundOnServer as exc:
            raise self._missing(name, number) from exc
        return convert.model_version(answer["model_version"])

    def delete_model_version(self, name: str, version: int | str) -> None:
        number = validate_version(version, name)
        try:
            self._conn.call(
                "DELETE", "/model-versions/delete", {"name": name, "version": str(number)}
            )
        except NotFoundOnServer as exc:
            raise self._missing(name, number) from exc

    def get_latest_versions(
        self, name: str, stage_list: Iterable[str] | None = None
    ) -> list[ModelVersion]:
        wanted = None if stage_list is None else [canonical_stage(s) for s in stage_list]
        self.get_registered_model(name)  # the SQL store's message when it does not exist
        if wanted == []:
            return []
        # The newest version of each stage, from a version search: the server's
        # get-latest-versions is deprecated in MLflow 3 and answers without aliases.
        newest: dict[str, ModelVersion] = {}
        for version in self._search_versions(f"name = {_quote(name)}"):
            current = newest.get(version.current_stage)
            if current is None or version.version > current.version:
                newest[version.current_stage] = version
        if wanted is None:
            return sorted(newest.values(), key=lambda v: v.version)
        return [newest[stage] for stage in dict.fromkeys(wanted) if stage in newest]

    def transition_model_version_stage(
        self,
        name: str,
        version: int | str,
        stage: str,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        number, target = validate_transition(name, version, stage, archive_existing_versions)
        try:
            answer = self._conn.call(
                "POST",
                "/model-versions/transition-stage",
                {
                    "name": name,
                    "version": str(number),
                    "stage": target,
                    "archive_existing_versions": archive_existing_versions,
                },
            )
        except NotFoundOnServer as exc:
            raise self._missing(name, number) from exc
        return convert.model_version(answer["model_version"])

    def update_model_version(
        self, name: str, version: int | str, description: str | None
    ) -> ModelVersion:
        number = validate_version(version, name)
        try:
            self._conn.call(
                "PATCH",
                "/model-versions/update",
                {"name": name, "version": str(number), "description": description or ""},
            )
        except NotFoundOnServer as exc:
            raise self._missing(name, number) from exc
        return self.get_model_version(name, number)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: Any) -> None:
        number = validate_version(version, name)
        validate_key(key, "tag")
        try:
            self._conn.call(
                "POST",
                "/model-versions/set-tag",
                {"name": name, "version": str(number), "key": key, "value": str(value)},
            )
        except NotFoundOnServer as exc:
            raise self._missing(name, number) from exc

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        number = validate_version(version, name)
        if key not in self.get_model_version(name, number).tags:
            raise ResourceNotFoundError(
                f"version {number} of registered model {name!r} has no tag {key!r}"
            )
        self._conn.call(
            "DELETE",
            "/model-versions/delete-tag",
            {"name": name, "version": str(number), "key": key},
        )

    # -- aliases --------------------------------------------------------------------------

    def set_registered_model_alias(
        self,
        name: str,
        alias: str,
        version: int | str,
        expected_version: int | str | None = None,
    ) -> None:
        """Point ``alias`` at ``version``, moving it if it pointed elsewhere.

        ``expected_version`` (see :func:`~pyfunc_ops.tracking.registry.
        validate_expected_version`) is checked by reading the alias, comparing, then
        writing: MLflow's REST API has no conditional alias update, so this is **not
        atomic**. It catches a promotion that moved the alias any time before this call
        read it, not one that lands between the read and the write (a window of one
        request); serialize promotions (e.g. ``max_active_runs=1``) where that matters.
        """
        alias = validate_alias(alias, name)
        number = validate_version(version, name)
        expected = validate_expected_version(expected_version, name, alias)
        self.get_model_version(name, number)  # the SQL store's messages for what is missing
        if expected is not None:
            try:
                found: int | None = self.get_model_version_by_alias(name, alias).version
            except ResourceNotFoundError:
                found = None
            if not check_alias_expectation(name, alias, number, expected, found):
                return  # it points at ``number`` already
        self._conn.call(
            "POST",
            "/registered-models/alias",
            {"name": name, "alias": alias, "version": str(number)},
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        if alias not in self.get_registered_model(name).aliases:
            raise self._alias_not_found(name, alias)
        self._conn.call("DELETE", "/registered-models/alias", {"name": name, "alias": alias})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        try:
            answer = self._conn.call(
                "GET", "/registered-models/alias", {"name": name, "alias": alias}
            )
        except (NotFoundOnServer, InvalidParameterError) as exc:
            # MLflow answers an unknown alias with INVALID_PARAMETER_VALUE on some versions.
            try:
                self._conn.call("GET", "/registered-models/get", {"name": name})
            except NotFoundOnServer:
                raise self._model_not_found(name) from exc
            raise self._alias_not_found(name, alias) from exc
        return convert.model_version(answer["model_version"])

    # -- search ---------------------------------------------------------------------------

    def _search_versions(self, filter_string: str | None) -> Iterator[ModelVersion]:
        token: str | None = None
        while True:
            answer = self._conn.call(
                "GET",
                "/model-versions/search",
                {"filter": filter_string, "max_results": _PAGE, "page_token": token},
            )
            for item in answer.get("model_versions") or ():
                yield convert.model_version(item)
            token = answer.get("next_page_token")
            if not token:
                return

    def search_model_versions(
        self,
        conditions: Sequence[Condition] = (),
        max_results: int | None = None,
    ) -> list[ModelVersion]:
        checked = [_canonical_condition(c) for c in conditions]
        server = []
        for c in checked:
            if c.op != "=" or not isinstance(c.value, str) or "`" in c.field:
                continue
            if c.field == "name":
                server.append(f"name = {_quote(c.value)}")
            elif c.field == "run_id":
                server.append(f"run_id = {_quote(c.value)}")
            elif c.field.startswith("tag:"):
                server.append(f"tags.`{c.field[len('tag:') :]}` = {_quote(c.value)}")
        found = [
            v
            for v in self._search_versions(" AND ".join(server) or None)
            if all(_matches(_version_field(v, c), c) for c in checked)
        ]
        found.sort(key=lambda v: (v.name, -v.version))
        return found if max_results is None else found[:max_results]
