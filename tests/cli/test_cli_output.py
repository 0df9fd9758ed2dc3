"""Output hygiene: nothing writes into an S3 bucket that does not exist (s3fs would create
it), and the refusal names the bucket."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import pyfunc_ops.sklearn as pyfunc_sklearn
from pyfunc_ops.cli import main
from pyfunc_ops.errors import StorageError
from pyfunc_ops.storage.filesystem import get_filesystem
from pyfunc_ops.storage.transfer import upload_tree

X = pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 1.0]})


def _buckets(endpoint: str) -> set[str]:
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)
    return {name.rstrip("/") for name in fs.ls("")}


@pytest.fixture
def typo(s3_server: str) -> str:
    name = f"typo-{uuid.uuid4().hex[:8]}"
    assert name not in _buckets(s3_server)
    return name


def test_makedirs_refuses_a_missing_bucket(s3_server: str, typo: str, s3_bucket: str) -> None:
    fs, path = get_filesystem(f"s3://{typo}/scores/out")
    with pytest.raises(StorageError, match=rf"the bucket '{typo}' does not exist.*never creates"):
        fs.makedirs(path, exist_ok=True)
    with pytest.raises(StorageError, match=f"'{typo}' does not exist"):
        fs.mkdir(typo)
    assert typo not in _buckets(s3_server)
    # An existing bucket is written to as before.
    fs, path = get_filesystem(f"{s3_bucket}/scores/out")
    fs.makedirs(path, exist_ok=True)
    fs.pipe(f"{path}/x.txt", b"x")
    assert fs.cat(f"{path}/x.txt") == b"x"


def test_uploading_a_model_to_a_missing_bucket_creates_nothing(
    s3_server: str, typo: str, tmp_path: Path
) -> None:
    model = tmp_path / "m"
    pyfunc_sklearn.save_model(LinearRegression().fit(X, X["a"]), model)
    with pytest.raises(OSError, match=typo):
        upload_tree(model, f"s3://{typo}/model")
    assert typo not in _buckets(s3_server)


def test_predict_to_a_missing_bucket_is_refused(
    capsys: pytest.CaptureFixture[str], s3_server: str, typo: str, tmp_path: Path
) -> None:
    model = tmp_path / "m"
    pyfunc_sklearn.save_model(LinearRegression().fit(X, X["a"]), model)
    X.to_parquet(tmp_path / "in.parquet")
    argv = ["predict", "-m", str(model), "-i", str(tmp_path / "in.parquet")]
    code = main([*argv, "-o", f"s3://{typo}/scores/out.parquet"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("pyfunc-ops: error: ") and typo in err
    assert typo not in _buckets(s3_server)


def test_the_guarded_filesystem_pickles(s3_server: str) -> None:
    import pickle

    fs, _ = get_filesystem("s3://any/x")
    clone = pickle.loads(pickle.dumps(fs))
    assert type(clone) is type(fs) and type(fs).__name__ == "NoBucketCreationS3FileSystem"
