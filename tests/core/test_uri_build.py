"""URIs are built by core, never by hand: the builders, the text predicates, the one scheme
pattern and the one "is it remote" (``any_scheme`` included) agree with the parser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pyfunc_ops.core.uri import (
    SCHEME,
    is_models_uri,
    is_registry_uri,
    is_remote,
    is_runs_uri,
    models_uri,
    parse_model_uri,
    runs_uri,
    scheme_of,
)
from pyfunc_ops.errors import InvalidParameterError


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (models_uri("churn", 7), "models:/churn/7"),
        (models_uri("churn", "7"), "models:/churn/7"),
        (models_uri("churn", alias="champion"), "models:/churn@champion"),
        (models_uri("churn", stage="Production"), "models:/churn/Production"),
        (models_uri("churn"), "models:/churn/latest"),
        (runs_uri("abc", "model"), "runs:/abc/model"),
        (runs_uri("abc", "a/b"), "runs:/abc/a/b"),
        (runs_uri("abc"), "runs:/abc"),
    ],
)
def test_builders_write_what_the_parser_reads(built: str, expected: str) -> None:
    assert built == expected
    assert parse_model_uri(built).canonical() == expected


def test_models_uri_takes_one_selector() -> None:
    with pytest.raises(InvalidParameterError, match=r"at most one of version, alias or stage"):
        models_uri("churn", 1, alias="champion")


@pytest.mark.parametrize(
    ("uri", "canonical"),
    [
        ("MODELS:/churn/3", "models:/churn/3"),
        ("models:/churn/production", "models:/churn/Production"),
        ("models:/churn/LATEST", "models:/churn/latest"),
        ("runs:/r1//model/", "runs:/r1/model"),
        ("models:/m-0123456789abcdef", "models:/m-0123456789abcdef"),
        ("S3://bucket/key", "s3://bucket/key"),
    ],
)
def test_canonical_form(uri: str, canonical: str) -> None:
    assert parse_model_uri(uri).canonical() == canonical


def test_canonical_local_path(tmp_path: Path) -> None:
    assert parse_model_uri(f"file://{tmp_path}").canonical() == str(tmp_path)


@pytest.mark.parametrize(
    ("uri", "scheme", "runs", "models"),
    [
        ("runs:/abc/model", "runs", True, False),
        ("Runs:/abc", "runs", True, False),
        ("models:/m/1", "models", False, True),
        ("models:/m@a", "models", False, True),
        ("s3://b/k", "s3", False, False),
        ("/abs/path", None, False, False),
        ("C:\\models\\m", None, False, False),
        ("relative/models:/x", None, False, False),
    ],
)
def test_predicates(uri: str, scheme: str | None, runs: bool, models: bool) -> None:
    assert scheme_of(uri) == scheme
    assert is_runs_uri(uri) is runs
    assert is_models_uri(uri) is models
    assert is_registry_uri(uri) is (runs or models)


def test_predicates_take_paths_and_parsed_uris_and_refuse_nothing() -> None:
    assert is_models_uri(parse_model_uri("models:/m/1"))
    assert not is_models_uri(Path("/models/m"))
    assert not is_runs_uri(12)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("location", "remote", "not_a_folder"),
    [
        ("s3://bucket/model", True, True),
        ("simplecache::file:///tmp/m", True, True),
        ("mlflow-artifacts:/x", True, True),
        ("runs:/abc/model", False, True),
        ("models:/m/1", False, True),
        ("s3:/bucket", False, True),
        ("file:/tmp/m", False, False),
        ("file:///tmp/m", False, False),
        ("LOCAL:/tmp/m", False, False),
        ("C:/models", False, False),
        ("name:with:colons", False, False),
        ("/tmp/m", False, False),
    ],
)
def test_is_remote_any_scheme(location: str, remote: bool, not_a_folder: bool) -> None:
    assert is_remote(location) is remote
    assert is_remote(location, any_scheme=True) is not_a_folder


def test_one_scheme_pattern() -> None:
    from pyfunc_ops.core import redact

    assert re.fullmatch(SCHEME, "git+https")
    assert not re.fullmatch(SCHEME, "1abc")
    # redact imports the standard library only, so it spells the pattern out: the same one.
    assert redact._USERINFO.pattern.startswith(r"(?P<prefix>\b" + SCHEME + ":")
