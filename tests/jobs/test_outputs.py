"""The scoring output's Parquet encodings: dictionaries only where values repeat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pyfunc_ops.jobs.outputs import dictionary_columns, open_parquet_writer
from pyfunc_ops.jobs.scoring import score_files

ROWS = 20_000


def _encodings(path: Path) -> dict[str, set[str]]:
    """Each column path's encodings across the file's row groups."""
    meta = pq.ParquetFile(path).metadata
    out: dict[str, set[str]] = {}
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            column = meta.row_group(g).column(c)
            out.setdefault(column.path_in_schema, set()).update(column.encodings)
    return out


def _has_dictionary(encodings: set[str]) -> bool:
    return bool(encodings & {"PLAIN_DICTIONARY", "RLE_DICTIONARY"})


def test_only_repeating_and_nested_columns_get_a_dictionary() -> None:
    ids = np.arange(ROWS)
    table = pa.table(
        {
            "id": ids,
            "prediction": np.random.default_rng(0).standard_normal(ROWS),
            "label": ids % 3,
            "city": pa.array(["paris", "rome"] * (ROWS // 2)),
            "tags": pa.array([["a"]] * ROWS),
            "code": pa.array(["x", "y"] * (ROWS // 2)).dictionary_encode(),
        }
    )
    assert dictionary_columns(table) == ["label", "city", "tags.list.element", "code"]


def test_an_empty_first_batch_keeps_the_default() -> None:
    table = pa.table({"prediction": pa.array([], pa.float64())})
    assert dictionary_columns(table) == ["prediction"]


def test_written_file_has_the_chosen_encodings_and_the_same_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    table = pa.table({"score": rng.standard_normal(ROWS), "flag": rng.integers(0, 2, ROWS)})
    target = tmp_path / "out.parquet"
    writer = open_parquet_writer(str(target), table)
    writer.write_table(table)
    writer.write_table(table)
    writer.close()
    encodings = _encodings(target)
    assert not _has_dictionary(encodings["score"])
    assert _has_dictionary(encodings["flag"])
    assert pq.read_table(target).equals(pa.concat_tables([table, table]))


def test_score_files_writes_predictions_and_keys_plainly(tmp_path: Path) -> None:
    """Dictionary-encoding unique ids and float predictions cost more than the rest of
    writing them (see jobs/outputs.py); a repeating kept column keeps its dictionary."""

    class Model:
        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return frame["a"].to_numpy() * 0.5

    ids = np.arange(ROWS)
    data = pd.DataFrame({"id": ids, "a": ids * 1.0, "city": np.where(ids % 2, "paris", "rome")})
    pq.write_table(pa.Table.from_pandas(data, preserve_index=False), tmp_path / "in.parquet")
    out = tmp_path / "out.parquet"
    score_files(
        "unused",
        str(tmp_path / "in.parquet"),
        str(out),
        model=Model(),
        key_column="id",
        keep_columns=["city"],
        columns=["a"],
        batch_size=5_000,
    )
    encodings = _encodings(out)
    assert not _has_dictionary(encodings["id"])
    assert not _has_dictionary(encodings["prediction"])
    assert _has_dictionary(encodings["city"])
    written = pd.read_parquet(out)
    assert list(written.columns) == ["id", "city", "prediction"]
    assert written["id"].tolist() == ids.tolist()
    assert np.allclose(written["prediction"], ids * 0.5)
