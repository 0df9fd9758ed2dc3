"""Batch scoring: streaming input, bounded batches, output columns, atomic output."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pyfunc_ops.errors import InputNotFoundError, InvalidParameterError, ResultTypeError
from pyfunc_ops.jobs.scoring import list_input_files, predictions_frame, rebatch, score_files


class Recorder:
    """A model that records the size of every batch it sees: y = 2a + b."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def predict(self, df: pd.DataFrame) -> Any:
        self.sizes.append(len(df))
        return (2 * df["a"] + df["b"]).to_numpy()


def _write_parts(folder: Path, parts: int, rows: int, row_group: int) -> pd.DataFrame:
    folder.mkdir(parents=True)
    frames = []
    for i in range(parts):
        ids = np.arange(i * rows, (i + 1) * rows)
        frame = pd.DataFrame({"id": ids, "a": ids * 1.0, "b": np.ones(rows)})
        pq.write_table(
            pa.Table.from_pandas(frame), folder / f"part-{i}.parquet", row_group_size=row_group
        )
        frames.append(frame)
    (folder / "_SUCCESS").write_text("")
    return pd.concat(frames, ignore_index=True)


def test_folder_of_parquet_scored_in_bounded_batches(tmp_path: Path) -> None:
    data = _write_parts(tmp_path / "in", parts=3, rows=1000, row_group=300)
    model = Recorder()
    result = score_files(
        "unused",
        str(tmp_path / "in"),
        str(tmp_path / "out.parquet"),
        batch_size=256,
        key_column="id",
        model=model,
    )
    assert max(model.sizes) <= 256
    assert sum(model.sizes) == 3000
    assert len(model.sizes) > 3  # really batched, not one call per file
    assert (result.rows_in, result.rows_out) == (3000, 3000)
    assert [Path(f).name for f in result.files] == [
        "part-0.parquet",
        "part-1.parquet",
        "part-2.parquet",
    ]
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out.columns) == ["id", "prediction"]
    np.testing.assert_allclose(out["prediction"], 2 * data["a"] + data["b"])
    assert out["id"].tolist() == data["id"].tolist()
    assert not list(tmp_path.glob("out.parquet.tmp-*"))


def _peak_scoring(tmp_path: Path, rows: int) -> int:
    frame = pd.DataFrame({"a": np.arange(rows, dtype="float64"), "b": np.ones(rows)})
    path = tmp_path / f"big-{rows}.parquet"
    pq.write_table(pa.Table.from_pandas(frame), path, row_group_size=20_000)
    del frame
    model = Recorder()
    tracemalloc.start()
    try:
        score_files(
            "unused", str(path), str(tmp_path / f"o-{rows}.parquet"), batch_size=5_000, model=model
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert max(model.sizes) == 5_000 and sum(model.sizes) == rows
    return peak


def test_memory_does_not_grow_with_input_size(tmp_path: Path) -> None:
    _peak_scoring(tmp_path, 20_000)  # warm-up: first-use imports and caches
    small = _peak_scoring(tmp_path, 100_000)
    large = _peak_scoring(tmp_path, 800_000)  # 12.8 MB of input columns
    # Reading it whole would add ~11 MB; streaming keeps the peak where it was (one row
    # group of 320 kB and one batch).
    assert large < small + 1_000_000, (small, large)
    assert large < 800_000 * 16 / 4


def test_csv_glob_keep_all_and_dataframe_output(tmp_path: Path) -> None:
    for i in range(2):
        pd.DataFrame({"a": [i, i + 1, i + 2], "b": [1, 1, 1]}).to_csv(
            tmp_path / f"x{i}.csv", index=False
        )

    class Frame:
        def predict(self, df: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame({"low": df["a"] - 1, "high": df["a"] + 1})

    result = score_files(
        "unused",
        str(tmp_path / "x*.csv"),
        str(tmp_path / "out") + "/",
        batch_size=2,
        keep_columns="all",
        model=Frame(),
    )
    assert result.output_uri == str(tmp_path / "out" / "predictions.parquet")
    out = pd.read_parquet(result.output_uri)
    assert list(out.columns) == ["a", "b", "low", "high"]
    assert out["high"].tolist() == [1, 2, 3, 2, 3, 4]
    assert result.batches == 4  # 2 + 1 rows per file


def test_loads_model_once_from_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyfunc_ops.pyfunc.load as load

    calls: list[tuple[str, str]] = []
    trusts: list[bool | None] = []

    def fake_load(
        uri: str,
        env_manager: str = "local",
        trust_remote_code: bool | None = None,
        skops_trusted_types: Any = None,
    ) -> Recorder:
        calls.append((uri, env_manager))
        trusts.append(trust_remote_code)
        return Recorder()

    monkeypatch.setattr(load, "load_model", fake_load)
    _write_parts(tmp_path / "in", parts=2, rows=50, row_group=10)
    score_files(
        "models:/m/1",
        str(tmp_path / "in"),
        str(tmp_path / "o.parquet"),
        batch_size=7,
        env_manager="virtualenv",
    )
    assert calls == [("models:/m/1", "virtualenv")]
    score_files(
        "models:/m/1", str(tmp_path / "in"), str(tmp_path / "o2.parquet"), trust_remote_code=True
    )
    assert trusts == [None, True]  # None: the settings decide, in load_model


def test_memory_url_and_2d_predictions(tmp_path: Path) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("/score-in/d.parquet", "wb") as fh:
        pq.write_table(pa.table({"a": [1.0, 2.0, 3.0]}), fh)

    class Proba:
        def predict(self, df: pd.DataFrame) -> np.ndarray:
            return np.column_stack([df["a"], -df["a"]])

    result = score_files(
        "unused", "memory://score-in", "memory://score-out/p.parquet", model=Proba()
    )
    with fs.open("/score-out/p.parquet", "rb") as fh:
        out = pd.read_parquet(fh)
    assert list(out.columns) == ["prediction_0", "prediction_1"]
    assert out["prediction_1"].tolist() == [-1.0, -2.0, -3.0]
    assert result.output_uri.startswith("memory://")
    with fsspec.open(result.output_uri, "rb") as fh:  # the returned URI is usable as is
        assert len(pd.read_parquet(fh)) == 3


def test_errors(tmp_path: Path) -> None:
    _write_parts(tmp_path / "in", parts=1, rows=5, row_group=5)
    src, out = str(tmp_path / "in"), str(tmp_path / "o.parquet")
    with pytest.raises(InputNotFoundError, match="does not exist"):
        score_files("m", str(tmp_path / "nope"), out, model=Recorder())
    with pytest.raises(InputNotFoundError, match="matches no Parquet or CSV"):
        score_files("m", str(tmp_path / "in" / "*.csv"), out, model=Recorder())
    with pytest.raises(InvalidParameterError, match="batch_size must be a positive"):
        score_files("m", src, out, batch_size=0, model=Recorder())
    with pytest.raises(InvalidParameterError, match=r"columns \['zz'\] to keep"):
        score_files("m", src, out, keep_columns=["zz"], model=Recorder())
    with pytest.raises(InvalidParameterError, match="input_format 'xml' is not supported"):
        score_files("m", src, out, input_format="xml", model=Recorder())

    class Short:
        def predict(self, df: pd.DataFrame) -> np.ndarray:
            return np.zeros(len(df) - 1)

    with pytest.raises(ResultTypeError, match="returned 4 predictions for a batch of 5 rows"):
        score_files("m", src, out, model=Short())
    assert not list(tmp_path.glob("o.parquet*"))  # nothing half-written left behind

    class Clash:
        def predict(self, df: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame({"a": df["a"]})

    with pytest.raises(InvalidParameterError, match=r"prediction columns \['a'\]"):
        score_files("m", src, out, keep_columns="all", model=Clash())

    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "a.csv").write_text("a\n1\n")
    pq.write_table(pa.table({"a": [1]}), tmp_path / "mixed" / "b.parquet")
    with pytest.raises(InvalidParameterError, match="mixes Parquet and CSV"):
        list_input_files(str(tmp_path / "mixed"))
    (tmp_path / "data.txt").write_text("a\n1\n")
    with pytest.raises(InvalidParameterError, match="cannot tell the format"):
        list_input_files(str(tmp_path / "data.txt"))
    assert list_input_files(str(tmp_path / "data.txt"), "csv")[2] == "csv"


def test_inconsistent_batches_refused(tmp_path: Path) -> None:
    _write_parts(tmp_path / "in", parts=1, rows=4, row_group=4)

    class Drifting:
        calls = 0

        def predict(self, df: pd.DataFrame) -> pd.DataFrame:
            self.calls += 1
            return pd.DataFrame({"p" if self.calls == 1 else "q": df["a"]})

    with pytest.raises(ResultTypeError, match="batch 2: predictions have the schema"):
        score_files(
            "m", str(tmp_path / "in"), str(tmp_path / "o.parquet"), batch_size=2, model=Drifting()
        )
    assert not list(tmp_path.glob("o.parquet*"))


def test_rebatch_and_predictions_frame() -> None:
    batches = [pa.record_batch({"x": list(range(n))}) for n in (3, 5, 1)]
    assert [t.num_rows for t in rebatch(iter(batches), 4)] == [4, 4, 1]
    assert list(predictions_frame(pd.Series([1, 2]), 2).columns) == ["prediction"]
    with pytest.raises(ResultTypeError, match="3-D"):
        predictions_frame(np.zeros((2, 2, 2)), 2)


def test_skops_types_the_caller_trusts_reach_the_loader(tmp_path: Path) -> None:
    """A skops model whose types need trust scores only with the caller's
    skops_trusted_types (the model file cannot widen them), through the job and the CLI."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    from pyfunc_ops import sklearn as pk
    from pyfunc_ops.cli import main
    from pyfunc_ops.errors import SerializationError

    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    est = HistGradientBoostingRegressor(max_iter=3, min_samples_leaf=1).fit(frame, frame["a"])
    types = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
    model = tmp_path / "hgb"
    pk.save_model(est, model, skops_trusted_types=types)
    (tmp_path / "in").mkdir()
    frame.to_parquet(tmp_path / "in" / "part.parquet")
    with pytest.raises(SerializationError, match="skops_trusted_types"):
        score_files(str(model), str(tmp_path / "in"), str(tmp_path / "no.parquet"))
    score_files(
        str(model), str(tmp_path / "in"), str(tmp_path / "o.parquet"), skops_trusted_types=types
    )
    expected = est.predict(frame)
    assert pd.read_parquet(tmp_path / "o.parquet").iloc[:, 0].tolist() == list(expected)
    argv = ["predict", "-m", str(model), "-i", str(tmp_path / "in"), "-o"]
    assert main([*argv, str(tmp_path / "cli.parquet"), "--skops-trusted-types", *types]) == 0
    assert pd.read_parquet(tmp_path / "cli.parquet").iloc[:, 0].tolist() == list(expected)
