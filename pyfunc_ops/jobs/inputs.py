"""The input of a batch job: which files a file, folder or glob URL names, their format
(from the file names, or as given), reading them as a stream of Arrow batches, and which
of their columns the model gets and the output keeps.

Shared by the scoring jobs (:mod:`pyfunc_ops.jobs.scoring`, :mod:`pyfunc_ops.jobs.spark`),
the evaluation (:mod:`pyfunc_ops.jobs.evaluation`) and the fan-out check
(:mod:`pyfunc_ops.jobs.parts`), which must all read an input the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Literal

from pyfunc_ops.core.oserrors import os_error
from pyfunc_ops.errors import (
    InputNotFoundError,
    InvalidParameterError,
    PyfuncOpsError,
    SerializationError,
)

if TYPE_CHECKING:
    import fsspec
    import pyarrow as pa

__all__ = [
    "FORMATS",
    "FORMAT_NAMES",
    "SUFFIXES",
    "existing_file",
    "is_local_filesystem",
    "kept_columns",
    "list_input_files",
    "model_columns",
    "read_batches",
    "rebatch",
]

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
# Block size of the CSV and JSON readers (bytes): bounds memory together with batch_size.
_CSV_BLOCK_SIZE = 4 << 20


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


def existing_file(url: str, what: str, origin: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and path of the one file ``url`` names, else
    :class:`InputNotFoundError` saying that ``what`` does not exist and where it usually
    comes from (``origin``)."""
    from pyfunc_ops.storage.filesystem import get_filesystem

    fs, path = get_filesystem(str(url))
    if not fs.isfile(path):
        raise InputNotFoundError(
            f"{what} {url!r} does not exist; check the path (typically {origin})."
        )
    return fs, path


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


# -- reading ------------------------------------------------------------------------------


def is_local_filesystem(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether ``fs`` is the local filesystem (its paths are plain OS paths)."""
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def read_batches(
    fs: fsspec.AbstractFileSystem, path: str, fmt: str, batch_size: int
) -> Iterator[pa.RecordBatch]:
    """Stream ``path`` as record batches; unreadable content is the caller's error, so it
    becomes a :class:`SerializationError` naming the file instead of a raw Arrow error."""
    import pyarrow as pa

    try:
        yield from _read_batches_raw(fs, path, fmt, batch_size)
    except PyfuncOpsError:
        raise
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SerializationError(
            f"cannot read scoring input {path!r} as {FORMAT_NAMES[fmt]}: {exc}. Check the "
            "file, or pass the right input_format ('parquet', 'csv' or 'json')."
        ) from exc
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            # The file could not be read at all (gone, permissions, device): storage.
            raise os_error(exc, "read the scoring input", path) from exc
        # Arrow reports a corrupt page or a bad compressed stream as an OSError without
        # an errno (and gzip/zstd as EOFError or ValueError): the content, not the disk.
        raise SerializationError(
            f"cannot read scoring input {path!r} as {FORMAT_NAMES[fmt]}: the file is "
            f"damaged or truncated ({type(exc).__name__}: {exc}). Replace or remove the "
            "file and score again."
        ) from exc


def _read_batches_raw(
    fs: fsspec.AbstractFileSystem, path: str, fmt: str, batch_size: int
) -> Iterator[pa.RecordBatch]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        # A local file is read by Arrow's own file reader: through a Python file object
        # every read would take the GIL, which the reader thread must leave to predict.
        with contextlib.ExitStack() as stack:
            source = path if is_local_filesystem(fs) else stack.enter_context(fs.open(path, "rb"))
            parquet = pq.ParquetFile(source)
            # One row group per call: iter_batches over the whole file pre-buffers every
            # row group's bytes up front, i.e. reads the whole file into memory.
            for group in range(parquet.num_row_groups):
                yield from parquet.iter_batches(batch_size=batch_size, row_groups=[group])
        return
    if fmt == "json":
        import pyarrow.json as pajson

        with fs.open(path, "rb", compression="infer") as fh:
            options = pajson.ReadOptions(block_size=_CSV_BLOCK_SIZE)
            yield from pajson.open_json(fh, read_options=options)
        return
    import pyarrow.csv as pacsv

    with fs.open(path, "rb", compression="infer") as fh:
        reader = pacsv.open_csv(fh, read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK_SIZE))
        yield from reader


def rebatch(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.Table]:
    """Regroup ``batches`` into tables of exactly ``size`` rows (the last one fewer)."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        while batch.num_rows:
            take = min(size - rows, batch.num_rows)
            pending.append(batch.slice(0, take))
            rows += take
            batch = batch.slice(take)
            if rows == size:
                yield pa.Table.from_batches(pending)
                pending, rows = [], 0
    if rows:
        yield pa.Table.from_batches(pending)


# -- columns ------------------------------------------------------------------------------


def kept_columns(
    available: Sequence[str],
    keep_columns: Literal["all"] | Sequence[str] | None,
    key_column: str | None,
) -> list[str]:
    """The input columns copied into the output: ``keep_columns`` (``None``: none,
    ``"all"``, or a list), with ``key_column`` first."""
    if keep_columns == "all":
        wanted = list(available)
    elif keep_columns is None:
        wanted = []
    elif isinstance(keep_columns, str):
        raise InvalidParameterError(
            f"keep_columns={keep_columns!r}: give None, 'all' or a list of column names."
        )
    else:
        wanted = list(keep_columns)
    if key_column is not None:
        wanted = [key_column] + [c for c in wanted if c != key_column]
    missing = [c for c in wanted if c not in available]
    if missing:
        raise InvalidParameterError(
            f"columns {missing} to keep in the output are not in the input, which has "
            f"{list(available)}; fix keep_columns/key_column."
        )
    return wanted


def model_columns(
    available: Sequence[str],
    columns: Sequence[str] | None,
    excluded: str | None,
    path: str,
    default: str = "every input column",
) -> list[str]:
    """The columns the model receives: ``columns`` as given, else every input column but
    ``excluded`` (scoring's key column, an identifier copied to the output; evaluation's
    label column), which ``default`` describes in the message."""
    if columns is None:
        return [c for c in available if c != excluded]
    missing = [c for c in columns if c not in available]
    if missing:
        raise InvalidParameterError(
            f"model input columns {missing} are not in {path!r}, which has {list(available)}; "
            f"fix columns (or leave it unset to pass {default})."
        )
    return list(columns)
