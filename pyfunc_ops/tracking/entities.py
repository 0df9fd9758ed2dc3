"""The plain objects the tracking API returns: runs, registered models, model versions.

They are frozen-free dataclasses detached from the database on purpose: a caller can keep,
compare and pickle them (Airflow pushes them through XCom) without holding a connection,
and nothing here imports SQLAlchemy, so code that only wants the types stays cheap.
Timestamps are integer milliseconds since the epoch, as in the format's reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


class RunStatus:
    """The life-cycle states of a run. Plain strings so they serialize as themselves."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    ALL = (RUNNING, FINISHED, FAILED, KILLED)
    TERMINAL = (FINISHED, FAILED, KILLED)


class ModelVersionStatus:
    """Registration states of a model version. Versions are created READY: the artifacts are
    uploaded before registration, so there is no pending state to wait on."""

    READY = "READY"


@dataclass
class Metric:
    """One logged metric value; a run keeps every (step, timestamp) point."""

    key: str
    value: float
    step: int = 0
    timestamp: int = 0

    def __eq__(self, other: object) -> bool:
        # NaN is a legitimate metric value (a diverged loss); two NaN points are the same point.
        if not isinstance(other, Metric):
            return NotImplemented
        same_value = self.value == other.value or (
            math.isnan(self.value) and math.isnan(other.value)
        )
        return (self.key, self.step, self.timestamp) == (
            other.key,
            other.step,
            other.timestamp,
        ) and same_value


@dataclass
class RunInfo:
    """Identity and life-cycle of a run."""

    run_id: str
    run_name: str
    status: str
    start_time: int
    end_time: int | None
    artifact_uri: str

    @property
    def run_uuid(self) -> str:
        """MLflow's older name for :attr:`run_id`, kept so ported code works."""
        return self.run_id


@dataclass
class RunData:
    """What a run recorded. ``metrics`` holds the latest value of each key (highest step,
    then latest timestamp); the full history is in ``TrackingClient.get_metric_history``."""

    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    """A run: :class:`RunInfo` plus :class:`RunData`."""

    info: RunInfo
    data: RunData


@dataclass
class ModelVersion:
    """One immutable registered version of a model; ``source`` is its artifact URL."""

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    current_stage: str
    source: str
    run_id: str | None
    status: str = ModelVersionStatus.READY
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    digest: str | None = None


@dataclass
class RegisteredModel:
    """A named model in the registry; ``aliases`` maps alias to version number and
    ``latest_versions`` holds the newest version in each stage that has one."""

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_versions: list[ModelVersion] = field(default_factory=list)
