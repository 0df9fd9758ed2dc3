"""The Parquet writer of a scoring job's output, with its column encodings chosen once.

Parquet writers dictionary-encode every column by default. For the columns a scoring
job writes most, predictions (floats) and row keys (unique ids), that builds a hash
table of every value of every row group only to find the values do not repeat: it made
encoding the output about three times slower than the rest of writing it, the largest
single cost of scoring a cheap model. :func:`open_parquet_writer` looks at the first
batch instead: a flat column keeps dictionary encoding when at most half of its values
are distinct (labels, categories, flags), otherwise it is written plainly; it counts on
the batch's first rows only (hashing every value cost more than it saves). Nested and
dictionary-typed columns keep the default. The choice changes the file's encoding only,
never its schema or content.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

__all__ = ["dictionary_columns", "open_parquet_writer"]

# A column is worth a dictionary when its first rows repeat values at least this much.
_MAX_DISTINCT_SHARE = 0.5
# How many of the first batch's rows are counted.
_SAMPLE_ROWS = 10_000


def _worth_a_dictionary(column: pa.ChunkedArray) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_nested(kind) or pa.types.is_dictionary(kind) or len(column) == 0:
        return True  # Parquet's default: nothing cheap to measure, nothing to gain
    sample = column.slice(0, _SAMPLE_ROWS)
    try:
        distinct = pc.count_distinct(sample, mode="all").as_py()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return True
    return bool(distinct <= _MAX_DISTINCT_SHARE * len(sample))


def _leaf_paths(schema: pa.Schema) -> list[str]:
    """The Parquet column paths ``schema`` is written as (``a.list.element`` for a list
    column ``a``): what ``use_dictionary`` names. Read from an empty file's metadata, so
    the mapping is Arrow's own."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = pa.BufferOutputStream()
    pq.write_table(schema.empty_table(), buffer)
    metadata = pq.read_metadata(pa.BufferReader(buffer.getvalue()))
    return [metadata.schema.column(i).path for i in range(metadata.num_columns)]


def dictionary_columns(table: pa.Table) -> list[str]:
    """The Parquet column paths of ``table`` to dictionary-encode (see the module)."""
    wanted = [
        name
        for name, column in zip(table.column_names, table.columns, strict=True)
        if _worth_a_dictionary(column)
    ]
    return [
        path
        for path in _leaf_paths(table.schema)
        if any(path == name or path.startswith(name + ".") for name in wanted)
    ]


def open_parquet_writer(
    sink: Any, first: pa.Table, schema: pa.Schema | None = None
) -> pq.ParquetWriter:
    """A ``ParquetWriter`` on ``sink`` (a path or a writable file) for tables like
    ``first`` (with ``schema``, default ``first``'s), its encodings chosen from ``first``."""
    import pyarrow.parquet as pq

    return pq.ParquetWriter(
        sink,
        schema if schema is not None else first.schema,
        use_dictionary=dictionary_columns(first),
    )
