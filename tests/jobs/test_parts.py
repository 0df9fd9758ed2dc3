"""Fan-out output: one part per input file, a manifest per call, check_parts over all."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pyfunc_ops.errors import IntegrityError, InvalidParameterError
from pyfunc_ops.jobs.parts import IncompletePartsError, check_parts, input_stem, part_name
from pyfunc_ops.jobs.scoring import score_files


class Double:
    def predict(self, df: pd.DataFrame) -> Any:
        return (2 * df["a"]).to_numpy()


def _inputs(folder: Path, sizes: dict[str, int]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    start = 0
    for name, rows in sizes.items():
        ids = np.arange(start, start + rows)
        start += rows
        path = folder / f"{name}.parquet"
        pq.write_table(pa.table({"id": ids, "a": ids * 1.0}), path, row_group_size=7)
        paths.append(str(path))
    return paths


def test_one_part_per_input_and_a_manifest(tmp_path: Path) -> None:
    _inputs(tmp_path / "in", {"day-1": 20, "day-2": 0, "day-3": 31})
    out = tmp_path / "out"
    result = score_files(
        "models:/m/3",
        str(tmp_path / "in"),
        str(out),
        batch_size=8,
        key_column="id",
        output_mode="parts",
        model=Double(),
    )
    names = sorted(p.name for p in out.iterdir())
    manifest_file = next(n for n in names if n.startswith("_manifest-"))
    assert names == sorted(
        [
            "part-00000-day-1.parquet",
            "part-00001-day-2.parquet",
            "part-00002-day-3.parquet",
            manifest_file,
        ]
    )  # no temporary files left
    manifest = json.loads((out / manifest_file).read_text())
    assert manifest["model_uri"] == "models:/m/3"
    assert manifest["rows"] == 51 == result.rows_out
    assert [(p["part"], p["rows"]) for p in manifest["parts"]] == [
        ("part-00000-day-1.parquet", 20),
        ("part-00001-day-2.parquet", 0),
        ("part-00002-day-3.parquet", 31),
    ]
    for part in manifest["parts"]:
        data = (out / part["part"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == part["sha256"]
        assert Path(part["input"]).stem == part["part"][len("part-00000-") : -len(".parquet")]
    day3 = pd.read_parquet(out / "part-00002-day-3.parquet")
    assert day3["id"].tolist() == list(range(20, 51))
    assert day3["prediction"].tolist() == [2.0 * i for i in range(20, 51)]
    # The empty input's part has the output's columns, so the folder reads as one dataset.
    assert pq.read_schema(out / "part-00001-day-2.parquet").names == ["id", "prediction"]
    assert pd.read_parquet(out)["id"].tolist() == list(range(51))
    assert result.output_uri == str(out)
    assert result.manifest == str(out / manifest_file)
    assert result.to_dict()["parts"] == manifest["parts"]
    checked = check_parts(str(out), expected_inputs=str(tmp_path / "in"), verify_digests=True)
    assert checked["rows"] == 51
    assert checked["model_uri"] == "models:/m/3"
    assert checked["manifests"] == [manifest_file]


def test_fan_out_calls_share_a_folder(tmp_path: Path) -> None:
    """One call per input group (as mapped Airflow tasks do): separate manifests, merged
    by check_parts; a rerun of one group replaces its own manifest only."""
    files = _inputs(tmp_path / "in", {f"f{i}": 5 + i for i in range(5)})
    groups = [files[:2], files[2:4], files[4:]]
    out = str(tmp_path / "out")
    # Each group in a folder of its own (a list of files, a glob or a folder all work).
    for g, group in enumerate(groups):
        folder = tmp_path / f"group-{g}"
        folder.mkdir()
        for f in group:
            (folder / Path(f).name).write_bytes(Path(f).read_bytes())
        score_files("models:/m/1", str(folder), out, output_mode="parts", model=Double())
    manifests = sorted(p.name for p in Path(out).glob("_manifest-*.json"))
    assert len(manifests) == 3
    checked = check_parts(out)
    assert checked["rows"] == sum(5 + i for i in range(5))
    assert sorted(checked["manifests"]) == manifests
    # Parts are named by the input file: index within the group, then the stem.
    assert [p["part"] for p in checked["parts"]] == [
        "part-00000-f0.parquet",
        "part-00000-f2.parquet",
        "part-00000-f4.parquet",
        "part-00001-f1.parquet",
        "part-00001-f3.parquet",
    ]
    expected = [
        str(tmp_path / f"group-{g}" / Path(f).name) for g, gr in enumerate(groups) for f in gr
    ]
    assert check_parts(out, expected_inputs=expected)["rows"] == checked["rows"]
    # A rerun of group 1 rewrites its parts and its manifest, nothing else.
    score_files("models:/m/1", str(tmp_path / "group-1"), out, output_mode="parts", model=Double())
    assert sorted(p.name for p in Path(out).glob("_manifest-*.json")) == manifests

    with pytest.raises(IncompletePartsError, match=r"1 expected input\(s\) have no part .*extra"):
        check_parts(out, expected_inputs=[*expected, str(tmp_path / "extra.parquet")])


def test_check_parts_names_what_is_missing_or_wrong(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(IncompletePartsError, match=r"no manifest \(_manifest-\*\.json\) in"):
        check_parts(str(out))
    _inputs(tmp_path / "in", {"a": 4, "b": 6})
    score_files("m1", str(tmp_path / "in"), str(out), output_mode="parts", model=Double())
    (out / "part-00001-b.parquet").rename(tmp_path / "b-away.parquet")
    with pytest.raises(
        IncompletePartsError,
        match=r"1 part\(s\) .* missing: \['part-00001-b.parquet \(of .*b\.parquet",
    ) as info:
        check_parts(str(out))
    assert isinstance(info.value, FileNotFoundError)
    pq.write_table(pa.table({"prediction": [1.0]}), out / "part-00001-b.parquet")
    with pytest.raises(IntegrityError, match=r"'part-00001-b.parquet' .* has 1 rows, but .* 6"):
        check_parts(str(out))
    (tmp_path / "b-away.parquet").rename(out / "part-00001-b.parquet")
    assert check_parts(str(out))["rows"] == 10

    # Another model's manifest in the same folder: the folder mixes runs.
    other = tmp_path / "other"
    _inputs(other, {"c": 2})
    score_files("m2", str(other), str(out), output_mode="parts", model=Double())
    with pytest.raises(IntegrityError, match=r"name different models \['m1', 'm2'\]"):
        check_parts(str(out))


def test_digest_check_and_conflicting_part_names(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _inputs(tmp_path / "x", {"same": 3})
    _inputs(tmp_path / "y", {"same": 4})
    score_files("m", str(tmp_path / "x"), str(out), output_mode="parts", model=Double())
    # Another group whose first file has the same stem would claim the same part name.
    with pytest.raises(
        InvalidParameterError, match=r"'part-00000-same.parquet' .* already claimed"
    ):
        score_files("m", str(tmp_path / "y"), str(out), output_mode="parts", model=Double())
    assert check_parts(str(out))["rows"] == 3  # the refused call wrote nothing
    part = out / "part-00000-same.parquet"
    table = pq.read_table(part)
    pq.write_table(table, part, compression="gzip")  # same rows, other bytes
    assert check_parts(str(out))["rows"] == 3
    with pytest.raises(IntegrityError, match=r"has SHA-256 .* but .* records"):
        check_parts(str(out), verify_digests=True)


def test_a_failed_call_publishes_whole_parts_only_and_no_manifest(tmp_path: Path) -> None:
    _inputs(tmp_path / "in", {"a": 10, "b": 10})
    out = tmp_path / "out"
    score_files("m", str(tmp_path / "in"), str(out), output_mode="parts", model=Double())

    class FailsOnB:
        def predict(self, df: pd.DataFrame) -> Any:
            if df["id"].iloc[0] >= 10:
                raise RuntimeError("model failed on the rows of b")
            return df["a"].to_numpy()

    with pytest.raises(RuntimeError, match="model failed on the rows of b"):
        score_files(
            "m", str(tmp_path / "in"), str(out), output_mode="parts", batch_size=4, model=FailsOnB()
        )
    left = sorted(p.name for p in out.iterdir())
    # The rerun removed its old manifest first; part a is whole, b's temporary file is gone.
    assert left == ["part-00000-a.parquet", "part-00001-b.parquet"]
    with pytest.raises(IncompletePartsError, match="no manifest"):
        check_parts(str(out))


def test_parts_mode_refuses_a_file_and_bad_modes(tmp_path: Path) -> None:
    _inputs(tmp_path / "in", {"a": 2})
    (tmp_path / "file.parquet").write_bytes(b"x")
    with pytest.raises(InvalidParameterError, match="writes a folder of part files, but"):
        score_files(
            "m",
            str(tmp_path / "in"),
            str(tmp_path / "file.parquet"),
            output_mode="parts",
            model=Double(),
        )
    with pytest.raises(
        InvalidParameterError, match=r"output_mode must be one of \['file', 'parts'\]"
    ):
        score_files(
            "m", str(tmp_path / "in"), str(tmp_path / "o"), output_mode="folder", model=Double()
        )


def test_memory_url_parts(tmp_path: Path) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    for i in range(2):
        with fs.open(f"/fan-in/d{i}.parquet", "wb") as fh:
            pq.write_table(pa.table({"a": [1.0, 2.0, 3.0]}), fh)
    result = score_files(
        "m", "memory://fan-in", "memory://fan-out/", output_mode="parts", model=Double()
    )
    assert result.output_uri.startswith("memory://")
    assert [p["input"] for p in result.parts] == [
        fs.unstrip_protocol(f"/fan-in/d{i}.parquet") for i in range(2)
    ]
    checked = check_parts("memory://fan-out", expected_inputs="memory://fan-in")
    assert checked["rows"] == 6


def test_names() -> None:
    assert input_stem("s3://b/in/day-3.csv.gz") == "day-3"
    assert input_stem("/x/part.snappy.parquet") == "part.snappy"
    assert input_stem("/x/data") == "data"
    assert part_name(12, "/x/a.jsonl") == "part-00012-a.parquet"


def test_cli_params_and_output_mode(tmp_path: Path, scaled_model: Path) -> None:
    from pyfunc_ops.cli import main

    _inputs(tmp_path / "in", {"a": 3, "b": 2})
    argv = ["predict", "-m", str(scaled_model), "-i", str(tmp_path / "in"), "--columns", "a"]
    out = tmp_path / "out"
    assert main([*argv, "-o", str(out), "--params", '{"scale": 10}', "--output-mode", "parts"]) == 0
    assert check_parts(str(out))["rows"] == 5
    assert pd.read_parquet(out / "part-00001-b.parquet")["prediction"].tolist() == [30.0, 40.0]


@pytest.mark.parametrize(
    ("value", "message"),
    [("{bad", "not valid JSON"), ("[1, 2]", "must be a JSON object .* got list")],
)
def test_cli_refuses_bad_params(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    from pyfunc_ops.cli import main

    with pytest.raises(SystemExit) as info:
        main(["predict", "-m", "m", "-i", "i", "-o", "o", "--params", value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --params" in err
    assert re.search(message, err), err
