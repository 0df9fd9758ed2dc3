"""Checks on run keys before they reach the database.

Param, metric and tag keys end up inside file names of exported runs, so they must be
relative paths without ``..``. The rules for registered model names, versions, stages and
aliases are shared with the ``models:/`` URI parser and live in
:mod:`pyfunc_ops.core.names`.
"""

from __future__ import annotations

import re

from pyfunc_ops.errors import InvalidParameterError

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000

_KEY_RE = re.compile(r"^[\w\-. /:]+$")


def validate_key(key: object, kind: str) -> str:
    """A param, metric or tag key."""
    if not isinstance(key, str) or not key or not _KEY_RE.match(key):
        raise InvalidParameterError(
            f"{kind} key {key!r} is invalid; use a non-empty string of letters, digits, "
            "underscores, dashes, periods, spaces, colons and slashes"
        )
    if len(key) > MAX_KEY_LENGTH or ".." in key.split("/") or key.startswith("/"):
        raise InvalidParameterError(
            f"{kind} key {key[:40]!r} is invalid; keys are at most {MAX_KEY_LENGTH} "
            "characters and must be relative paths without '..'"
        )
    return key
