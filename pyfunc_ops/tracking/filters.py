"""A small parser for MLflow-style search filter strings.

Scripts ported from MLflow pass strings such as ``"name='churn' AND run_id='abc'"`` to
``search_model_versions``; this module accepts that subset and turns it into a list of
:class:`Condition` values the store translates to SQL (never string-interpolated SQL).

Grammar (keywords in any case)::

    filter    := condition ( AND condition )*
    condition := field op value
    field     := name | run_id | source_path | source | version_number | version
               | current_stage | tags.<key> | tags.`<key with spaces>`
    op        := = | != | <> | LIKE | ILIKE | IN | NOT IN
    value     := 'text' | "text" | integer | ( value, ... )

``LIKE`` is case-sensitive and ``ILIKE`` is not, on SQLite and PostgreSQL alike (``%`` any
run of characters, ``_`` one character).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pyfunc_ops.errors import InvalidParameterError

_FIELDS = {
    "name": "name",
    "run_id": "run_id",
    "source_path": "source",
    "source": "source",
    "version_number": "version",
    "version": "version",
    "current_stage": "current_stage",
}

_TOKEN_RE = re.compile(
    r"""
    \s*(?:
        (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
      | (?P<number>-?\d+)
      | (?P<op>!=|<>|=)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][\w.]*(?:`[^`]+`)?|`[^`]+`)
    )""",
    re.VERBOSE,
)

_GRAMMAR_HINT = (
    "write conditions such as name='my-model', run_id='abc', tags.team='ml', "
    "name LIKE 'churn%' or version IN (1, 2), joined with AND"
)


@dataclass(frozen=True)
class Condition:
    """``field`` is one of name, run_id, source, version, current_stage, or ``tag:<key>``;
    ``op`` one of ``=``, ``!=``, ``LIKE``, ``ILIKE``, ``IN``, ``NOT IN``."""

    field: str
    op: str
    value: str | int | tuple[str | int, ...]


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    stripped_end = len(text.rstrip())
    while pos < stripped_end:
        match = _TOKEN_RE.match(text, pos)
        if match is None or match.end() == pos:
            raise InvalidParameterError(
                f"cannot parse filter {text!r} at position {pos} ({text[pos : pos + 20]!r}); "
                + _GRAMMAR_HINT
            )
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _unquote(token: str) -> str:
    quote = token[0]
    body = token[1:-1].replace(quote * 2, quote)
    return re.sub(r"\\(.)", r"\1", body)


def _value(kind: str, token: str, text: str) -> str | int:
    if kind == "string":
        return _unquote(token)
    if kind == "number":
        return int(token)
    raise InvalidParameterError(
        f"filter {text!r}: expected a quoted value or a number, found {token!r}; " + _GRAMMAR_HINT
    )


def _field(token: str, text: str) -> str:
    lowered = token.lower()
    if lowered in _FIELDS:
        return _FIELDS[lowered]
    for prefix in ("tags.", "tag."):
        if lowered.startswith(prefix) and len(token) > len(prefix):
            key = token[len(prefix) :]
            return "tag:" + (key[1:-1] if key.startswith("`") and key.endswith("`") else key)
    raise InvalidParameterError(
        f"filter {text!r}: unknown field {token!r}; expected one of "
        f"{', '.join(sorted(_FIELDS))} or tags.<key>"
    )


def parse_filter(text: str | None) -> list[Condition]:
    """The conditions in ``text``; an empty or ``None`` filter matches everything."""
    if text is None or not text.strip():
        return []
    tokens = _tokens(text)
    conditions: list[Condition] = []
    i = 0

    def expect_more(what: str) -> tuple[str, str]:
        if i >= len(tokens):
            raise InvalidParameterError(
                f"filter {text!r} ends early; expected {what}; " + _GRAMMAR_HINT
            )
        return tokens[i]

    while True:
        kind, token = expect_more("a field name")
        if kind != "word":
            raise InvalidParameterError(
                f"filter {text!r}: expected a field name, found {token!r}; " + _GRAMMAR_HINT
            )
        field = _field(token, text)
        i += 1
        kind, token = expect_more("an operator")
        upper = token.upper()
        if kind == "op":
            op = "!=" if token == "<>" else token
            i += 1
        elif kind == "word" and upper in ("LIKE", "ILIKE", "IN"):
            op = upper
            i += 1
        elif kind == "word" and upper == "NOT":
            i += 1
            _, nxt = expect_more("IN")
            if nxt.upper() != "IN":
                raise InvalidParameterError(
                    f"filter {text!r}: expected IN after NOT, found {nxt!r}; " + _GRAMMAR_HINT
                )
            op = "NOT IN"
            i += 1
        else:
            raise InvalidParameterError(
                f"filter {text!r}: expected an operator (=, !=, LIKE, ILIKE, IN, NOT IN) "
                f"after {field!r}, found {token!r}"
            )
        if op in ("IN", "NOT IN"):
            kind, token = expect_more("'('")
            if token != "(":
                raise InvalidParameterError(
                    f"filter {text!r}: expected '(' after {op}, found {token!r}; " + _GRAMMAR_HINT
                )
            i += 1
            values: list[str | int] = []
            while True:
                kind, token = expect_more("a value")
                values.append(_value(kind, token, text))
                i += 1
                _, token = expect_more("',' or ')'")
                i += 1
                if token == ")":
                    break
                if token != ",":
                    raise InvalidParameterError(
                        f"filter {text!r}: expected ',' or ')' in the {op} list, found {token!r}"
                    )
            conditions.append(Condition(field, op, tuple(values)))
        else:
            kind, token = expect_more("a value")
            value = _value(kind, token, text)
            if op in ("LIKE", "ILIKE") and not isinstance(value, str):
                raise InvalidParameterError(
                    f"filter {text!r}: {op} needs a quoted pattern, found {token!r}"
                )
            conditions.append(Condition(field, op, value))
            i += 1
        if i == len(tokens):
            return conditions
        kind, token = tokens[i]
        if kind == "word" and token.upper() == "AND":
            i += 1
            continue
        if kind == "word" and token.upper() == "OR":
            raise InvalidParameterError(
                f"filter {text!r}: OR is not supported; run one search per alternative, "
                "or use IN (...) for alternatives of one field"
            )
        raise InvalidParameterError(
            f"filter {text!r}: expected AND between conditions, found {token!r}; " + _GRAMMAR_HINT
        )


def _like(pattern: str, case: bool) -> re.Pattern[str]:
    parts = ("." if ch == "_" else ".*" if ch == "%" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), 0 if case else re.IGNORECASE | re.DOTALL)


def matches(value: Any, condition: Condition) -> bool:
    """Whether ``value`` satisfies ``condition``, as the SQL store compares (for stores
    that filter in Python: the REST store after the server's coarser search, a toy)."""
    op, wanted = condition.op, condition.value
    if value is None:
        return False
    if op in ("IN", "NOT IN"):
        values = {str(v) for v in (wanted if isinstance(wanted, tuple) else (wanted,))}
        return (str(value) in values) == (op == "IN")
    if op == "=":
        return str(value) == str(wanted)
    if op == "!=":
        return str(value) != str(wanted)
    return bool(_like(str(wanted), op == "LIKE").fullmatch(str(value)))
