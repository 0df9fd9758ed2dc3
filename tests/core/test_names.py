"""Registered-model names, versions, stages and aliases: one rule each, one message."""

from __future__ import annotations

import pytest

from pyfunc_ops.core import names
from pyfunc_ops.core.uri import parse_model_uri
from pyfunc_ops.errors import InvalidParameterError, InvalidURIError


@pytest.mark.parametrize("name", ["churn", "Churn model v2", "a.b", "ü-modell", "x" * 256])
def test_valid_model_names(name: str) -> None:
    assert names.validate_model_name(name) == name
    assert parse_model_uri(f"models:/{name}/1").name == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "name is missing: it must be a non-empty string"),
        ("  ", "name is missing: it must be a non-empty string"),
        (3, "must be a non-empty string; got 3"),
        (" churn", "not a valid name: it has leading or trailing spaces"),
        ("a/b", "contains '/' or '@'"),
        ("a@b", "contains '/' or '@'"),
        (".", r"'\.' is not a valid name"),
        ("..", r"'\.\.' is not a valid name"),
        ("a\nb", "control characters"),
        ("x" * 257, "257 characters long; the limit is 256"),
    ],
)
def test_invalid_model_names(name: object, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        names.validate_model_name(name)


@pytest.mark.parametrize(("value", "number"), [(1, 1), (12, 12), ("3", 3), (" 4 ", 4)])
def test_versions(value: object, number: int) -> None:
    assert names.validate_version(value, "m") == number


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "versions start at 1, found 0"),
        ("000", "versions start at 1, found 0"),
        (-1, "versions start at 1, found -1"),
        ("-1", "got '-1'"),
        ("v1", "got 'v1'"),
        ("1.5", "got '1.5'"),
        ("²", "got '²'"),
        (True, "got True"),
        (None, "got None"),
    ],
)
def test_invalid_versions(value: object, message: str) -> None:
    with pytest.raises(
        InvalidParameterError,
        match=f"version of registered model 'm' must be a positive.*{message}",
    ):
        names.validate_version(value, "m")


def test_is_version_number_is_ascii_digits() -> None:
    assert names.is_version_number("007")
    assert not names.is_version_number("²")
    assert not names.is_version_number("v3")
    assert not names.is_version_number("")


@pytest.mark.parametrize(
    ("value", "stage"),
    [
        ("production", "Production"),
        ("STAGING", "Staging"),
        (" none ", "None"),
        ("Archived", "Archived"),
    ],
)
def test_stages_any_casing(value: str, stage: str) -> None:
    assert names.canonical_stage(value) == stage


def test_stage_constants() -> None:
    assert names.STAGES == ("None", "Staging", "Production", "Archived")
    assert names.ACTIVE_STAGES == ("Staging", "Production")
    assert names.find_stage("prod") is None
    assert names.find_stage("PRODUCTION") == "Production"
    with pytest.raises(
        InvalidParameterError, match=r"stage 'live' is not a stage; expected one of None, Staging"
    ):
        names.canonical_stage("live")


@pytest.mark.parametrize("alias", ["champion", "Blue-2_b", "a" * 255, "v", "latest2", "v3a"])
def test_valid_aliases(alias: str) -> None:
    assert names.validate_alias(alias, "m") == alias
    assert parse_model_uri(f"models:/m@{alias}").alias == alias


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("", "is invalid; use letters, digits"),
        ("a b", "is invalid; use letters, digits"),
        ("a.b", "is invalid; use letters, digits"),
        (None, "is invalid; use letters, digits"),
        ("a" * 256, "is 256 characters long; the limit is 255"),
        ("latest", "is reserved"),
        ("LATEST", "is reserved"),
        ("v3", "is reserved"),
        ("V3", "is reserved"),
        ("3", "is reserved"),
    ],
)
def test_invalid_aliases(alias: object, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"alias .* for registered model 'm' {message}"):
        names.validate_alias(alias, "m")


@pytest.mark.parametrize(
    ("uri", "check"),
    [
        ("models:/../1", lambda: names.validate_model_name("..")),
        ("models:/ m/1", lambda: names.validate_model_name(" m")),
        ("models:/m@latest", lambda: names.validate_alias("latest", "m")),
        ("models:/m@v3", lambda: names.validate_alias("v3", "m")),
        ("models:/m@a.b", lambda: names.validate_alias("a.b", "m")),
        ("models:/m/0", lambda: names.validate_version("0", "m")),
    ],
)
def test_the_uri_parser_says_what_the_rule_says(uri: str, check: object) -> None:
    with pytest.raises(InvalidParameterError) as rule:
        check()  # type: ignore[operator]
    with pytest.raises(InvalidURIError, match=f"Invalid model URI '{uri}'") as parsed:
        parse_model_uri(uri)
    assert str(rule.value) in str(parsed.value)
