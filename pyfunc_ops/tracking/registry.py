"""The model registry store: registered models, their numbered versions, stages and aliases.

Version numbers are allocated as ``max(version) + 1`` inside a transaction that first locks
the registered model row (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the
``BEGIN IMMEDIATE`` of every write transaction already serializes writers). The primary key
``(name, version)`` is the last line of defence: should two writers still pick the same
number (a database without row locks), one insert fails and is retried with a fresh number.
So N concurrent registrations always yield exactly versions 1..N.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    String,
    and_,
    func,
    literal,
    not_,
    select,
    tuple_,
)
from sqlalchemy.exc import IntegrityError

from pyfunc_ops.core.names import ARCHIVED, NONE
from pyfunc_ops.errors import ResourceNotFoundError, TrackingStoreError
from pyfunc_ops.models.manifest import validate_digest
from pyfunc_ops.tracking import hints
from pyfunc_ops.tracking.engine import read_transaction, write_transaction
from pyfunc_ops.tracking.entities import ModelVersion, ModelVersionStatus, RegisteredModel
from pyfunc_ops.tracking.filters import Condition
from pyfunc_ops.tracking.schema import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)
from pyfunc_ops.tracking.sqlsearch import compare, version_clause
from pyfunc_ops.tracking.sqlutil import exists_row, in_chunks, now_ms, upsert
from pyfunc_ops.tracking.store import (
    ALIAS_ABSENT,
    RegistryStoreBase,
    check_alias_expectation,
)

__all__ = ["MAX_VERSION_ATTEMPTS", "RegistryStore"]

logger = logging.getLogger(__name__)

MAX_VERSION_ATTEMPTS = 20

_mv = model_versions
_rm = registered_models


class RegistryStore(RegistryStoreBase):
    """Registered models and model versions in the database behind ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- errors ---------------------------------------------------------------------------

    def _model_not_found(self, conn: Connection, name: str) -> ResourceNotFoundError:
        names = [r[0] for r in conn.execute(select(_rm.c.name).order_by(_rm.c.name).limit(2000))]
        return hints.model_not_found(name, names)

    def _require_model(self, conn: Connection, name: str, lock: bool = False) -> Any:
        query = select(_rm).where(_rm.c.name == name)
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise self._model_not_found(conn, name)
        return row

    def _version_numbers(self, conn: Connection, name: str) -> list[int]:
        return [
            r[0]
            for r in conn.execute(
                select(_mv.c.version).where(_mv.c.name == name).order_by(_mv.c.version)
            )
        ]

    def _version_not_found(self, conn: Connection, name: str, version: int) -> Exception:
        return hints.version_not_found(name, version, self._version_numbers(conn, name))

    def _require_version(self, conn: Connection, name: str, version: int) -> None:
        self._require_model(conn, name)
        if not exists_row(conn, _mv, name=name, version=version):
            raise self._version_not_found(conn, name, version)

    def _aliases_of(self, conn: Connection, name: str) -> dict[str, int]:
        table = registered_model_aliases
        return {
            r.alias: r.version
            for r in conn.execute(select(table).where(table.c.name == name).order_by(table.c.alias))
        }

    # -- loading --------------------------------------------------------------------------

    def _load_versions(self, conn: Connection, rows: Sequence[Any]) -> list[ModelVersion]:
        names = sorted({row.name for row in rows})
        tags: dict[tuple[str, int], dict[str, str]] = {}
        aliases: dict[tuple[str, int], list[str]] = {}
        for chunk in in_chunks(names):
            for t in conn.execute(
                select(model_version_tags).where(model_version_tags.c.name.in_(chunk))
            ):
                tags.setdefault((t.name, t.version), {})[t.key] = t.value
            table = registered_model_aliases
            for a in conn.execute(
                select(table).where(table.c.name.in_(chunk)).order_by(table.c.alias)
            ):
                aliases.setdefault((a.name, a.version), []).append(a.alias)
        return [
            ModelVersion(
                name=row.name,
                version=row.version,
                creation_timestamp=row.creation_timestamp,
                last_updated_timestamp=row.last_updated_timestamp,
                current_stage=row.current_stage,
                source=row.source,
                run_id=row.run_id,
                status=row.status,
                description=row.description,
                tags=tags.get((row.name, row.version), {}),
                aliases=aliases.get((row.name, row.version), []),
                digest=row.digest,
            )
            for row in rows
        ]

    def _version(self, conn: Connection, name: str, version: int) -> ModelVersion:
        row = conn.execute(
            select(_mv).where(and_(_mv.c.name == name, _mv.c.version == version))
        ).first()
        if row is None:
            raise self._version_not_found(conn, name, version)
        return self._load_versions(conn, [row])[0]

    def _latest_rows(
        self, conn: Connection, names: Sequence[str], stage_list: Sequence[str] | None
    ) -> list[Any]:
        """The newest version row per (model, stage)."""
        latest = (
            select(_mv.c.name, _mv.c.current_stage, func.max(_mv.c.version).label("version"))
            .where(_mv.c.name.in_(names))
            .group_by(_mv.c.name, _mv.c.current_stage)
        )
        if stage_list is not None:
            latest = latest.where(_mv.c.current_stage.in_(stage_list))
        pairs = [(r.name, r.version) for r in conn.execute(latest)]
        if not pairs:
            return []
        query = (
            select(_mv)
            .where(tuple_(_mv.c.name, _mv.c.version).in_(pairs))
            .order_by(_mv.c.name, _mv.c.version.desc())
        )
        return list(conn.execute(query))

    def _newest_per_stage(self, name: str, stages: list[str] | None) -> list[ModelVersion]:
        # One grouped query instead of the base's search over every version.
        with read_transaction(self._engine) as conn:
            self._require_model(conn, name)
            return self._load_versions(conn, self._latest_rows(conn, [name], stages))

    def _load_models(self, conn: Connection, rows: Sequence[Any]) -> list[RegisteredModel]:
        names = [row.name for row in rows]
        tags: dict[str, dict[str, str]] = {}
        aliases: dict[str, dict[str, int]] = {}
        latest: dict[str, list[ModelVersion]] = {}
        for chunk in in_chunks(names):
            for t in conn.execute(
                select(registered_model_tags).where(registered_model_tags.c.name.in_(chunk))
            ):
                tags.setdefault(t.name, {})[t.key] = t.value
            table = registered_model_aliases
            for a in conn.execute(
                select(table).where(table.c.name.in_(chunk)).order_by(table.c.alias)
            ):
                aliases.setdefault(a.name, {})[a.alias] = a.version
            for version in self._load_versions(conn, self._latest_rows(conn, chunk, None)):
                latest.setdefault(version.name, []).append(version)
        return [
            RegisteredModel(
                name=row.name,
                creation_timestamp=row.creation_timestamp,
                last_updated_timestamp=row.last_updated_timestamp,
                description=row.description,
                tags=tags.get(row.name, {}),
                aliases=aliases.get(row.name, {}),
                latest_versions=latest.get(row.name, []),
            )
            for row in rows
        ]

    # -- registered models ----------------------------------------------------------------

    def _create_registered_model(
        self, name: str, tags: dict[str, str], description: str | None
    ) -> RegisteredModel:
        now = now_ms()
        try:
            with write_transaction(self._engine) as conn:
                if exists_row(conn, _rm, name=name):
                    raise self._exists(name)
                conn.execute(
                    _rm.insert().values(
                        name=name,
                        creation_timestamp=now,
                        last_updated_timestamp=now,
                        description=description,
                    )
                )
                for key, value in tags.items():
                    conn.execute(
                        registered_model_tags.insert().values(name=name, key=key, value=value)
                    )
        except IntegrityError as exc:  # lost a race with a concurrent create
            raise self._exists(name) from exc
        return self.get_registered_model(name)

    def _get_registered_model(self, name: str) -> RegisteredModel:
        with read_transaction(self._engine) as conn:
            row = self._require_model(conn, name)
            return self._load_models(conn, [row])[0]

    def _search_registered_models(
        self, conditions: Sequence[Condition], max_results: int | None
    ) -> list[RegisteredModel]:
        query = select(_rm)
        for condition in conditions:
            query = query.where(compare(_rm.c.name, condition))
        query = query.order_by(_rm.c.name)
        if max_results is not None:
            query = query.limit(max_results)
        with read_transaction(self._engine) as conn:
            return self._load_models(conn, list(conn.execute(query)))

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        with write_transaction(self._engine) as conn:
            self._require_model(conn, name, lock=True)
            conn.execute(
                _rm.update()
                .where(_rm.c.name == name)
                .values(description=description, last_updated_timestamp=now_ms())
            )
        return self.get_registered_model(name)

    def _set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        with write_transaction(self._engine) as conn:
            self._require_model(conn, name, lock=True)
            upsert(conn, registered_model_tags, {"name": name, "key": key}, {"value": value})

    def delete_registered_model(self, name: str) -> None:
        """Delete the model with all its versions, tags and aliases (artifacts stay)."""
        with write_transaction(self._engine) as conn:
            self._require_model(conn, name, lock=True)
            for table in (
                registered_model_aliases,
                model_version_tags,
                model_versions,
                registered_model_tags,
            ):
                conn.execute(table.delete().where(table.c.name == name))
            conn.execute(_rm.delete().where(_rm.c.name == name))

    def _rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Give ``name`` (its versions, tags and aliases) the name ``new_name``.

        The foreign keys have no ``ON UPDATE CASCADE``, so the rows are copied under the
        new name and the old ones deleted, children last in and first out, in one
        transaction: a reader sees either the old name or the new one, never both.
        """
        children = (registered_model_tags, model_versions, model_version_tags)
        try:
            with write_transaction(self._engine) as conn:
                row = self._require_model(conn, name, lock=True)
                if exists_row(conn, _rm, name=new_name):
                    raise self._exists(new_name)
                conn.execute(
                    _rm.insert().values(
                        {**row._mapping, "name": new_name, "last_updated_timestamp": now_ms()}
                    )
                )
                for table in (*children, registered_model_aliases):
                    rows = conn.execute(select(table).where(table.c.name == name)).all()
                    if rows:
                        conn.execute(
                            table.insert(), [{**r._mapping, "name": new_name} for r in rows]
                        )
                for table in (registered_model_aliases, *reversed(children)):
                    conn.execute(table.delete().where(table.c.name == name))
                conn.execute(_rm.delete().where(_rm.c.name == name))
        except IntegrityError as exc:  # lost a race with a concurrent create
            raise self._exists(new_name) from exc
        return self.get_registered_model(new_name)

    def _delete_registered_model_tag(self, name: str, key: str) -> bool:
        with write_transaction(self._engine) as conn:
            self._require_model(conn, name, lock=True)
            table = registered_model_tags
            statement = table.delete().where(and_(table.c.name == name, table.c.key == key))
            return bool(conn.execute(statement).rowcount)

    # -- model versions -------------------------------------------------------------------

    def _create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None,
        tags: dict[str, str],
        description: str | None,
        digest: str | None,
    ) -> ModelVersion:
        """Version ``max + 1`` of ``name``, pinned to ``digest`` (its manifest's digest)."""
        if digest is not None:
            validate_digest(digest)
        for attempt in range(1, MAX_VERSION_ATTEMPTS + 1):
            try:
                with write_transaction(self._engine) as conn:
                    # Lock the model row: concurrent registrations queue here (PostgreSQL).
                    self._require_model(conn, name, lock=True)
                    highest = conn.execute(
                        select(func.max(_mv.c.version)).where(_mv.c.name == name)
                    ).scalar()
                    version = (highest or 0) + 1
                    now = now_ms()
                    conn.execute(
                        _mv.insert().values(
                            name=name,
                            version=version,
                            creation_timestamp=now,
                            last_updated_timestamp=now,
                            current_stage=NONE,
                            source=source,
                            run_id=run_id,
                            status=ModelVersionStatus.READY,
                            description=description,
                            digest=digest,
                        )
                    )
                    for key, value in tags.items():
                        conn.execute(
                            model_version_tags.insert().values(
                                name=name, version=version, key=key, value=value
                            )
                        )
                    conn.execute(
                        _rm.update().where(_rm.c.name == name).values(last_updated_timestamp=now)
                    )
                    created = self._version(conn, name, version)
                logger.info(
                    "registered model %r version %d (source %s, digest %s)",
                    name,
                    version,
                    source,
                    digest or "none",
                )
                return created
            except IntegrityError:
                # Another writer took this number between our read and our insert (only
                # possible where row locks are unavailable). Back off briefly, with jitter so
                # the contenders do not collide again in lockstep, then take a fresh number.
                logger.debug("version number race on %r (attempt %d); retrying", name, attempt)
                time.sleep(random.uniform(0.005, 0.05) * attempt)
        raise TrackingStoreError(
            f"could not allocate a version number for registered model {name!r} after "
            f"{MAX_VERSION_ATTEMPTS} attempts under heavy concurrent registration; retry later"
        )

    def _get_model_version(self, name: str, version: int) -> ModelVersion:
        with read_transaction(self._engine) as conn:
            self._require_model(conn, name)
            return self._version(conn, name, version)

    def _delete_model_version(self, name: str, number: int) -> None:
        """Its number is never reused while a higher version exists."""
        with write_transaction(self._engine) as conn:
            self._require_model(conn, name, lock=True)
            if not exists_row(conn, _mv, name=name, version=number):
                raise self._version_not_found(conn, name, number)
            for table in (registered_model_aliases, model_version_tags, _mv):
                conn.execute(
                    table.delete().where(and_(table.c.name == name, table.c.version == number))
                )

    def _transition_stage(
        self, name: str, number: int, target: str, archive_existing_versions: bool
    ) -> ModelVersion:
        with write_transaction(self._engine) as conn:
            self._require_model(conn, name, lock=True)
            if not exists_row(conn, _mv, name=name, version=number):
                raise self._version_not_found(conn, name, number)
            now = now_ms()
            if archive_existing_versions:
                conn.execute(
                    _mv.update()
                    .where(
                        and_(
                            _mv.c.name == name,
                            _mv.c.current_stage == target,
                            _mv.c.version != number,
                        )
                    )
                    .values(current_stage=ARCHIVED, last_updated_timestamp=now)
                )
            conn.execute(
                _mv.update()
                .where(and_(_mv.c.name == name, _mv.c.version == number))
                .values(current_stage=target, last_updated_timestamp=now)
            )
            conn.execute(_rm.update().where(_rm.c.name == name).values(last_updated_timestamp=now))
            return self._version(conn, name, number)

    def _update_model_version(
        self, name: str, number: int, description: str | None
    ) -> ModelVersion:
        with write_transaction(self._engine) as conn:
            self._require_version(conn, name, number)
            conn.execute(
                _mv.update()
                .where(and_(_mv.c.name == name, _mv.c.version == number))
                .values(description=description, last_updated_timestamp=now_ms())
            )
            return self._version(conn, name, number)

    def _set_model_version_tag(self, name: str, number: int, key: str, value: str) -> None:
        with write_transaction(self._engine) as conn:
            self._require_version(conn, name, number)
            key_columns = {"name": name, "version": number, "key": key}
            upsert(conn, model_version_tags, key_columns, {"value": value})

    def _delete_model_version_tag(self, name: str, number: int, key: str) -> bool:
        with write_transaction(self._engine) as conn:
            self._require_version(conn, name, number)
            table = model_version_tags
            statement = table.delete().where(
                and_(table.c.name == name, table.c.version == number, table.c.key == key)
            )
            return bool(conn.execute(statement).rowcount)

    # -- aliases --------------------------------------------------------------------------

    def _set_alias(self, name: str, alias: str, number: int, expected: int | None) -> None:
        """Atomic: one conditional ``UPDATE ... WHERE version = expected`` (or, for ``0``,
        ``INSERT ... SELECT ... WHERE NOT EXISTS``) inside the write transaction that also
        holds the model row's lock, so of two concurrent promotions that expected the same
        version exactly one moves the alias and the other gets
        :class:`~pyfunc_ops.errors.AliasConflictError`."""
        with write_transaction(self._engine) as conn:
            self._require_model(conn, name, lock=True)
            if not exists_row(conn, _mv, name=name, version=number):
                raise self._version_not_found(conn, name, number)
            if expected is None:
                upsert(
                    conn,
                    registered_model_aliases,
                    {"name": name, "alias": alias},
                    {"version": number},
                )
            elif not self._compare_and_set_alias(conn, name, alias, number, expected):
                found = self._aliases_of(conn, name).get(alias)
                if check_alias_expectation(name, alias, number, expected, found):
                    # Unreachable unless the database broke the conditional write.
                    raise TrackingStoreError(
                        f"the conditional write of alias {alias!r} of registered model "
                        f"{name!r} changed no row although the alias is where expected "
                        f"({found}); retry"
                    )
                return  # it points at ``number`` already: a retried promotion
            conn.execute(
                _rm.update().where(_rm.c.name == name).values(last_updated_timestamp=now_ms())
            )

    @staticmethod
    def _compare_and_set_alias(
        conn: Connection, name: str, alias: str, number: int, expected: int
    ) -> bool:
        """One conditional statement: whether it moved (or created) the alias."""
        table = registered_model_aliases
        same = and_(table.c.name == name, table.c.alias == alias)
        if expected == ALIAS_ABSENT:
            absent = not_(select(table.c.alias).where(same).exists())
            row = select(
                literal(name, String), literal(alias, String), literal(number, Integer)
            ).where(absent)
            statement: Any = table.insert().from_select(["name", "alias", "version"], row)
        else:
            statement = (
                table.update().where(and_(same, table.c.version == expected)).values(version=number)
            )
        return bool(conn.execute(statement).rowcount == 1)

    def _delete_alias(self, name: str, alias: str) -> bool:
        with write_transaction(self._engine) as conn:
            self._require_model(conn, name, lock=True)
            table = registered_model_aliases
            statement = table.delete().where(and_(table.c.name == name, table.c.alias == alias))
            return bool(conn.execute(statement).rowcount)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with read_transaction(self._engine) as conn:
            self._require_model(conn, name)
            table = registered_model_aliases
            number = conn.execute(
                select(table.c.version).where(and_(table.c.name == name, table.c.alias == alias))
            ).scalar()
            if number is None:
                raise hints.alias_not_found(name, alias, self._aliases_of(conn, name))
            return self._version(conn, name, number)

    # -- search ---------------------------------------------------------------------------

    def _search_model_versions(
        self, conditions: Sequence[Condition], max_results: int | None
    ) -> list[ModelVersion]:
        query = select(_mv)
        for condition in conditions:
            query = query.where(version_clause(condition))
        query = query.order_by(_mv.c.name, _mv.c.version.desc())
        if max_results is not None:
            query = query.limit(max_results)
        with read_transaction(self._engine) as conn:
            return self._load_versions(conn, list(conn.execute(query)))
