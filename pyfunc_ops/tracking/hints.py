"""Wording for "not found" errors: what does exist, closest first.

A registry lookup usually fails because of a typo or a stale version number, so the error
lists the candidates that do exist (capped, so a registry with thousands of models still
gives a readable message).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

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
