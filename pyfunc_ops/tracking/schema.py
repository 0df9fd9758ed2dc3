"""The tables of the tracking store, as SQLAlchemy Core metadata.

Core tables rather than ORM classes: the store issues a handful of explicit statements and
returns detached dataclasses, so an identity map and lazy loading would only add surprises
across processes. This module describes the *current* schema; how an older database gets
there is :mod:`pyfunc_ops.tracking.migrations`.

Version numbers are unique per model by the primary key ``(name, version)``: that
constraint, not application logic, is what makes concurrent registrations safe.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1: a single row
    Column("version", Integer, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("name", String(250), nullable=False),
    Column("status", String(20), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("artifact_uri", String(2000), nullable=False),
    Index("ix_runs_start_time", "start_time"),
)


def _run_key_values(name: str) -> Table:
    """A table of a run's key/value pairs (params, tags): one row per run and key."""
    return Table(
        name,
        metadata,
        Column(
            "run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True
        ),
        Column("key", String(250), primary_key=True),
        Column("value", Text, nullable=False),
    )


params = _run_key_values("params")

# NaN is stored as NULL: SQLite turns a NaN REAL into NULL anyway, so both backends agree.
metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_metrics_run_key", "run_id", "key"),
)

run_tags = _run_key_values("run_tags")

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("creation_timestamp", BigInteger, nullable=False),
    Column("last_updated_timestamp", BigInteger, nullable=False),
    Column("description", Text, nullable=True),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column(
        "name",
        String(256),
        ForeignKey("registered_models.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

# run_id deliberately has no foreign key: a version may come from a run in another store.
model_versions = Table(
    "model_versions",
    metadata,
    Column(
        "name",
        String(256),
        ForeignKey("registered_models.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("creation_timestamp", BigInteger, nullable=False),
    Column("last_updated_timestamp", BigInteger, nullable=False),
    Column("current_stage", String(20), nullable=False),
    Column("source", Text, nullable=False),
    Column("run_id", String(32), nullable=True),
    Column("status", String(20), nullable=False),
    Column("description", Text, nullable=True),
    # "sha256:<hex>" of the version's manifest (pyfunc_ops.models.manifest); NULL for
    # models without one (MLflow wrote them) and for versions registered before it existed.
    Column("digest", String(80), nullable=True),
    Index("ix_model_versions_run_id", "run_id"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        ondelete="CASCADE",
    ),
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column(
        "name",
        String(256),
        ForeignKey("registered_models.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("alias", String(256), primary_key=True),
    Column("version", Integer, nullable=False),
)
