"""Wording for "not found" errors: what does exist, closest first.

A registry lookup usually fails because of a typo or a stale version number, so the error
lists the candidates that do exist (capped, so a registry with thousands of models still
gives a readable message).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

from pyfunc_ops.errors import ResourceNotFoundError

MAX_LISTED = 10


def closest(wanted: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` candidates that look like ``wanted``."""
    return difflib.get_close_matches(wanted, list(candidates), n=n, cutoff=0.5)


def listing(items: Sequence[str], empty: str, limit: int = MAX_LISTED) -> str:
    """``"a, b, c"``, ``"a, b, ... (25 in all)"`` or ``empty`` when there are none."""
    if not items:
        return empty
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown}, ... ({len(items)} in all)"


def ranked(wanted: str, candidates: Sequence[str]) -> list[str]:
    """``candidates`` with the closest matches to ``wanted`` moved to the front."""
    near = closest(wanted, candidates)
    return near + [c for c in candidates if c not in near]


# The registry's "not found" errors, worded once for every store (SQL and REST).


def model_not_found(name: str, names: Sequence[str]) -> ResourceNotFoundError:
    """No registered model ``name``; ``names`` are the ones that exist."""
    listed = listing(ranked(name, names), "none yet")
    return ResourceNotFoundError(
        f"registered model {name!r} does not exist; registered models: {listed}. "
        f"Create it with create_registered_model({name!r}) or register_model(...)"
    )


def version_not_found(name: str, version: int, numbers: Sequence[int]) -> ResourceNotFoundError:
    """No version ``version`` of ``name``; ``numbers`` (sorted) are the ones that exist."""
    if not numbers:
        existing = "it has no versions yet; register one with create_model_version"
    else:
        shown = listing([str(n) for n in numbers], "", limit=20)
        existing = f"versions that exist: {shown} (latest {numbers[-1]})"
    return ResourceNotFoundError(f"registered model {name!r} has no version {version}; {existing}")


def alias_not_found(name: str, alias: str, existing: Mapping[str, int]) -> ResourceNotFoundError:
    """No alias ``alias`` on ``name``; ``existing`` maps its aliases to versions."""
    if existing:
        ordered = ranked(alias, sorted(existing))
        known = "aliases: " + listing([f"{a} -> v{existing[a]}" for a in ordered], "")
    else:
        known = (
            f"it has no aliases; set one with set_registered_model_alias({name!r}, "
            f"{alias!r}, <version>)"
        )
    return ResourceNotFoundError(f"registered model {name!r} has no alias {alias!r}; {known}")
