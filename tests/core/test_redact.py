"""Redaction: a corpus of texts that must change (and how) and texts that must not."""

from __future__ import annotations

import logging
import sys
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import pytest

from pyfunc_ops.core.redact import (
    REDACTED,
    RedactingFilter,
    install_log_redaction,
    is_secret_key,
    redact,
    redact_mapping,
)

# (input, expected output)
CHANGED = [
    # URLs with userinfo, alone and inside messages
    ("postgresql+psycopg://alice:s3cr3t@db:5432/reg", "postgresql+psycopg://alice:***@db:5432/reg"),
    ("mysql://bob:hunter2@db/x", "mysql://bob:***@db/x"),
    (
        "Cannot connect to postgresql://u:pw@h/db: connection refused",
        "Cannot connect to postgresql://u:***@h/db: connection refused",
    ),
    ("s3://AKIAKEY:wJalrSecret@bucket/models/m", "s3://AKIAKEY:***@bucket/models/m"),
    ("https://u:p@ss@host/x", "https://u:***@host/x"),  # a raw "@" in the password
    ("redis://:onlypw@h:6379/0", "redis://:***@h:6379/0"),
    (
        "tracking URIs a=http://u:one@h1 b=http://v:two@h2",
        "tracking URIs a=http://u:***@h1 b=http://v:***@h2",
    ),
    # query parameters, also in presigned URLs
    ("http://h/api?token=abc&page=2", "http://h/api?token=***&page=2"),
    ("https://h/login?user=a&password=pw#frag", "https://h/login?user=a&password=***#frag"),
    (
        "https://b.s3.amazonaws.com/m?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIA%2F20240101&X-Amz-Signature=abcdef&X-Amz-Security-Token=FQo",
        "https://b.s3.amazonaws.com/m?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***",
    ),
    (
        "https://b.s3.amazonaws.com/k?AWSAccessKeyId=AKIAX&Signature=sig%3D&Expires=1700",
        "https://b.s3.amazonaws.com/k?AWSAccessKeyId=***&Signature=***&Expires=1700",
    ),
    ("https://h/x?secret=s1;other=2", "https://h/x?secret=***;other=2"),
    ("url=https://h/x?token=abc", "url=https://h/x?token=***"),
    # key=value pairs (DSN keywords, CLI flags, Spark/Hadoop keys, connection strings)
    ("password=hunter2 host=db", "password=*** host=db"),
    ("passwd=pw", "passwd=***"),
    ("--password=abc --user=me", "--password=*** --user=me"),
    ("spark.hadoop.fs.s3a.secret.key=abc", "spark.hadoop.fs.s3a.secret.key=***"),
    ("AccountKey=abc==;EndpointSuffix=core", "AccountKey=***;EndpointSuffix=core"),
    ("session_token=FQoG aws_session_token = FQoH", "session_token=*** aws_session_token = ***"),
    ("api_key=k1, access_token=t1", "api_key=***, access_token=***"),
    # "key": "value" in JSON, Python reprs and escaped JSON
    (
        "{'aws_secret_access_key': 'wJalr', 'region_name': 'eu-west-1'}",
        "{'aws_secret_access_key': '***', 'region_name': 'eu-west-1'}",
    ),
    ('{"password": "x\\"y", "user": "u"}', '{"password": "***", "user": "u"}'),
    ('{\\"token\\": \\"abc\\"}', '{\\"token\\": \\"***\\"}'),
    ("Settings(secret_key='sk', home='/h')", "Settings(secret_key='***', home='/h')"),
    ('{"api_key": 12345}', '{"api_key": ***}'),
    # headers and YAML lines
    ("Authorization: Bearer eyJhbGci.xyz", "Authorization: ***"),
    ("headers={'Authorization': 'Basic dXNlcjpwdw=='}", "headers={'Authorization': '***'}"),
    ("got header authorization: Bearer abc", "got header authorization: ***"),
    ("secret: topsecret\nuser: alice", "secret: ***\nuser: alice"),
    ("s3:\n  - token: abc\n  key: AK", "s3:\n  - token: ***\n  key: AK"),
]

UNCHANGED = [
    "",
    "/home/u/models/churn/MLmodel",
    "relative/path/model.pkl",
    "s3://bucket/key",
    "s3://bucket/models/m/data/model.skops",
    "sqlite:////abs/path.db",
    "sqlite:///relative.db",
    "http://host:5000",
    "http://host:5000/api/2.0/mlflow/runs/get?run_id=abc123",
    "models:/churn@champion",
    "models:/churn/3",
    "runs:/0a1b2c/model",
    "file:///tmp/m",
    "email alice@example.com about git@github.com:org/repo",
    "ssh://git@github.com/org/repo",
    "max_tokens=5 tokenizer=bert-base keyword=x",
    "invalid token: the value is bad",  # prose: a colon after a secret word in a sentence
    "No model at 's3://bucket/m': expected an MLmodel file",
    "key=artifacts/model.pkl",
    "password=",
    "{'region_name': 'eu-west-1', 'endpoint_url': 'http://127.0.0.1:9000'}",
    "Time: 12:30:45, ratio 3:1",
]


@pytest.mark.parametrize(("text", "expected"), CHANGED)
def test_redact_hides_secrets(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", UNCHANGED)
def test_redact_keeps_text_without_secrets(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("text", [t for t, _ in CHANGED] + UNCHANGED)
def test_redact_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


def test_corpus_size() -> None:
    assert len(CHANGED) + len(UNCHANGED) >= 20


@pytest.mark.parametrize(
    ("text", "secret"),
    [(t, s) for t, s in [(t, "hunter2") for t, _ in CHANGED if "hunter2" in t]]
    + [("postgresql+psycopg://u:s3cr3t@h/db", "s3cr3t"), ("X-Amz-Signature=abcdef", "abcdef")],
)
def test_secret_is_gone(text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert REDACTED in redact(text)


def test_redact_converts_non_strings() -> None:
    assert redact(ValueError("mysql://u:pw@h/db")) == "mysql://u:***@h/db"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "PASSWORD",
        "passwd",
        "secret",
        "secret_key",
        "client_secret",
        "aws_secret_access_key",
        "token",
        "session_token",
        "aws_session_token",
        "api_key",
        "apiKey",
        "APIKey",
        "access_token",
        "accessToken",
        "authorization",
        "Authorization",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
        "X-Amz-Credential",
        "AWSAccessKeyId",
        "aws_access_key_id",
        "private_key",
        "spark.hadoop.fs.s3a.secret.key",
        "fs.s3a.access.key",
    ],
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "user",
        "username",
        "host",
        "key",
        "tokenizer",
        "max_tokens",
        "keyword",
        "region_name",
        "endpoint_url",
        "bucket",
        "secrets_manager_arn",
        3,
        None,
    ],
)
def test_non_secret_keys(key: object) -> None:
    assert not is_secret_key(key)


# --------------------------------------------------------------------------- mappings


def test_redact_mapping_hides_values_and_copies() -> None:
    options = {
        "s3": {
            "key": "AKIA",
            "secret": "wJalr",
            "token": "FQo",
            "client_kwargs": {"endpoint_url": "http://minio:m1n10pw@127.0.0.1:9000"},
        },
        "password": None,
        "api_key": "",
        "notes": ["password=hunter2", ("ok", "aws_secret_access_key=x")],
        "nested": [{"Authorization": {"scheme": "Bearer", "value": "t"}}],
        "count": 3,
    }
    result = redact_mapping(options)
    assert result == {
        "s3": {
            "key": "AKIA",
            "secret": REDACTED,
            "token": REDACTED,
            "client_kwargs": {"endpoint_url": "http://minio:***@127.0.0.1:9000"},
        },
        "password": None,
        "api_key": "",
        "notes": ["password=***", ("ok", "aws_secret_access_key=***")],
        "nested": [{"Authorization": REDACTED}],
        "count": 3,
    }
    # a deep copy: the original is untouched and shares no containers with the result
    assert options["s3"]["secret"] == "wJalr"  # type: ignore[index]
    assert result["s3"] is not options["s3"]
    result["notes"].append("x")
    assert len(options["notes"]) == 2  # type: ignore[arg-type]


def test_redact_mapping_keeps_types() -> None:
    Point = namedtuple("Point", "x y")
    frozen = MappingProxyType({"secret": "s"})
    result = redact_mapping(
        {"t": ("a",), "s": {"b"}, "f": frozenset({"c"}), "p": Point("token=1", 2), "m": frozen}
    )
    assert result == {
        "t": ("a",),
        "s": {"b"},
        "f": frozenset({"c"}),
        "p": Point("token=***", 2),
        "m": {"secret": REDACTED},
    }
    assert isinstance(result["p"], Point)


def test_redact_mapping_on_scalars_and_strings() -> None:
    assert redact_mapping("mysql://u:pw@h") == "mysql://u:***@h"
    assert redact_mapping(5) == 5
    marker = object()
    assert redact_mapping([marker])[0] is marker


def test_a_model_signature_is_kept_but_a_request_signature_is_hidden() -> None:
    """A model's signature (a structure, or its JSON text as MLmodel stores it) is not a
    token; a request signature (X-Amz-Signature, sig) is, and so is anything under a key
    that is also secret by another word."""
    shown = redact_mapping(
        {
            "signature": {"inputs": [{"name": "a", "type": "double", "password": "pw1"}]},
            "model": {"signature": {"inputs": '[{"name": "a", "type": "double"}]'}},
            "saved_signature": '  [{"name": "b"}]',
            "X-Amz-Signature": "0f3a9c",
            "sig": "deadbeef",
            "signature_token": {"value": "tok1"},
            "api_key_signature": {"value": "k1"},  # secret by a pair of words
            "access_key_sig": '["k2"]',
        }
    )
    assert shown["signature"] == {"inputs": [{"name": "a", "type": "double", "password": "***"}]}
    assert shown["model"] == {"signature": {"inputs": '[{"name": "a", "type": "double"}]'}}
    assert shown["saved_signature"] == '  [{"name": "b"}]'
    assert shown["X-Amz-Signature"] == "***"
    assert shown["sig"] == "***"
    assert shown["signature_token"] == "***"
    assert shown["api_key_signature"] == shown["access_key_sig"] == "***"


def test_redact_mapping_survives_cycles() -> None:
    data: dict[str, object] = {"password": "pw"}
    data["self"] = data
    result = redact_mapping(data)
    assert result["password"] == REDACTED
    assert result["self"] is result


# --------------------------------------------------------------------------- logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    factory = logging.getLogRecordFactory()
    logger = logging.getLogger("pyfunc_ops")
    filters = list(logger.filters)
    yield
    logging.setLogRecordFactory(factory)
    logger.filters[:] = filters


def test_filter_redacts_message_and_args(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.redact.filter")
    handler_filter = RedactingFilter()
    caplog.handler.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="tests.redact.filter"):
            logger.info("Connecting to %s with %r", "postgresql://u:pw@h/db", {"secret": "s"})
            logger.info("token=abc in the message itself")
            logger.info("named %(uri)s", {"uri": "s3://k:sec@b/m"})
    finally:
        caplog.handler.removeFilter(handler_filter)
    assert caplog.messages == [
        "Connecting to postgresql://u:***@h/db with {'secret': '***'}",
        "token=*** in the message itself",
        "named s3://k:***@b/m",
    ]
    assert all(record.args is None for record in caplog.records)


def test_filter_redacts_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.redact.traceback")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.ERROR, logger="tests.redact.traceback"):
        try:
            raise ConnectionError("cannot reach mysql://u:hunter2@db/x")
        except ConnectionError:
            logger.exception("failed")
    assert "hunter2" not in caplog.text
    assert "mysql://u:***@db/x" in caplog.text


def test_filter_with_bad_format_arguments_still_redacts() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d token=%s", ("no", "t"), None)
    assert RedactingFilter().filter(record) is True
    assert record.msg == "%d token=***"
    assert record.args == ("no", "t")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", ("password=pw", 2), None)
    RedactingFilter().filter(record)
    assert record.args == ("password=***", "2")


def test_stack_info_is_redacted() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.stack_info = "Stack (most recent call last):\n  uri='http://u:pw@h'"
    RedactingFilter().filter(record)
    assert record.stack_info == "Stack (most recent call last):\n  uri='http://u:***@h'"


def test_install_covers_child_loggers(
    caplog: pytest.LogCaptureFixture, restore_logging: None
) -> None:
    first = install_log_redaction()
    second = install_log_redaction()  # idempotent: one filter, one factory wrapper
    assert first is second
    assert sum(isinstance(f, RedactingFilter) for f in logging.getLogger("pyfunc_ops").filters) == 1
    # The package logger's own level too: an earlier test (a CLI run) may have set it.
    with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="pyfunc_ops"):
        logging.getLogger("pyfunc_ops").info("top %s", "http://u:pw1@h")
        # a child created after the installation
        logging.getLogger("pyfunc_ops.tests.new_child_logger").info("child %s", "password=pw2")
        logging.getLogger("pyfunc_opsother").info("sibling %s", "password=pw3")
        logging.getLogger("unrelated").info("other %s", "password=pw4")
    assert caplog.messages[:2] == ["top http://u:***@h", "child password=***"]
    # other loggers are not this helper's business
    assert caplog.messages[2:] == ["sibling password=pw3", "other password=pw4"]


def test_install_wraps_the_factory_once(restore_logging: None) -> None:
    # Importing pyfunc_ops.core installs it already; start from logging's own factory.
    logging.setLogRecordFactory(logging.LogRecord)
    before = logging.getLogRecordFactory()
    install_log_redaction()
    wrapped = logging.getLogRecordFactory()
    assert wrapped is not before
    install_log_redaction()
    assert logging.getLogRecordFactory() is wrapped


def test_redaction_module_imports_only_stdlib() -> None:
    import pyfunc_ops.core.redact as module

    source = Path(module.__file__).read_text(encoding="utf-8")
    imports = {
        line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))
    }
    assert imports <= {"__future__", "itertools", "logging", "re", "collections.abc", "typing"}
    assert "pyfunc_ops.core.redact" in sys.modules
