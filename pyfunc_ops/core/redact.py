"""Redaction: keep passwords, secret keys and tokens out of messages, reprs and logs.

pyfunc_ops handles tracking URIs (``postgresql://alice:pw@db/reg``), fsspec URLs
(``s3://key:secret@bucket/m``, presigned ``https://...?X-Amz-Signature=...``), Airflow
connection extras and fsspec storage options. Any of them may end up in an error message,
a ``repr``, a log line, an XCom or CLI output. Everything user-visible goes through
:func:`redact` (text) or :func:`redact_mapping` (structures), and the ``pyfunc_ops``
loggers through :func:`install_log_redaction`.

What is removed:

* the password of a URL's userinfo: ``scheme://user:pw@host`` becomes
  ``scheme://user:***@host`` (the user name stays: it helps to tell which account is used);
* the value of every ``key=value``, ``key: value``, ``"key": "value"`` pair (URL query
  parameters, DSN keywords, JSON, Python reprs, YAML lines, HTTP headers) whose key looks
  secret, see :func:`is_secret_key`.

Redaction is idempotent (``redact(redact(s)) == redact(s)``) and never raises for a string.
It errs towards hiding: a non-secret value under a secret-looking key is hidden too.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "install_log_redaction",
    "is_secret_key",
    "redact",
    "redact_mapping",
    "redact_record",
]

REDACTED = "***"

T = TypeVar("T")

# A key is secret when one of its words is one of these ...
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "signature",
        "sig",
        "credential",
        "credentials",
        "authorization",
        "apikey",
        "accesskey",
        "accesskeyid",
        "awsaccesskeyid",
        "sessiontoken",
        "cookie",
    }
)
# "signature" names a request signature (a token: X-Amz-Signature) but also a model's
# signature (a document: {"inputs": ...}); a key secret through these words only hides
# text that is not a structure or a JSON document (see _hides).
_SIGNATURE_WORDS = frozenset({"signature", "sig"})
_NON_SIGNATURE_WORDS = _SECRET_WORDS - _SIGNATURE_WORDS
# ... or two adjacent words are one of these pairs (api_key, AccessKeyId, private-key).
_SECRET_PAIRS = frozenset(
    {("api", "key"), ("access", "key"), ("private", "key"), ("account", "key")}
)

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _words(key: str) -> list[str]:
    """``"AWSAccessKeyId"`` -> ``["aws", "access", "key", "id"]``; also splits on ``_-.``."""
    words: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", key):
        words.extend(w.lower() for w in _WORD.findall(part))
    return words


def _secret(words: list[str], secret_words: frozenset[str] = _SECRET_WORDS) -> bool:
    if any(word in secret_words for word in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


def _hides(key: object, value: object) -> bool:
    """Whether ``value`` under ``key`` is masked (vs. copied and scanned in turn)."""
    if value in (None, "") or not isinstance(key, str):
        return False
    words = _words(key)
    if _secret(words, _NON_SIGNATURE_WORDS):
        return True  # secret by another word or pair (api_key_signature): whatever the value
    if not any(word in _SIGNATURE_WORDS for word in words):
        return False
    # Secret only as a signature: a request signature is a token, a model's a document.
    if isinstance(value, (Mapping, list, tuple)):
        return False
    return not (isinstance(value, str) and value.lstrip()[:1] in ("{", "["))


def is_secret_key(key: object) -> bool:
    """Whether a value stored under ``key`` must be hidden.

    Matches on words, not substrings, so ``password``, ``aws_secret_access_key``,
    ``session_token``, ``X-Amz-Signature``, ``AWSAccessKeyId``, ``api_key``, ``apiKey``,
    ``access_token``, ``Authorization`` and ``spark.hadoop.fs.s3a.secret.key`` are secret
    while ``tokenizer``, ``max_tokens`` or ``keyword`` are not.
    """
    return isinstance(key, str) and _secret(_words(key))


# scheme://user:password@ -- the password runs to the last "@" before the host (a raw
# "@" in a password is a common mistake); it never crosses "/", "?", "#" or whitespace.
# Mistyped URLs with one or three slashes (``postgresql:/alice:pw@db``) are covered too:
# they are exactly the ones that end up quoted in an error message. The scheme part is
# pyfunc_ops.core.uri.SCHEME written out (this module imports the standard library only;
# tests/core/test_uri_build.py checks the two stay the same).
_USERINFO = re.compile(
    r"(?P<prefix>\b[A-Za-z][A-Za-z0-9+.\-]*:/{1,3}[^\s:/?#@'\"]*):(?P<password>[^\s/?#'\"]*)@"
)

# A key (optionally quoted, also backslash-escaped JSON quotes), "=" or ":", a value. A
# bare value never starts with a bracket: '"signature": {' opens a JSON object (whose own
# keys are scanned in turn), it is not a token.
_PAIR = re.compile(
    r"""
    (?P<open>\\?["'])?
    (?<![A-Za-z0-9_])(?P<key>[A-Za-z][A-Za-z0-9_.\-]*)
    (?:\\?["'])?
    (?P<sep>\s*[=:]\s*)
    (?P<value>
        (?P<scheme>(?:Bearer|Basic|Token|Digest|AWS4-HMAC-SHA256)\s+[^\s'",]+(?:\s*,\s*[^\s'",]+)*)
      | \\"(?:[^"\\]|\\[^"])*\\"
      | "(?:[^"\\]|\\.)*"
      | '(?:[^'\\]|\\.)*'
      | [^\s&;,'"{}()\[\]<>#][^\s&;,'"})\]>#]*
    )
    """,
    re.VERBOSE | re.IGNORECASE,
)


def _mask_value(value: str) -> str:
    """Hide a matched value, keeping its quotes so the text stays well-formed."""
    for quote in ('\\"', '"', "'"):
        if len(value) >= 2 * len(quote) and value.startswith(quote) and value.endswith(quote):
            return f"{quote}{REDACTED}{quote}"
    return REDACTED


def _at_line_start(text: str, index: int) -> bool:
    line_start = text.rfind("\n", 0, index) + 1
    return text[line_start:index].strip(" \t-") == ""


def _redact_pairs(text: str) -> str:
    out: list[str] = []
    pos = 0
    while True:
        match = _PAIR.search(text, pos)
        if match is None:
            break
        key_start = match.start("key")
        # "key: value" in prose ("invalid token: the value ...") is left alone; a colon
        # separates a secret only in quoted keys (JSON, reprs), at a line's start (YAML,
        # HTTP headers) or before an authorization scheme ("Bearer abc").
        colon_ok = (
            match["open"] is not None
            or match["scheme"] is not None
            or _at_line_start(text, match.start())
        )
        if is_secret_key(match["key"]) and ("=" in match["sep"] or colon_ok):
            out.append(text[pos : match.start("value")])
            out.append(_mask_value(match["value"]))
            pos = match.end()
        else:
            # Not a secret: rescan from the value on, so "url=https://h/?token=x" still
            # finds the token inside the value.
            out.append(text[pos : match.end("sep")])
            pos = max(match.end("sep"), key_start + 1)
    out.append(text[pos:])
    return "".join(out)


def redact(text: str) -> str:
    """``text`` with passwords in URLs and values of secret-looking keys replaced by ``***``.

    ``postgresql+psycopg://u:pw@h/db`` -> ``postgresql+psycopg://u:***@h/db``;
    ``https://b.s3/k?X-Amz-Signature=ab&x=1`` -> ``...?X-Amz-Signature=***&x=1``;
    ``{'secret': 'x'}`` -> ``{'secret': '***'}``. Text without secrets is returned
    unchanged (``s3://bucket/key``, ``sqlite:////abs/path.db``, ``http://host:5000``).
    A non-string is converted with ``str`` first.
    """
    if not isinstance(text, str):
        text = str(text)
    if "@" in text:
        text = _USERINFO.sub(lambda m: f"{m['prefix']}:{REDACTED}@", text)
    if "=" in text or ":" in text:
        text = _redact_pairs(text)
    return text


def redact_mapping(obj: T) -> T:
    """A deep copy of ``obj`` with secrets hidden, for logging or returning structures.

    Dicts (any mapping, returned as ``dict``), lists, tuples and sets are copied; a value
    whose key :func:`is_secret_key` becomes ``"***"`` (``None`` and ``""`` stay as they are:
    they reveal nothing and show the value is unset; a model ``signature``, a structure or
    a JSON document, is kept and scanned like any value); every other string goes through
    :func:`redact`. Other objects are returned as they are (not copied). Reference cycles
    are preserved, not followed forever.
    """
    return _redact_obj(obj, {})  # type: ignore[no-any-return]


def _redact_obj(obj: Any, memo: dict[int, Any]) -> Any:
    if isinstance(obj, str):
        return redact(obj)
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, Mapping):
        result: dict[Any, Any] = {}
        memo[id(obj)] = result
        for key, value in obj.items():
            if _hides(key, value):
                result[key] = REDACTED
            else:
                result[key] = _redact_obj(value, memo)
        return result
    if isinstance(obj, list):
        items: list[Any] = []
        memo[id(obj)] = items
        items.extend(_redact_obj(item, memo) for item in obj)
        return items
    if isinstance(obj, (tuple, set, frozenset)):
        copied = [_redact_obj(item, memo) for item in obj]
        if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple
            return type(obj)(*copied)
        return type(obj)(copied)
    return obj


# --------------------------------------------------------------------------- logging

_EXC_FORMATTER = logging.Formatter()


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact ``record`` in place: its formatted message, traceback text and stack info.

    The message is formatted once (``msg % args``), redacted and stored as ``msg`` with
    ``args`` cleared, so no handler or formatter can format the raw arguments again. The
    traceback of ``exc_info`` is rendered now and stored, redacted, as ``exc_text``, which
    is what :class:`logging.Formatter` prints (``exc_info`` itself is kept for handlers
    that need the exception object).
    """
    try:
        message = record.getMessage()
    except (TypeError, ValueError, KeyError):
        # Arguments that do not fit the format: logging reports that later; redact what it
        # will print.
        record.msg = redact(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(redact(str(arg)) for arg in record.args)
        elif isinstance(record.args, Mapping):
            record.args = redact_mapping(dict(record.args))
    else:
        record.msg = redact(message)
        record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = _EXC_FORMATTER.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """A filter that redacts every record it sees (it never drops one).

    On a handler it covers all records the handler emits. On a logger it covers only
    records logged on that very logger, not those of its children (that is how logging
    applies logger filters): use :func:`install_log_redaction` for a logger tree.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_MARK = "_pyfunc_ops_redacts"


def install_log_redaction(logger_name: str = "pyfunc_ops") -> RedactingFilter:
    """Redact every record of ``logger_name`` and of all loggers below it. Idempotent.

    Adds a :class:`RedactingFilter` to the logger itself and wraps the process's log
    record factory, so records of child loggers (``pyfunc_ops.pyfunc.load``, created at
    any time, also after this call) are redacted when they are created, before any handler
    or parent sees them. Records of other loggers are not touched. Returns the filter
    (add it to your own handlers to cover third-party loggers too).
    """
    logger = logging.getLogger(logger_name)
    for existing in logger.filters:
        if isinstance(existing, RedactingFilter):
            found = existing
            break
    else:
        found = RedactingFilter()
        logger.addFilter(found)
    previous = logging.getLogRecordFactory()
    if getattr(previous, _MARK, None) != logger_name:
        prefix = logger_name + "."

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            name = record.name if isinstance(record.name, str) else ""  # makeLogRecord({})
            if name == logger_name or name.startswith(prefix):
                redact_record(record)
            return record

        setattr(factory, _MARK, logger_name)
        logging.setLogRecordFactory(factory)
    return found
