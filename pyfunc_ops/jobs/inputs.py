"""The input of a batch scoring job: which files a file, folder or glob URL names, and
their format (from the file names, or as given).

Shared by the scoring job (:mod:`pyfunc_ops.jobs.scoring`) and the fan-out check
(:mod:`pyfunc_ops.jobs.parts`), which both need to expand an input URL the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyfunc_ops.errors import InputNotFoundError, InvalidParameterError

if TYPE_CHECKING:
    import fsspec

__all__ = ["FORMATS", "FORMAT_NAMES", "SUFFIXES", "list_input_files"]

FORMATS = ("parquet", "csv", "json")
FORMAT_NAMES = {"parquet": "Parquet", "csv": "CSV", "json": "JSON-lines"}
SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".csv.gz": "csv",
    ".csv.bz2": "csv",
    ".csv.zst": "csv",
    # "json" means JSON lines: one object per line, the only JSON that streams.
    ".jsonl": "json",
    ".jsonl.gz": "json",
    ".ndjson": "json",
    ".json": "json",
    ".json.gz": "json",
}
_GLOB_CHARS = frozenset("*?[")


# -- input discovery ---------------------------------------------------------------------


def _format_of(path: str) -> str | None:
    lower = path.lower()
    for suffix, fmt in SUFFIXES.items():
        if lower.endswith(suffix):
            return fmt
    return None


def _is_data_file(path: str) -> bool:
    # Spark and Hadoop leave _SUCCESS, .crc and similar markers beside the data.
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return not name.startswith(("_", "."))


def list_input_files(
    input_url: str, input_format: str | None = None
) -> tuple[fsspec.AbstractFileSystem, list[str], str]:
    """The filesystem, the sorted data files and their format for a file/folder/glob URL."""
    from pyfunc_ops.storage.filesystem import get_filesystem

    if input_format is not None and input_format not in FORMATS:
        raise InvalidParameterError(
            f"input_format {input_format!r} is not supported; use one of {list(FORMATS)} "
            "or None to infer it from the file names."
        )
    fs, path = get_filesystem(str(input_url))
    if _GLOB_CHARS & set(path):
        candidates = [p for p in fs.glob(path) if fs.isfile(p)]
    elif fs.isdir(path):
        candidates = [p for p in fs.find(path) if _is_data_file(p)]
        if input_format is None:
            candidates = [p for p in candidates if _format_of(p)]
    elif fs.isfile(path):
        candidates = [path]
    else:
        raise InputNotFoundError(
            f"scoring input {input_url!r} does not exist; give an existing file, a folder "
            "of Parquet/CSV/JSON-lines files or a glob such as 'data/*.parquet'."
        )
    files = sorted(candidates)
    if not files:
        raise InputNotFoundError(
            f"scoring input {input_url!r} matches no Parquet or CSV (or JSON-lines) files; "
            "check the path (files must end in .parquet/.pq/.csv/.jsonl/.json) or pass "
            "input_format."
        )
    if input_format is not None:
        return fs, files, input_format
    formats = {_format_of(p) for p in files}
    if None in formats:
        unknown = next(p for p in files if _format_of(p) is None)
        raise InvalidParameterError(
            f"cannot tell the format of {unknown!r} from its name; pass "
            "input_format='parquet', 'csv' or 'json' (JSON lines)."
        )
    if len(formats) > 1:
        mixed = [FORMAT_NAMES[f] for f in FORMATS if f in formats]
        raise InvalidParameterError(
            f"scoring input {input_url!r} mixes {' and '.join(mixed)} files; score them "
            "separately or narrow the input with a glob."
        )
    return fs, files, str(formats.pop())
