"""get_filesystem applies endpoints and credentials."""

from __future__ import annotations

import os
import sys

import pytest
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from pyfunc_ops.config import Settings, use_settings
from pyfunc_ops.errors import InvalidURIError
from pyfunc_ops.storage.filesystem import get_filesystem, get_storage_options


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_local_and_memory() -> None:
    fs, path = get_filesystem("/tmp/some/model")
    assert isinstance(fs, LocalFileSystem)
    assert path == "/tmp/some/model"
    fs, path = get_filesystem("file:///tmp/x")
    assert isinstance(fs, LocalFileSystem)
    assert path == "/tmp/x"
    fs, path = get_filesystem("memory://bucket/model")
    assert isinstance(fs, MemoryFileSystem)
    assert path == "/bucket/model"


def test_s3_endpoint_and_credentials_from_environment(aws_env: pytest.MonkeyPatch) -> None:
    assert get_storage_options("s3") == {}
    aws_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert get_storage_options("s3") == {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}}
    aws_env.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:10")
    aws_env.setenv("AWS_ACCESS_KEY_ID", "AK")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "SK")
    aws_env.setenv("AWS_SESSION_TOKEN", "TOK")
    assert get_storage_options("s3a") == {
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:10"},
        "key": "AK",
        "secret": "SK",
        "token": "TOK",
    }
    fs, path = get_filesystem("s3://bucket/model")
    assert path == "bucket/model"
    assert fs.client_kwargs["endpoint_url"] == "http://127.0.0.1:10"
    assert (fs.key, fs.secret, fs.token) == ("AK", "SK", "TOK")
    # Other protocols are untouched.
    assert get_storage_options("memory") == {}


def test_settings_options_override_environment(aws_env: pytest.MonkeyPatch) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    aws_env.setenv("AWS_ACCESS_KEY_ID", "env-key")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    connection = {"key": "conn-key", "client_kwargs": {"region_name": "eu-west-1"}, "anon": False}
    with use_settings(Settings.from_env(storage_options={"s3": connection})):
        options = get_storage_options("s3")
        assert options == {
            "client_kwargs": {"endpoint_url": "http://127.0.0.1:9", "region_name": "eu-west-1"},
            "key": "conn-key",
            "secret": "env-secret",
            "anon": False,
        }
        fs, _ = get_filesystem("s3a://bucket/model")
        assert fs.key == "conn-key"
        assert fs.client_kwargs == {
            "endpoint_url": "http://127.0.0.1:9",
            "region_name": "eu-west-1",
        }
        # The returned options are a copy: changing them changes nothing.
        options["client_kwargs"]["endpoint_url"] = "http://127.0.0.1:1"
        assert get_storage_options("s3")["client_kwargs"]["endpoint_url"] == "http://127.0.0.1:9"
    # Outside the scope only the environment applies.
    assert get_storage_options("s3")["key"] == "env-key"


def test_settings_argument_and_scopes(aws_env: pytest.MonkeyPatch) -> None:
    outer = Settings.from_env(storage_options={"s3": {"key": "outer"}})
    inner = Settings.from_env(
        storage_options={"s3a": {"key": "inner", "client_kwargs": {"endpoint_url": "http://x"}}}
    )
    with use_settings(outer):
        with use_settings(inner):
            # s3 and s3a share one entry.
            assert get_storage_options("s3") == {
                "key": "inner",
                "client_kwargs": {"endpoint_url": "http://x"},
            }
        assert get_storage_options("s3") == {"key": "outer"}
        with pytest.raises(RuntimeError), use_settings(inner):
            raise RuntimeError("boom")
        assert get_storage_options("s3") == {"key": "outer"}
        # An explicit argument wins over the scope.
        assert get_storage_options("s3", inner)["key"] == "inner"
        fs, _ = get_filesystem("s3://bucket/model", inner)
        assert fs.key == "inner"
    assert get_storage_options("s3") == {}
    # Environment-derived options are read at call time, never frozen into settings.
    aws_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert get_storage_options("s3", outer) == {
        "key": "outer",
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9"},
    }


def test_settings_of_other_threads_stay_there(aws_env: pytest.MonkeyPatch) -> None:
    import threading

    barrier = threading.Barrier(2, timeout=30)
    seen: dict[str, str] = {}

    def worker(name: str) -> None:
        with use_settings(Settings.from_env(storage_options={"s3": {"key": name}})):
            barrier.wait()  # both scopes are open at once
            seen[name] = get_filesystem("s3://bucket/model")[0].key
            barrier.wait()

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"one": "one", "two": "two"}
    assert "key" not in get_storage_options("s3")


def test_chained_url_gets_per_protocol_options(aws_env: pytest.MonkeyPatch) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    fs, _ = get_filesystem("simplecache::s3://bucket/model")
    assert fs.fs.client_kwargs["endpoint_url"] == "http://127.0.0.1:9"


def test_unknown_protocol() -> None:
    with pytest.raises(InvalidURIError, match=r"'nosuchproto://x/y'.*no protocol 'nosuchproto'"):
        get_filesystem("nosuchproto://x/y")


def test_s3fs_not_imported_until_needed() -> None:
    import subprocess

    code = (
        "import sys, pyfunc_ops.storage as s\n"
        "from pyfunc_ops.storage import fetch, download_tree, upload_tree\n"
        "s.get_filesystem('memory://x')\n"
        "heavy = [m for m in ('s3fs', 'botocore', 'pandas', 'pyspark', 'airflow', 'sqlalchemy')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ))
