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
    with pytest.raises(
        InvalidParameterError,
        match=r"model input columns \['zz'\] are not in .*; fix columns \(or leave it unset "
        r"to pass every input column\)",
    ):
        score_files("m", src, out, columns=["a", "zz"], model=Recorder())

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
    """A skops model from an untrusted source whose types need trust scores only with the
    caller's skops_trusted_types (the model file cannot widen them), through the job and
    the CLI; from a trusted local path the types the model records count."""
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
    from pyfunc_ops.storage.transfer import upload_tree

    url = f"memory://hgb-{tmp_path.name}"
    upload_tree(model, url)
    with pytest.raises(SerializationError, match="skops_trusted_types"):
        score_files(url, str(tmp_path / "in"), str(tmp_path / "no.parquet"))
    score_files(url, str(tmp_path / "in"), str(tmp_path / "o.parquet"), skops_trusted_types=types)
    expected = est.predict(frame)
    assert pd.read_parquet(tmp_path / "o.parquet").iloc[:, 0].tolist() == list(expected)
    score_files(str(model), str(tmp_path / "in"), str(tmp_path / "local.parquet"))
    assert pd.read_parquet(tmp_path / "local.parquet").iloc[:, 0].tolist() == list(expected)
    argv = ["predict", "-m", url, "-i", str(tmp_path / "in"), "-o"]
    assert main([*argv, str(tmp_path / "cli.parquet"), "--skops-trusted-types", *types]) == 0
    assert pd.read_parquet(tmp_path / "cli.parquet").iloc[:, 0].tolist() == list(expected)


# -- the pipelined job (reader and writer threads) -----------------------------------------


def _mixed_input(folder: Path) -> None:
    """Three files, row groups not aligned with the batches, one empty file."""
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i, rows in enumerate((1_234, 0, 2_501)):
        frame = pd.DataFrame(
            {
                "id": np.arange(rows) + 10_000 * i,
                "a": rng.standard_normal(rows),
                "b": rng.standard_normal(rows),
                "tag": [f"t{j % 7}" for j in range(rows)],
            }
        )
        pq.write_table(pa.Table.from_pandas(frame), folder / f"f{i}.parquet", row_group_size=333)


class Slow(Recorder):
    """A model whose predict takes a little time, so the threads really interleave."""

    def predict(self, df: pd.DataFrame) -> Any:
        import time

        time.sleep(0.001)
        return pd.DataFrame({"y": super().predict(df), "z": df["a"] * df["b"]})


def test_pipelined_output_is_the_sequential_output(tmp_path: Path) -> None:
    from pyfunc_ops.jobs.request import make_request
    from pyfunc_ops.jobs.scoring import ScoreFilesRequest, run_score_files

    _mixed_input(tmp_path / "in")
    outputs = {}
    for pipelined in (False, True):
        out = tmp_path / f"out-{pipelined}.parquet"
        request = make_request(
            ScoreFilesRequest,
            "test",
            {
                "model_uri": "unused",
                "input_url": str(tmp_path / "in"),
                "output_url": str(out),
                "batch_size": 100,
                "key_column": "id",
                "keep_columns": ["tag"],
                "columns": ["a", "b"],
            },
        )
        result = run_score_files(request, model=Slow(), pipelined=pipelined)
        outputs[pipelined] = (result.to_dict(), out.read_bytes(), pq.read_table(out))
    (seq_result, seq_bytes, seq_table), (pip_result, pip_bytes, pip_table) = (
        outputs[False],
        outputs[True],
    )
    assert pip_table.equals(seq_table)
    assert pip_table.column_names == ["id", "tag", "y", "z"]
    assert pip_table.column("id").to_pylist()[:3] == [0, 1, 2]
    assert pip_table.num_rows == 1_234 + 2_501
    assert pip_bytes == seq_bytes  # the same row groups, the same bytes
    assert {k: v for k, v in pip_result.items() if k != "output_uri"} == {
        k: v for k, v in seq_result.items() if k != "output_uri"
    }
    assert pip_result["batches"] == 13 + 26


def test_params_reach_every_predict_call(tmp_path: Path) -> None:
    _write_parts(tmp_path / "in", parts=2, rows=10, row_group=10)
    seen: list[Any] = []

    class WithParams:
        def predict(self, df: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
            seen.append(params)
            return df["a"].to_numpy() * (params or {}).get("scale", 1)

    out = str(tmp_path / "o.parquet")
    score_files(
        "m", str(tmp_path / "in"), out, batch_size=4, params={"scale": 3}, model=WithParams()
    )
    assert seen == [{"scale": 3}] * 6  # 3 batches per file
    assert pd.read_parquet(out)["prediction"].tolist() == [3.0 * i for i in range(20)]
    seen.clear()
    score_files("m", str(tmp_path / "in"), out, model=WithParams())
    assert seen == [None, None]
    # A model without params still works when none are given (Recorder.predict(df)).
    score_files("m", str(tmp_path / "in"), out, model=Recorder())
    with pytest.raises(InvalidParameterError, match="params must be a mapping"):
        score_files("m", str(tmp_path / "in"), out, params=[1, 2], model=WithParams())


def test_real_model_gets_params(tmp_path: Path, scaled_model: Path) -> None:
    """Through ``PyFuncModel.predict(frame, params=...)`` to a PythonModel."""
    _write_parts(tmp_path / "in", parts=1, rows=5, row_group=5)
    out = str(tmp_path / "o.parquet")
    score_files(str(scaled_model), str(tmp_path / "in"), out, params={"scale": 2.0})
    assert pd.read_parquet(out)["prediction"].tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_reader_error_reaches_the_caller_and_nothing_is_left(tmp_path: Path) -> None:
    from pyfunc_ops.errors import SerializationError

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("a,b\n" + "1,2\n" * 50)
    (tmp_path / "in" / "b.csv").write_text("a,b\n1,2\n3\n")  # a short row: Arrow refuses it
    with pytest.raises(SerializationError, match=r"cannot read scoring input .*b\.csv' as CSV"):
        score_files(
            "m", str(tmp_path / "in"), str(tmp_path / "o.parquet"), batch_size=10, model=Recorder()
        )
    assert not list(tmp_path.glob("o.parquet*"))


def test_writer_error_reaches_the_caller_and_nothing_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_parts(tmp_path / "in", parts=2, rows=100, row_group=50)
    calls = {"n": 0}
    original = pq.ParquetWriter.write_table

    def failing(self: pq.ParquetWriter, table: pa.Table, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("No space left on device (writing batch 3)")
        original(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    with pytest.raises(OSError, match=r"No space left on device \(writing batch 3\)"):
        score_files(
            "m", str(tmp_path / "in"), str(tmp_path / "o.parquet"), batch_size=20, model=Recorder()
        )
    assert not list(tmp_path.glob("o.parquet*"))


_RSS_CHILD = """
import json, resource, sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
from pyfunc_ops.jobs.scoring import score_files
rows, folder = int(sys.argv[1]), sys.argv[2]
for i in range(4):  # written in slices, so writing does not hold the input either
    part = pq.ParquetWriter(f"{folder}/in/p{i}.parquet", pa.schema(
        [("id", pa.int64())] + [(f"x{j}", pa.float64()) for j in range(8)]))
    for start in range(0, rows // 4, 50_000):
        n = min(50_000, rows // 4 - start)
        cols = {"id": np.arange(n)} | {f"x{j}": np.random.rand(n) for j in range(8)}
        part.write_table(pa.table(cols), row_group_size=50_000)
    part.close()
class M:
    def predict(self, df):
        return df.sum(axis=1).to_numpy()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
pool = pa.default_memory_pool().max_memory()
score_files("m", f"{folder}/in", f"{folder}/out.parquet", batch_size=20_000, key_column="id",
            columns=[f"x{j}" for j in range(8)], model=M())
print(json.dumps({"rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base,
                  "arrow": pa.default_memory_pool().max_memory() - pool}))
"""


def test_peak_memory_does_not_grow_with_input_size_rss(tmp_path: Path) -> None:
    """Peak RSS and Arrow's own peak (which tracemalloc does not see) of a fresh process
    scoring 160,000 and 1,280,000 rows (9 columns: 11.5 MB and 92 MB of input)."""
    import json
    import subprocess
    import sys

    peaks = {}
    for rows in (160_000, 1_280_000):
        folder = tmp_path / str(rows)
        (folder / "in").mkdir(parents=True)
        out = subprocess.run(
            [sys.executable, "-c", _RSS_CHILD, str(rows), str(folder)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        peaks[rows] = json.loads(out.strip().splitlines()[-1])
    small, large = peaks[160_000], peaks[1_280_000]
    # Holding the larger input (or its output) whole would add 80 MB or more.
    assert large["arrow"] < small["arrow"] + 8 * 2**20, peaks
    assert large["rss_kb"] < small["rss_kb"] + 30 * 1024, peaks


class Columns:
    """A model that records the columns it receives."""

    def __init__(self) -> None:
        self.columns: list[list[str]] = []

    def predict(self, df: pd.DataFrame) -> Any:
        self.columns.append(list(df.columns))
        return np.zeros(len(df))


def test_key_column_never_reaches_the_model_unless_listed(tmp_path: Path) -> None:
    _write_parts(tmp_path / "in", parts=1, rows=10, row_group=10)
    model = Columns()
    out = tmp_path / "o.parquet"
    score_files("m", str(tmp_path / "in"), str(out), key_column="id", model=model)
    assert model.columns == [["a", "b"]]
    assert pd.read_parquet(out).columns.tolist() == ["id", "prediction"]
    listed = Columns()
    score_files(
        "m", str(tmp_path / "in"), str(out), key_column="id", columns=["id", "a"], model=listed
    )
    assert listed.columns == [["id", "a"]]
