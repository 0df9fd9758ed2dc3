"""The ``pyfunc_ops`` connection's fields, described once.

:data:`FIELDS` is the single table of what a connection holds. Everything that describes
the connection to a person is generated from it, so the descriptions cannot drift apart:

- the ``connection-types`` entry of ``get_provider_info`` (``conn-fields`` for the extra
  keys that get their own form field, ``ui-field-behaviour`` for Airflow's built-in
  fields), which is what Airflow 3's UI reads;
- ``PyfuncOpsHook.get_ui_field_behaviour`` (the older, hook-side form description);
- the set of extra keys the hook accepts (others are named in a warning);
- the table in ``docs/airflow.md`` (a test compares it with :func:`markdown_table`).

Every field the hook reads is a row. A row with ``hidden`` set has no form field of its
own and says why. The kinds of tracking URI come from the tracking backend registry
(:mod:`pyfunc_ops.tracking.backends`, a table of names: no backend is imported). Kept
free of other imports (``get_provider_info`` must stay cheap).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pyfunc_ops.tracking import backends as tracking_backends

__all__ = [
    "FIELDS",
    "ConnectionField",
    "conn_fields",
    "extra_keys",
    "markdown_table",
    "ui_field_behaviour",
]

# The attributes every Airflow connection has; anything else lives in ``extra``.
_BUILT_IN = frozenset({"host", "port", "schema", "login", "password", "extra"})


@dataclass(frozen=True)
class ConnectionField:
    """One field of the connection.

    :param name: a built-in connection attribute (``host``, ``login``, ...) or a key of
        the ``extra`` JSON object.
    :param label: the form's label for it.
    :param meaning: what the hook does with it (the docs' wording).
    :param placeholder: an example value shown in the empty form field.
    :param hidden: empty when the field is in the form; otherwise why it is not (a
        built-in field is then hidden, an extra key gets no form field of its own).
    :param sensitive: masked in the form and in logs (a secret).
    """

    name: str
    label: str
    meaning: str
    placeholder: str = ""
    hidden: str = ""
    sensitive: bool = False

    @property
    def in_extra(self) -> bool:
        """Whether the value is a key of the connection's ``extra`` JSON object."""
        return self.name not in _BUILT_IN


_EXTRA_EXAMPLE = json.dumps(
    {
        "tracking_uri": "postgresql://user:pw@db/registry",
        "artifact_root": "s3://bucket/artifacts",
        "storage_options": {"use_ssl": False},
    }
)

FIELDS: tuple[ConnectionField, ...] = (
    ConnectionField(
        "tracking_uri",
        "Tracking URI",
        f"the registry: {tracking_backends.connection_form_text()}; "
        "default `PYFUNC_OPS_TRACKING_URI`",
        placeholder="postgresql://user:pw@db/registry",
    ),
    ConnectionField(
        "artifact_root",
        "Artifact root",
        "where runs store models: any fsspec URL (`s3://bucket/models`); default "
        "`PYFUNC_OPS_ARTIFACT_ROOT`",
        placeholder="s3://bucket/artifacts",
    ),
    ConnectionField(
        "endpoint_url",
        "S3 endpoint URL",
        "S3 endpoint (MinIO, Ceph, ...); when empty, built from `host`, `port` and `schema`",
        placeholder="http://minio:9000",
    ),
    ConnectionField(
        "host",
        "S3 endpoint host",
        "S3 endpoint host, used when `endpoint_url` is empty (a full URL is used as is)",
        placeholder="minio",
    ),
    ConnectionField(
        "port",
        "S3 endpoint port",
        "the port of that host (optional)",
        placeholder="9000",
    ),
    ConnectionField(
        "schema",
        "S3 endpoint scheme",
        "the URL scheme of that host: `http` (default) or `https`",
        placeholder="http",
    ),
    ConnectionField("login", "AWS access key id", "AWS access key id"),
    ConnectionField("password", "AWS secret access key", "AWS secret access key"),
    ConnectionField(
        "region_name", "AWS region", "AWS region, as for boto", placeholder="us-east-1"
    ),
    ConnectionField(
        "aws_session_token",
        "AWS session token",
        "AWS session token, for temporary credentials",
        sensitive=True,
    ),
    ConnectionField(
        "token",
        "Tracking server token",
        "a bearer token for an MLflow tracking server (`tracking_uri` `https://...`); wins "
        "over `MLFLOW_TRACKING_TOKEN`. Basic auth goes in the URL "
        "(`https://user:pw@mlflow:5000`)",
        sensitive=True,
    ),
    ConnectionField(
        "storage_options",
        "Storage options",
        "further s3fs keyword arguments (a JSON object); the fields above win over it",
        hidden="it is a JSON object, which a text field cannot hold; write it in Extra",
    ),
    ConnectionField(
        "trust_remote_code",
        "Trust remote code",
        "`true` lets models from URLs outside the registry run their own code when loaded "
        "(pickles, `code/`); default `PYFUNC_OPS_TRUST_REMOTE_CODE`, see docs/security.md",
        hidden="a yes/no security switch, set on purpose: write "
        '`"trust_remote_code": true` in Extra',
    ),
    ConnectionField(
        "extra",
        "Extra",
        "the extra keys of this table as one JSON object (fields filled in the form are "
        "stored there too)",
        placeholder=_EXTRA_EXAMPLE,
    ),
)


def extra_keys() -> frozenset[str]:
    """The keys of ``extra`` the hook reads."""
    return frozenset(f.name for f in FIELDS if f.in_extra)


def conn_fields() -> dict[str, dict[str, Any]]:
    """``conn-fields`` of the provider info: one form field per shown extra key."""
    fields: dict[str, dict[str, Any]] = {}
    for f in FIELDS:
        if f.in_extra and not f.hidden:
            schema: dict[str, Any] = {"type": ["string", "null"]}
            if f.sensitive:
                schema["format"] = "password"  # how Airflow marks a field as a secret
            fields[f.name] = {"label": f.label, "description": f.meaning, "schema": schema}
    return fields


def ui_field_behaviour() -> dict[str, Any]:
    """Hidden fields, labels and placeholders, in ``get_ui_field_behaviour``'s shape."""
    return {
        "hidden_fields": [f.name for f in FIELDS if not f.in_extra and f.hidden],
        "relabeling": {f.name: f.label for f in FIELDS if not f.in_extra and not f.hidden},
        "placeholders": {f.name: f.placeholder for f in FIELDS if f.placeholder and not f.hidden},
    }


def markdown_table() -> str:
    """The docs' table of the connection's fields (ends with a newline)."""
    lines = ["| connection field | form label | meaning |", "|---|---|---|"]
    for f in FIELDS:
        name = f"extra `{f.name}`" if f.in_extra else f"`{f.name}`"
        label = "(none)" if f.hidden else f.label
        meaning = f"{f.meaning}; no form field: {f.hidden}" if f.hidden else f.meaning
        lines.append(f"| {name} | {label} | {meaning} |")
    return "\n".join(lines) + "\n"
