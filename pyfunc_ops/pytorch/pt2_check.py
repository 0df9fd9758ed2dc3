"""Whether a pt2 archive (``torch.export.save``) holds only what a plain export writes,
so that ``torch.export.load`` may open it from an untrusted place.

``torch.export.load`` unpickles some records with ``weights_only=False``, loads compiled
AOTInductor libraries and hands shape expressions to ``sympy.sympify`` (an ``eval``), so
every record is checked first: JSON with operator names under ``torch.ops`` and shape
expressions from a small grammar, raw tensor bytes, short text, or a ``torch.save`` file
whose pickle references tensor-building globals only (read with ``pickletools``, never
unpickled). Needs neither torch nor anything beyond the standard library.
"""

from __future__ import annotations

import io
import json
import pickletools
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyfunc_ops.errors import SerializationError

#: Short text records torch.export.save writes and never unpickles.
_TEXT_RECORDS = frozenset(
    {"version", "archive_format", "archive_version", "byteorder", "serialization_id"}
)
# At most one newline and ASCII only: no room for pickle opcodes.
_TEXT_CONTENT = re.compile(rb"[A-Za-z0-9._-]{1,64}\n?")
# Globals a torch.save of plain tensors references; nothing else may appear in an untrusted
# archive's pickles (each only builds a tensor, a storage or an ordered dict).
_TENSOR_GLOBALS = frozenset(
    {
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "collections.OrderedDict",
        "torch.storage.UntypedStorage",
        "torch.UntypedStorage",
        "torch.Size",
        *(
            f"torch.{kind}Storage"
            for kind in (
                "Float",
                "Double",
                "Half",
                "BFloat16",
                "Long",
                "Int",
                "Short",
                "Char",
                "Byte",
                "Bool",
                "ComplexFloat",
                "ComplexDouble",
            )
        ),
    }
)
_STRING_OPS = frozenset(
    {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE"}
    | {"BINUNICODE8"}
)
_MEMO_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_REFUSED_OPS = frozenset({"INST", "OBJ", "EXT1", "EXT2", "EXT4"})
# Graph operator names: torch.ops.<namespace>.<op>[.<overload>] (each part resolved with
# getattr from ``torch``, so no dunder may appear), or Python's operator and math functions.
_TARGET = re.compile(r"^(torch\.ops|_operator|math)(\.[A-Za-z0-9_]+)+$")
# What a shape expression (read with sympy.sympify, an eval) may contain: sympy's
# constructors torch writes, assumption keywords, symbol names, numbers.
_EXPR_WORDS = frozenset(
    {
        "Symbol",
        "Integer",
        "Rational",
        "Float",
        "Add",
        "Mul",
        "Pow",
        "Max",
        "Min",
        "Abs",
        "Eq",
        "Ne",
        "Lt",
        "Le",
        "Gt",
        "Ge",
        "And",
        "Or",
        "Not",
        "True",
        "False",
        "None",
        "oo",
        "floor",
        "ceiling",
        "sqrt",
        "positive",
        "negative",
        "nonnegative",
        "nonpositive",
        "integer",
        "real",
        "finite",
        "zero",
        "nonzero",
        "even",
        "odd",
        "FloorDiv",
        "ModularIndexing",
        "Where",
        "PythonMod",
        "Mod",
        "CleanDiv",
        "CeilToInt",
        "FloorToInt",
        "CeilDiv",
        "LShift",
        "RShift",
        "PowByNatural",
        "FloatPow",
        "FloatTrueDiv",
        "IntTrueDiv",
        "IsNonOverlappingAndDenseIndicator",
        "TruncToFloat",
        "TruncToInt",
        "RoundToInt",
        "RoundDecimal",
        "ToFloat",
        "Identity",
    }
)
_EXPR_NUMBER = re.compile(r"(?<![A-Za-z_0-9])\d+(\.\d+)?([eE][-+]?\d+)?")
_EXPR_QUOTED = re.compile(r"'[A-Za-z0-9_]*'|\"[A-Za-z0-9_]*\"")
_EXPR_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPR_SYMBOL = re.compile(r"^[a-z]+[0-9]+$")
_EXPR_REST = re.compile(r"^[\s+\-*/%(),=<>!]*$")


def _pickle_globals(data: bytes) -> set[str]:
    """The ``module.name`` globals a pickle stream references, read without unpickling it.
    A stream whose globals cannot be read statically raises ``ValueError`` (fail closed)."""
    found: set[str] = set()
    recent: list[str] = []
    for opcode, arg, _ in pickletools.genops(data):
        name = opcode.name
        if name in _REFUSED_OPS:
            raise ValueError(f"opcode {name}")
        if name == "GLOBAL":
            module, _, attr = str(arg).partition(" ")
            found.add(f"{module}.{attr}")
        elif name == "STACK_GLOBAL":
            if len(recent) < 2:
                raise ValueError("STACK_GLOBAL without literal operands")
            found.add(f"{recent[-2]}.{recent[-1]}")
            recent = []
        elif name in _STRING_OPS:
            recent.append(str(arg))
        elif name not in _MEMO_OPS:
            recent = []
    return found


def _check_torch_save(content: bytes) -> str | None:
    """Why a ``torch.save`` record may run code when loaded, or ``None``."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            pickles = [n for n in archive.namelist() if n.endswith(".pkl")]
            if not pickles:
                return "it is not a torch.save file of tensors"
            for member in pickles:
                extra = _pickle_globals(archive.read(member)) - _TENSOR_GLOBALS
                if extra:
                    return f"its pickle references {sorted(extra)}"
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        return f"it is neither JSON, raw tensor data nor a readable tensor pickle ({exc})"
    return None


def _walk_json(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a JSON document, depth first."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k), v
            yield from _walk_json(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _walk_json(v, key)


def _bad_expression(text: str) -> bool:
    """Whether a shape expression holds anything but what torch writes (see _EXPR_WORDS)."""
    rest = _EXPR_QUOTED.sub(" ", _EXPR_NUMBER.sub(" ", text))
    for word in _EXPR_WORD.findall(rest):
        if word not in _EXPR_WORDS and not _EXPR_SYMBOL.match(word):
            return True
    return not _EXPR_REST.match(_EXPR_WORD.sub(" ", rest))


def _check_graph_json(document: Any) -> str | None:
    """Why a JSON record would make ``torch.export.load`` run code, or ``None``."""
    for key, value in _walk_json(document):
        if key == "nodes" and isinstance(value, list):
            for node in value:
                target = node.get("target") if isinstance(node, dict) else None
                if target is None:
                    continue
                if not isinstance(target, str) or "__" in target or not _TARGET.match(target):
                    return f"its graph calls {target!r}, which is not a torch operator"
        elif key == "expr_str" and isinstance(value, str) and _bad_expression(value):
            return f"its shape expression {value[:80]!r} is not one torch writes"
        elif key == "range_constraints" and isinstance(value, dict):
            bad = next((k for k in value if _bad_expression(str(k))), None)
            if bad is not None:
                return f"its shape expression {bad[:80]!r} is not one torch writes"
    return None


def _raw_tensor_records(archive: zipfile.ZipFile) -> set[str]:
    """Records the payload configs declare raw tensor bytes (read without unpickling)."""
    raw: set[str] = set()
    pickled: set[str] = set()
    config = re.compile(r"(^|/)data/(weights|constants)/[^/]+_config\.json$")
    for name in archive.namelist():
        if not config.search(name):
            continue
        try:
            entries = json.loads(archive.read(name)).get("config") or {}
        except (ValueError, AttributeError):
            continue
        folder = name.rsplit("/", 1)[0]
        for entry in entries.values() if isinstance(entries, dict) else ():
            path_name = entry.get("path_name") if isinstance(entry, dict) else None
            if not isinstance(path_name, str) or "/" in path_name:
                continue
            record = f"{folder}/{path_name}"
            if entry.get("use_pickle") is False and path_name.startswith(("weight_", "tensor_")):
                raw.add(record)
            else:
                pickled.add(record)
    return raw - pickled


def pt2_code_reason(path: Path) -> str | None:
    """Why loading the pt2 archive ``path`` with ``torch.export.load`` could run code the
    archive brings, or ``None`` when it holds only what a plain export writes."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SerializationError(
            f"{path}: not a pt2 archive (a zip file written by torch.export.save): {exc}. "
            "Restore the file, or save the model again."
        ) from exc
    with archive:
        raw = _raw_tensor_records(archive)
        for info in archive.infolist():
            name = info.filename
            if info.is_dir() or name in raw:
                continue
            if "/aotinductor/" in f"/{name}" or name.endswith((".so", ".dll", ".dylib")):
                return f"its record {name!r} is compiled AOTInductor code"
            content = archive.read(info)
            if name.rsplit("/", 1)[-1] in _TEXT_RECORDS and _TEXT_CONTENT.fullmatch(content):
                continue
            try:
                document = json.loads(content.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                why = _check_torch_save(content)
            else:
                why = _check_graph_json(document)
            if why is not None:
                return f"its record {name!r}: {why}"
    return None


__all__ = ["pt2_code_reason"]
