"""The rules for registry names: registered models, versions, stages and aliases.

The same name travels through a ``models:/`` URI, the registry database and artifact
paths, so one rule decides what is valid everywhere. :mod:`pyfunc_ops.core.uri` applies it
when parsing ``models:/<name>/<version|stage>`` and ``models:/<name>@<alias>``, the
registry when something is created or looked up; both therefore refuse the same values
(``..`` as a model name, ``latest`` or ``v3`` as an alias) with the same message.

The functions raise :class:`InvalidParameterError`; the URI parser re-raises the message
as an :class:`~pyfunc_ops.errors.InvalidURIError` naming the URI.
"""

from __future__ import annotations

import re

from pyfunc_ops.errors import InvalidParameterError

__all__ = [
    "ACTIVE_STAGES",
    "ARCHIVED",
    "EVAL_TAG_PREFIX",
    "MAX_ALIAS_LENGTH",
    "MAX_NAME_LENGTH",
    "NONE",
    "PRODUCTION",
    "STAGES",
    "STAGING",
    "canonical_stage",
    "find_stage",
    "is_version_number",
    "validate_alias",
    "validate_model_name",
    "validate_version",
]

# The version tags an evaluation records (``pyfunc_ops.eval.<metric>``): written by the
# evaluation job, read by the registry view.
EVAL_TAG_PREFIX = "pyfunc_ops.eval."

MAX_NAME_LENGTH = 256
MAX_ALIAS_LENGTH = 255

NONE = "None"
STAGING = "Staging"
PRODUCTION = "Production"
ARCHIVED = "Archived"

#: Canonical stage names, in life-cycle order; input in any casing is accepted.
STAGES: tuple[str, ...] = (NONE, STAGING, PRODUCTION, ARCHIVED)

#: Stages whose other occupants ``archive_existing_versions`` moves to Archived.
ACTIVE_STAGES: tuple[str, ...] = (STAGING, PRODUCTION)

_STAGES_BY_LOWER = {stage.lower(): stage for stage in STAGES}
# ASCII digits only: str.isdigit() also accepts '²', which int() then refuses.
_VERSION_NUMBER = re.compile(r"^[0-9]+$")
_ALIAS = re.compile(r"^[A-Za-z0-9_\-]+$")
# Aliases a models:/ URI would read as a version ('3', 'v3').
_VERSION_LIKE = re.compile(r"^[vV]?[0-9]+$")


def validate_model_name(name: object) -> str:
    """``name`` if it can be a registered model name, usable in ``models:/<name>/...`` and
    ``models:/<name>@...``; else :class:`InvalidParameterError` saying what to change."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(
            f"registered model name is missing: it must be a non-empty string; got {name!r}"
        )
    if name != name.strip():
        raise InvalidParameterError(
            f"registered model name {name!r} is not a valid name: it has leading or trailing "
            "spaces; remove them"
        )
    if "/" in name or "@" in name:
        raise InvalidParameterError(
            f"registered model name {name!r} contains '/' or '@', which models:/ URIs use as "
            "separators; choose a name without them (for example replace them with '-')"
        )
    if name in (".", ".."):
        raise InvalidParameterError(
            f"registered model name {name!r} is not a valid name: '.' and '..' mean folders "
            "in artifact paths; choose another name"
        )
    if not name.isprintable():
        raise InvalidParameterError(
            f"registered model name {name!r} is not a valid name: it contains control "
            "characters; use printable characters only"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidParameterError(
            f"registered model name {name[:40]!r}... is {len(name)} characters long; "
            f"the limit is {MAX_NAME_LENGTH}"
        )
    return name


def is_version_number(text: str) -> bool:
    """Whether ``text`` is written as a version number (ASCII digits), valid or not."""
    return bool(_VERSION_NUMBER.match(text))


def validate_version(version: object, name: str) -> int:
    """A model version number of registered model ``name``: a positive int, or a string of
    digits (as URIs and templates carry it)."""
    number: int | None = None
    if isinstance(version, int) and not isinstance(version, bool):
        number = version
    elif isinstance(version, str) and is_version_number(version.strip()):
        number = int(version.strip())
    if number is None:
        raise InvalidParameterError(
            f"version of registered model {name!r} must be a positive integer such as 1; "
            f"got {version!r}"
        )
    if number < 1:
        raise InvalidParameterError(
            f"version of registered model {name!r} must be a positive integer such as 1; "
            f"versions start at 1, found {number}"
        )
    return number


def find_stage(value: str) -> str | None:
    """The canonical spelling of the stage ``value`` names in any casing, or ``None``."""
    return _STAGES_BY_LOWER.get(value.lower())


def canonical_stage(value: object) -> str:
    """The canonical spelling of ``value`` (``"production"`` -> ``"Production"``)."""
    stage = find_stage(str(value).strip())
    if stage is None:
        raise InvalidParameterError(
            f"model version stage {value!r} is not a stage; expected one of "
            f"{', '.join(STAGES)} (any casing)"
        )
    return stage


def validate_alias(alias: object, name: str) -> str:
    """An alias of registered model ``name``: letters, digits, ``_`` and ``-``; never
    ``latest`` nor version-like (``v3``, ``3``), which ``models:/`` URIs read as versions."""
    if not isinstance(alias, str) or not _ALIAS.match(alias):
        raise InvalidParameterError(
            f"alias {alias!r} for registered model {name!r} is invalid; use letters, digits, "
            "'_' and '-' only (for example 'champion')"
        )
    if len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidParameterError(
            f"alias {alias[:40]!r}... for registered model {name!r} is {len(alias)} "
            f"characters long; the limit is {MAX_ALIAS_LENGTH}"
        )
    if alias.lower() == "latest" or _VERSION_LIKE.match(alias):
        raise InvalidParameterError(
            f"alias {alias!r} for registered model {name!r} is reserved: 'latest' and "
            "version-like names (3, v3) already mean versions in models:/ URIs; pick another"
        )
    return alias
