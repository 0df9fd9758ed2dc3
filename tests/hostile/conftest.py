"""The hostile corpus: every case also proves that nothing was written outside its folder.

``outside_unchanged`` (autouse) lists the working directory and the home folder before and
after each test; a refused input must not leave a folder named after a URL, a SQLite file
in a surprising place or anything else behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


def _listing(folder: Path) -> set[str]:
    try:
        return {entry.name for entry in folder.iterdir()}
    except OSError:
        return set()


@pytest.fixture(autouse=True)
def outside_unchanged(tmp_path: Path) -> Iterator[None]:
    places = [Path.cwd(), Path(os.path.expanduser("~"))]
    places = [p for p in places if not str(p).startswith(str(tmp_path))]
    before = {place: _listing(place) for place in places}
    yield
    for place, names in before.items():
        created = _listing(place) - names
        # Caches some libraries create in ~ on first import are not written by our code.
        created = {name for name in created if name not in {".cache", ".config", ".local"}}
        assert not created, f"written outside the test's folder, in {place}: {sorted(created)}"
