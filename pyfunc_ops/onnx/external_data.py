"""The external data check of an ONNX model: every tensor stored as external data names
its file by a path inside the graph, and each such path must stay inside the model folder
and exist, checked before onnx or onnxruntime opens anything.

It walks the protobuf wire format itself (no ``import onnx``), so the pyfunc load path
needs onnxruntime only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyfunc_ops.core.paths import confine
from pyfunc_ops.errors import ModelFormatError, SerializationError

# Which fields of which ONNX message lead to tensors (onnx.proto field numbers): the
# external data check walks the protobuf wire format itself, so the pyfunc load needs
# onnxruntime only (``import onnx`` costs several times onnxruntime's import).
_MODEL, _GRAPH, _NODE, _ATTRIBUTE, _SPARSE, _FUNCTION, _TRAINING, _TENSOR = range(8)
_CHILDREN: dict[int, dict[int, int]] = {
    _MODEL: {7: _GRAPH, 20: _TRAINING, 25: _FUNCTION},
    _GRAPH: {1: _NODE, 5: _TENSOR, 15: _SPARSE},
    _NODE: {5: _ATTRIBUTE},
    _ATTRIBUTE: {5: _TENSOR, 6: _GRAPH, 10: _TENSOR, 11: _GRAPH, 22: _SPARSE, 23: _SPARSE},
    _SPARSE: {1: _TENSOR, 2: _TENSOR},
    _FUNCTION: {7: _NODE, 11: _ATTRIBUTE},
    _TRAINING: {1: _GRAPH, 2: _GRAPH},
}
_MAX_DEPTH = 64  # nested subgraphs; deeper is no model anyone wrote


class _WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _WireError(f"truncated or overlong varint at byte {pos}")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data: memoryview) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message: an int, or a memoryview slice."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, kind = tag >> 3, tag & 7
        if kind == 0:
            value, pos = _varint(data, pos)
            yield number, kind, value
            continue
        if kind == 2:
            size, pos = _varint(data, pos)
        elif kind in (1, 5):
            size = 8 if kind == 1 else 4
        else:
            raise _WireError(f"unsupported wire type {kind} at byte {pos}")
        if pos + size > len(data):
            raise _WireError(f"field {number} runs past the end of its message")
        yield number, kind, data[pos : pos + size]
        pos += size


def external_locations(
    data: memoryview, kind: int = _MODEL, depth: int = 0
) -> Iterator[tuple[str, str]]:
    """(tensor name, external data location) of every tensor that names a data file,
    in the graph, its subgraphs, functions and training graphs."""
    if depth > _MAX_DEPTH:
        raise _WireError("subgraphs nest deeper than any real model")
    if kind == _TENSOR:
        name, location = "", None
        for number, wire, value in _fields(data):
            if number == 8 and wire == 2:
                name = bytes(value).decode("utf-8", "replace")
            elif number == 13 and wire == 2:
                entry = {n: bytes(v) for n, w, v in _fields(value) if w == 2}
                if entry.get(1) == b"location":
                    location = entry.get(2, b"").decode("utf-8", "replace")
        if location is not None:
            yield name, location
        return
    children = _CHILDREN[kind]
    for number, wire, value in _fields(data):
        child = children.get(number)
        if child is not None and wire == 2:
            yield from external_locations(value, child, depth + 1)


def check_external_data(file: Path, folder: Path) -> None:
    """Refuse a graph whose external data files (``location`` entries) leave ``folder`` or
    are missing, naming the tensor, before onnx or onnxruntime opens any of them."""
    import mmap

    base = file.parent
    try:
        with open(file, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            view = memoryview(mm)
            try:
                found = list(external_locations(view))
            finally:
                view.release()
    except (_WireError, ValueError, OSError) as exc:
        raise SerializationError(
            f"{file}: not a readable ONNX model ({exc}). Restore the file, or save the model again."
        ) from exc
    for tensor, location in found:
        key = f"{file.name} tensor {tensor!r} external data location"
        if not location:
            raise ModelFormatError(f"{file}: {key} is empty. Save the model again.")
        # Relative to model.onnx, and inside the model folder whatever links it crosses.
        target = confine(folder, os.path.relpath(base / location, folder), key=key)
        if not target.is_file():
            raise ModelFormatError(
                f"{file}: {key} names {location!r}, but {target} does not exist. Restore the "
                "model's data files (they travel beside model.onnx), or save it again."
            )


__all__ = ["check_external_data", "external_locations"]
