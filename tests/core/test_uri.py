"""Every accepted model URI form parses to the right fields; every malformed one is refused."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from pyfunc_ops.core.uri import (
    ACCEPTED_FORMS,
    ModelURI,
    is_local,
    is_remote,
    is_url,
    join,
    local_path,
    parse_model_uri,
)
from pyfunc_ops.errors import InvalidURIError, PyfuncOpsError


def _fields(parsed: ModelURI) -> dict[str, Any]:
    return {
        "scheme": parsed.scheme,
        "path": parsed.path,
        "run_id": parsed.run_id,
        "artifact_path": parsed.artifact_path,
        "name": parsed.name,
        "version": parsed.version,
        "stage": parsed.stage,
        "alias": parsed.alias,
        "latest": parsed.latest,
    }


def _expect(scheme: str, **fields: Any) -> dict[str, Any]:
    expected: dict[str, Any] = dict.fromkeys(
        ("path", "run_id", "artifact_path", "name", "version", "stage", "alias")
    )
    expected.update(scheme=scheme, latest=False)
    expected.update(fields)
    return expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/abs/path/to/model", _expect("local", path="/abs/path/to/model")),
        ("/abs/path/../model/", _expect("local", path="/abs/model")),
        ("file:///abs/path/model", _expect("local", path="/abs/path/model")),
        ("file:/abs/path/model", _expect("local", path="/abs/path/model")),
        ("file://localhost/abs/model", _expect("local", path="/abs/model")),
        ("file:///abs/my%20model", _expect("local", path="/abs/my model")),
        ("FILE:///abs/model", _expect("local", path="/abs/model")),
        ("s3://bucket/models/churn", _expect("fsspec", path="s3://bucket/models/churn")),
        ("S3://Bucket/Key", _expect("fsspec", path="s3://Bucket/Key")),
        ("gs://bucket/model", _expect("fsspec", path="gs://bucket/model")),
        ("memory://model", _expect("fsspec", path="memory://model")),
        ("abfs://container/dir", _expect("fsspec", path="abfs://container/dir")),
        ("git+https://host/repo", _expect("fsspec", path="git+https://host/repo")),
        (
            "simplecache::s3://bucket/model",
            _expect("fsspec", path="simplecache::s3://bucket/model"),
        ),
        ("runs:/abc123/model", _expect("runs", run_id="abc123", artifact_path="model")),
        ("runs:/abc123/a/b/c/", _expect("runs", run_id="abc123", artifact_path="a/b/c")),
        ("runs:/abc123", _expect("runs", run_id="abc123", artifact_path="")),
        ("runs:/abc123/", _expect("runs", run_id="abc123", artifact_path="")),
        ("runs:/0a1b-2c_3.d/m", _expect("runs", run_id="0a1b-2c_3.d", artifact_path="m")),
        ("models:/churn/3", _expect("models", name="churn", version=3)),
        ("models:/churn/0042", _expect("models", name="churn", version=42)),
        ("models:/churn/Production", _expect("models", name="churn", stage="Production")),
        ("models:/churn/production", _expect("models", name="churn", stage="Production")),
        ("models:/churn/STAGING", _expect("models", name="churn", stage="Staging")),
        ("models:/churn/archived", _expect("models", name="churn", stage="Archived")),
        ("models:/churn/none", _expect("models", name="churn", stage="None")),
        ("models:/churn/latest", _expect("models", name="churn", latest=True)),
        ("models:/churn/Latest", _expect("models", name="churn", latest=True)),
        ("models:/churn@champion", _expect("models", name="churn", alias="champion")),
        ("models:/churn@Blue-2_b", _expect("models", name="churn", alias="Blue-2_b")),
        ("models:/My Model.v2/1", _expect("models", name="My Model.v2", version=1)),
        ("C:/models/churn", _expect("local", path=os.path.abspath("C:/models/churn"))),
    ],
)
def test_accepted_forms(uri: str, expected: dict[str, Any]) -> None:
    parsed = parse_model_uri(uri)
    assert _fields(parsed) == expected
    assert parsed.raw == uri
    assert str(parsed) == uri


def test_relative_path_resolved_against_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    parsed = parse_model_uri("models_dir/churn")
    assert parsed.scheme == "local"
    assert parsed.path == str(tmp_path / "models_dir" / "churn")
    assert parse_model_uri("./a:b").path == str(tmp_path / "a:b")
    assert parse_model_uri(".").path == str(tmp_path)


def test_path_like_and_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_model_uri(tmp_path / "m").path == str(tmp_path / "m")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parse_model_uri("~/m").path == str(tmp_path / "m")


def test_result_is_immutable() -> None:
    parsed = parse_model_uri("models:/churn/1")
    with pytest.raises(AttributeError):
        parsed.version = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("uri", "local"),
    [
        ("/abs/model", True),
        ("rel/model", True),
        ("file:///abs/model", True),
        ("s3://bucket/model", False),
        ("memory://model", False),
        ("simplecache::file:///abs/model", False),
        ("runs:/abc/model", False),
        ("models:/churn/1", False),
    ],
)
def test_is_local(uri: str, local: bool) -> None:
    assert is_local(uri) is local
    assert is_local(parse_model_uri(uri)) is local


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("runs:", "runs:/<run_id>"),
        ("runs:/", "run id is missing"),
        ("runs:abc/model", "runs:/<run_id>"),
        ("runs://abc/model", "single '/'"),
        ("runs:/../model", "run id '..'"),
        ("runs:/a b/model", "run id 'a b'"),
        ("runs:/abc/../../etc", r"'\.' or '\.\.'"),
        ("models:", "models:/<name>"),
        ("models:/", "name is missing"),
        ("models://churn/1", "single '/'"),
        ("models:/churn", "needs '/<version>'"),
        ("models:/churn/", "version, stage or 'latest' .* is missing"),
        ("models:/churn/1/extra", "exactly two components"),
        ("models:/churn/1/", "exactly two components"),
        ("models:/churn@", "alias after '@' is missing"),
        ("models:/@champion", "name is missing"),
        ("models:/churn@bad alias", "alias 'bad alias'"),
        ("models:/churn@a.b", "alias 'a.b'"),
        ("models:/churn@a/1", "no '/<suffix>' after '@<alias>'"),
        ("models:/churn/Prod", "'Prod' is neither a version"),
        ("models:/churn/1.5", "'1.5' is neither a version"),
        ("models:/churn/-1", "'-1' is neither a version"),
        ("models:/churn/0", "versions start at 1, found 0"),
        ("models:/churn/000", "versions start at 1, found 0"),
        ("models:/ churn/1", "not a valid name"),
        ("models:/../1", "not a valid name"),
        ("models:/../latest", r"'\.\.' is not a valid name"),
        ("models:/churn@latest", "alias 'latest' for registered model 'churn' is reserved"),
        ("models:/churn@Latest", "alias 'Latest' for registered model 'churn' is reserved"),
        ("models:/churn@v3", "alias 'v3' for registered model 'churn' is reserved"),
        ("models:/churn@3", "alias '3' for registered model 'churn' is reserved"),
        ("models:/churn@" + "a" * 256, "the limit is 255"),
        ("models:/" + "m" * 257 + "/1", "the limit is 256"),
        ("models:/ch\turn/1", "control characters"),
        ("://foo", "protocol before '://' is missing"),
        ("::s3://bucket", "protocol before '://' is missing"),
        ("s3://", "names no location"),
        ("memory:///", "names no location"),
        ("s3:/bucket/key", "starts with 's3:' but is not 's3://...'"),
        ("model:v1", r"write '\./model:v1'"),
        ("file://otherhost/abs/model", "found host 'otherhost'"),
        ("file:relative/model", "needs an absolute path"),
        ("/abs/with\x00nul", "NUL character"),
    ],
)
def test_malformed_rejected(uri: str, reason: str) -> None:
    with pytest.raises(InvalidURIError, match=re.escape(repr(uri))) as info:
        parse_model_uri(uri)
    message = str(info.value)
    assert re.search(reason, message), message
    assert ACCEPTED_FORMS in message
    # Callers catching the root error or ValueError catch it too.
    assert isinstance(info.value, PyfuncOpsError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("value", [None, 3, b"/abs/model"])
def test_non_text_rejected(value: Any) -> None:
    with pytest.raises(InvalidURIError, match=r"expected (a str or path-like object|text)"):
        parse_model_uri(value)


def test_accepted_forms_lists_every_form() -> None:
    for form in (
        "/absolute/path",
        "relative/path",
        "file:///",
        "<protocol>://",
        "s3://",
        "runs:/<run_id>/<artifact_path>",
        "models:/<name>/<version>",
        "models:/<name>/<stage>",
        "models:/<name>/latest",
        "models:/<name>@<alias>",
    ):
        assert form in ACCEPTED_FORMS


@pytest.mark.parametrize(
    ("base", "parts", "expected"),
    [
        ("s3://bucket/root", ("run1", "artifacts/model"), "s3://bucket/root/run1/artifacts/model"),
        ("s3://bucket/root/", ("/model/",), "s3://bucket/root/model"),
        ("memory://x", ("", "m"), "memory://x/m"),
        ("file:///tmp/a", ("b",), "file:///tmp/a/b"),
        ("/tmp/a", ("b", "c/d"), "/tmp/a/b/c/d"),
        ("/tmp/a", ("/abs",), "/tmp/a/abs"),
        ("rel", (), "rel"),
    ],
)
def test_join(base: str, parts: tuple[str, ...], expected: str) -> None:
    assert join(base, *parts) == expected


@pytest.mark.parametrize(
    ("location", "url", "remote"),
    [
        ("/tmp/model", False, False),
        ("rel/model", False, False),
        ("C:\\models\\m", False, False),
        ("file:///tmp/model", True, False),
        ("FILE:///tmp/model", True, False),
        ("local:///tmp/model", True, False),
        ("s3://bucket/model", True, True),
        ("memory://model", True, True),
        ("simplecache::file:///tmp/model", True, True),
        ("simplecache::s3://bucket/model", True, True),
        ("mlflow-artifacts:/0/abc/artifacts", True, True),  # MLflow's form: a URL
    ],
)
def test_is_url_and_is_remote(location: str, url: bool, remote: bool) -> None:
    assert is_url(location) is url
    assert is_remote(location) is remote


@pytest.mark.parametrize(
    ("location", "path"),
    [
        ("/tmp/model", "/tmp/model"),
        ("file:///tmp/model", "/tmp/model"),
        ("local:///tmp/model", "/tmp/model"),
        # No percent-decoding: fsspec's local filesystem wrote to this very path.
        ("file:///tmp/my%20model", "/tmp/my%20model"),
        ("s3://bucket/model", "s3://bucket/model"),
    ],
)
def test_local_path(location: str, path: str) -> None:
    assert local_path(location) == path
