"""Checks on names and keys before they reach the database.

Registered model names and aliases end up inside ``models:/`` URIs and artifact paths, and
run keys inside file names of exported runs, so the rules reject what would make a URI
ambiguous (``/`` and ``@`` in a model name, an alias that looks like a version) rather than
letting the database accept a value no URI can address later.
"""

from __future__ import annotations

import re

from pyfunc_ops.errors import InvalidParameterError

MAX_NAME_LENGTH = 256
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000

_KEY_RE = re.compile(r"^[\w\-. /:]+$")
_ALIAS_RE = re.compile(r"^[A-Za-z0-9_\-]+$")
_VERSION_LIKE_RE = re.compile(r"^[vV]?\d+$")


def validate_model_name(name: object) -> str:
    """A registered model name usable in ``models:/<name>/...`` and ``models:/<name>@...``."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(
            f"registered model name must be a non-empty string; got {name!r}"
        )
    if name != name.strip():
        raise InvalidParameterError(
            f"registered model name {name!r} has leading or trailing spaces; remove them"
        )
    if "/" in name or "@" in name:
        raise InvalidParameterError(
            f"registered model name {name!r} contains '/' or '@', which models:/ URIs use as "
            "separators; choose a name without them (for example replace them with '-')"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidParameterError(
            f"registered model name {name[:40]!r}... is {len(name)} characters long; "
            f"the limit is {MAX_NAME_LENGTH}"
        )
    return name


def validate_version(version: object, name: str) -> int:
    """A model version number: a positive int, or a string of digits (as URIs carry it)."""
    if isinstance(version, bool):
        number = None
    elif isinstance(version, int):
        number = version
    elif isinstance(version, str) and version.strip().isdigit():
        number = int(version.strip())
    else:
        number = None
    if number is None or number < 1:
        raise InvalidParameterError(
            f"version of registered model {name!r} must be a positive integer such as 1; "
            f"got {version!r}"
        )
    return number


def validate_alias(alias: object, name: str) -> str:
    """An alias: letters, digits, ``_`` and ``-``; never ``latest`` nor version-like (``v3``,
    ``3``), which ``models:/`` URIs would read as something else."""
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias):
        raise InvalidParameterError(
            f"alias {alias!r} for registered model {name!r} is invalid; use letters, digits, "
            "'_' and '-' only (for example 'champion')"
        )
    if alias.lower() == "latest" or _VERSION_LIKE_RE.match(alias):
        raise InvalidParameterError(
            f"alias {alias!r} for registered model {name!r} is reserved: 'latest' and "
            "version-like names (3, v3) already mean versions in models:/ URIs; pick another"
        )
    return alias


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
