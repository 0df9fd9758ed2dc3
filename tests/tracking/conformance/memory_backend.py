"""A toy tracking backend that keeps everything in memory: what "a new backend" takes.

It implements only the primitives of the store base (:mod:`pyfunc_ops.tracking.store`,
:mod:`pyfunc_ops.tracking.runstore`); checks, "not found" wording, latest versions, tag
and alias deletes and the alias compare-and-set come from the base. With the one registry
line in ``test_toy_backend.py`` a ``memtrack://<name>`` tracking URI opens it, and the
conformance tests imported there run against it unchanged.
"""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any

from pyfunc_ops.core.names import ARCHIVED, NONE
from pyfunc_ops.tracking import hints
from pyfunc_ops.tracking.entities import (
    Metric,
    ModelVersion,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunStatus,
)
from pyfunc_ops.tracking.filters import Condition, matches
from pyfunc_ops.tracking.runstore import RunStoreBase, run_not_found
from pyfunc_ops.tracking.sqlutil import now_ms
from pyfunc_ops.tracking.store import RegistryStoreBase, Stores
from pyfunc_ops.tracking.validation import new_params

_STORES: dict[str, Stores] = {}


def normalize_uri(uri: str) -> str:
    return uri.rstrip("/")


def open_stores(uri: str) -> Stores:
    if uri not in _STORES:
        _STORES[uri] = Stores(MemoryRuns(), MemoryRegistry())
    return _STORES[uri]


class MemoryRuns(RunStoreBase):
    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}
        self.history: dict[tuple[str, str], list[Metric]] = {}

    def _run(self, run_id: str) -> Run:
        if run_id not in self.runs:
            newest = sorted(self.runs.values(), key=lambda r: -r.info.start_time)
            ids = [r.info.run_id for r in newest]
            raise run_not_found(run_id, [i for i in ids if i[:2] == run_id[:2]], ids)
        return self.runs[run_id]

    def get_run(self, run_id: str) -> Run:
        return copy.deepcopy(self._run(str(run_id)))

    def _search_runs(
        self,
        statuses: list[str] | None,
        tags: dict[str, str],
        run_name: str | None,
        max_results: int | None,
    ) -> list[Run]:
        found = [
            copy.deepcopy(r)
            for r in sorted(self.runs.values(), key=lambda r: (-r.info.start_time, r.info.run_id))
            if (statuses is None or r.info.status in statuses)
            and (run_name is None or r.info.run_name == run_name)
            and all(r.data.tags.get(k) == v for k, v in tags.items())
        ]
        return found[:max_results] if max_results is not None else found

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self._run(run_id)
        return sorted(self.history.get((run_id, key), []), key=lambda m: (m.step, m.timestamp))

    def _create_run(
        self,
        run_name: str | None,
        tags: dict[str, str],
        start_time: int | None,
        artifact_root: str | None,
        run_id: str | None,
    ) -> Run:
        run_id = run_id or uuid.uuid4().hex
        info = RunInfo(
            run_id,
            run_name or f"run-{run_id[:8]}",
            RunStatus.RUNNING,
            start_time if start_time is not None else now_ms(),
            None,
            f"memory://{artifact_root or 'artifacts'}/{run_id}/artifacts",
        )
        self.runs[run_id] = Run(info, RunData(tags=dict(tags)))
        return self.get_run(run_id)

    def _update_run(
        self,
        run_id: str,
        status: str | None,
        end_time: int | None,
        run_name: str | None,
        clear_end_time: bool,
    ) -> None:
        info = self._run(run_id).info
        info.status = status or info.status
        if end_time is not None or clear_end_time:
            info.end_time = end_time
        info.run_name = run_name or info.run_name

    def _log_batch(
        self,
        run_id: str,
        metric_rows: list[dict[str, Any]],
        params: dict[str, str],
        tags: dict[str, str],
    ) -> None:
        data = self._run(run_id).data
        data.params.update(new_params(run_id, params, data.params))
        for row in metric_rows:
            points = self.history.setdefault((run_id, row["key"]), [])
            points.append(Metric(row["key"], row["value"], row["step"], row["timestamp"]))
            data.metrics[row["key"]] = max(points, key=lambda m: (m.step, m.timestamp)).value
        data.tags.update(tags)

    def _delete_tag(self, run_id: str, key: str) -> bool:
        return self._run(run_id).data.tags.pop(key, None) is not None


class MemoryRegistry(RegistryStoreBase):
    def __init__(self) -> None:
        self.models: dict[str, RegisteredModel] = {}
        self.versions: dict[str, dict[int, ModelVersion]] = {}
        self.highest: dict[str, int] = {}

    def _model(self, name: str) -> RegisteredModel:
        if name not in self.models:
            raise hints.model_not_found(name, sorted(self.models))
        return self.models[name]

    def _version(self, name: str, version: int) -> ModelVersion:
        self._model(name)
        if version not in self.versions[name]:
            raise hints.version_not_found(name, version, sorted(self.versions[name]))
        return self.versions[name][version]

    def _view(self, version: ModelVersion) -> ModelVersion:
        aliases = self.models[version.name].aliases
        named = sorted(a for a, v in aliases.items() if v == version.version)
        return dataclasses.replace(copy.deepcopy(version), aliases=named)

    def _create_registered_model(
        self, name: str, tags: dict[str, str], description: str | None
    ) -> RegisteredModel:
        if name in self.models:
            raise self._exists(name)
        now = now_ms()
        self.models[name] = RegisteredModel(name, now, now, description, dict(tags))
        self.versions[name], self.highest[name] = {}, 0
        return self._get_registered_model(name)

    def _get_registered_model(self, name: str) -> RegisteredModel:
        model = copy.deepcopy(self._model(name))
        model.aliases = dict(sorted(model.aliases.items()))
        newest: dict[str, ModelVersion] = {}
        for version in self.versions[name].values():
            newest[version.current_stage] = max(
                version, newest.get(version.current_stage, version), key=lambda v: v.version
            )
        model.latest_versions = [
            self._view(v) for v in sorted(newest.values(), key=lambda v: v.version)
        ]
        return model

    def _search_registered_models(
        self, conditions: Sequence[Condition], max_results: int | None
    ) -> list[RegisteredModel]:
        names = [n for n in sorted(self.models) if all(matches(n, c) for c in conditions)]
        return [self._get_registered_model(n) for n in names[:max_results]]

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        self._model(name).description = description
        return self._get_registered_model(name)

    def _set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self._model(name).tags[key] = value

    def delete_registered_model(self, name: str) -> None:
        self._model(name)
        del self.models[name], self.versions[name], self.highest[name]

    def _rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        model = self._model(name)
        if new_name in self.models:
            raise self._exists(new_name)
        model.name = new_name
        self.models[new_name] = self.models.pop(name)
        self.versions[new_name] = {
            n: dataclasses.replace(v, name=new_name) for n, v in self.versions.pop(name).items()
        }
        self.highest[new_name] = self.highest.pop(name)
        return self._get_registered_model(new_name)

    def _delete_registered_model_tag(self, name: str, key: str) -> bool:
        return self._model(name).tags.pop(key, None) is not None

    def _create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None,
        tags: dict[str, str],
        description: str | None,
        digest: str | None,
    ) -> ModelVersion:
        self._model(name)
        number = self.highest[name] = self.highest[name] + 1
        now = now_ms()
        self.versions[name][number] = ModelVersion(
            name, number, now, now, NONE, source, run_id, tags=dict(tags),
            description=description, digest=digest,
        )  # fmt: skip
        return self._get_model_version(name, number)

    def _get_model_version(self, name: str, version: int) -> ModelVersion:
        return self._view(self._version(name, version))

    def _delete_model_version(self, name: str, version: int) -> None:
        self._version(name, version)
        del self.versions[name][version]
        aliases = self.models[name].aliases
        for alias in [a for a, v in aliases.items() if v == version]:
            del aliases[alias]

    def _transition_stage(
        self, name: str, version: int, stage: str, archive_existing_versions: bool
    ) -> ModelVersion:
        self._version(name, version).current_stage = stage
        for other in self.versions[name].values():
            if archive_existing_versions and other.version != version:
                other.current_stage = (
                    ARCHIVED if other.current_stage == stage else other.current_stage
                )
        return self._get_model_version(name, version)

    def _update_model_version(
        self, name: str, version: int, description: str | None
    ) -> ModelVersion:
        self._version(name, version).description = description
        return self._get_model_version(name, version)

    def _set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        self._version(name, version).tags[key] = value

    def _delete_model_version_tag(self, name: str, version: int, key: str) -> bool:
        return self._version(name, version).tags.pop(key, None) is not None

    def _search_model_versions(
        self, conditions: Sequence[Condition], max_results: int | None
    ) -> list[ModelVersion]:
        def field(version: ModelVersion, condition: Condition) -> Any:
            if condition.field.startswith("tag:"):
                return version.tags.get(condition.field[len("tag:") :])
            return getattr(version, condition.field)

        found = [
            self._view(v)
            for name in sorted(self.versions)
            for v in sorted(self.versions[name].values(), key=lambda v: -v.version)
            if all(matches(field(v, c), c) for c in conditions)
        ]
        return found[:max_results] if max_results is not None else found

    def _write_alias(self, name: str, alias: str, version: int) -> None:
        self._model(name).aliases[alias] = version

    def _delete_alias(self, name: str, alias: str) -> bool:
        return self._model(name).aliases.pop(alias, None) is not None

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        aliases = self._model(name).aliases
        if alias not in aliases:
            raise hints.alias_not_found(name, alias, aliases)
        return self._get_model_version(name, aliases[alias])
