"""The worker protocol: messages over a pipe, data as Arrow IPC streams and raw buffers.

A message is two length-prefixed frames: a small JSON header, then a body (possibly
empty). Requests are ``{"op": "predict", "input": node, "params": node, "buffers":
[[offset, size], ...]}``: the model input and the params encoded by
:mod:`pyfunc_ops.envs.codec` (DataFrames as Arrow IPC, ndarrays as raw bytes with dtype
and shape, dicts, lists and scalars in the JSON, datetimes tagged ``{"$": "datetime",
"iso": ...}``), the body holding the buffers the nodes point at; nothing the caller
sends is ever unpickled by the worker. Both sides always run the same pyfunc_ops (the
environment holds the caller's own code, see :mod:`pyfunc_ops.envs.builder`), so there
is one request format. Replies are ``{"ok": true,
"kind": ...}`` with the predictions as body, or ``{"ok": false, "error": ...,
"traceback": ...}``. The worker greets with a reply once its model is loaded. Results
are sent as a table; ``kind`` says how to rebuild the ndarray, Series or list the model
returned (anything else travels pickled: the caller trusts its own worker).

This module runs on both sides, so it only needs pyarrow, pandas and numpy.
"""

from __future__ import annotations

import json
import pickle
import struct
from collections.abc import Sequence
from typing import IO, Any

from pyfunc_ops.envs import codec
from pyfunc_ops.envs.codec import frame_ipc_buffer, ipc_to_frame
from pyfunc_ops.errors import InvalidParameterError, SerializationError

_LEN = struct.Struct("<Q")


def _write_frame(stream: IO[bytes], parts: Sequence[Any]) -> None:
    stream.write(_LEN.pack(sum(memoryview(p).nbytes for p in parts)))
    for part in parts:
        stream.write(part)


def _read_exact(stream: IO[bytes], size: int) -> bytearray:
    """``size`` bytes into one writable buffer (arrays decoded on it are writable)."""
    data = bytearray(size)
    view, done = memoryview(data), 0
    while done < size:
        got = stream.readinto(view[done:])  # type: ignore[attr-defined]
        if not got:
            raise EOFError("the pipe closed in the middle of a message")
        done += got
    return data


def _read_frame(stream: IO[bytes], first: bool = False) -> bytearray:
    head = stream.read(_LEN.size)
    if not head and first:
        raise EOFError("the pipe is closed")
    if len(head) < _LEN.size:
        head += _read_exact(stream, _LEN.size - len(head))
    return _read_exact(stream, _LEN.unpack(head)[0])


def write_message(stream: IO[bytes], header: dict[str, Any], body: Any = b"") -> None:
    """Send one message; ``body`` is one buffer (bytes, a ``pyarrow.Buffer``, ...) or a
    list or tuple of buffers sent back to back."""
    _write_frame(stream, [json.dumps(header).encode()])
    _write_frame(stream, body if isinstance(body, (list, tuple)) else [body])
    stream.flush()


def read_message(stream: IO[bytes]) -> tuple[dict[str, Any], bytearray]:
    """The next message; ``EOFError`` when the other side closed the pipe."""
    header = json.loads(_read_frame(stream, first=True))
    return header, _read_frame(stream)


def encode_request(data: Any, params: dict[str, Any] | None) -> tuple[dict[str, Any], list[Any]]:
    """A predict request for ``data`` and ``params`` as (header, body parts).

    Raises :class:`InvalidParameterError` for params and :class:`SerializationError` for
    the input, naming the part (``params[...]``, ``input[...]``) that cannot cross."""
    buffers = codec.Buffers()
    try:
        params_node = codec.encode(params, buffers, "params")
    except SerializationError as exc:
        raise InvalidParameterError(
            "predict: params must be JSON-serialisable, or values the worker protocol tags "
            f"(datetimes, numpy scalars and arrays, ...), to reach the scoring worker: {exc}"
        ) from None
    try:
        node = codec.encode(data, buffers, "input")
    except SerializationError as exc:
        raise SerializationError(f"predict: {exc}") from None
    header = {"op": "predict", "input": node, "params": params_node, "buffers": buffers.spans}
    return header, buffers.parts


def decode_request(header: dict[str, Any], body: Any) -> tuple[Any, dict[str, Any] | None]:
    """The (input, params) of a predict request, as the caller had them."""
    spans = header.get("buffers") or []
    return (
        codec.decode(header["input"], body, spans),
        codec.decode(header.get("params"), body, spans),
    )


def encode_result(result: Any) -> tuple[dict[str, Any], Any]:
    """A model's predictions as (header, body: a buffer, not copied into bytes); pickled
    when Arrow cannot hold them."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    header: dict[str, Any] = {"ok": True}
    frame = None
    if isinstance(result, pd.DataFrame):
        header["kind"], frame = "frame", result
    elif isinstance(result, pd.Series):
        name = result.name if isinstance(result.name, (str, int, float, type(None))) else None
        header.update(kind="series", name=name)
        frame = pd.DataFrame({"values": result})
    elif isinstance(result, (np.ndarray, list)):
        try:
            array = np.asarray(result)
        except ValueError:  # ragged nested lists
            array = None
        if array is not None:
            kind = "list" if isinstance(result, list) else "ndarray"
            header.update(kind=kind, shape=list(array.shape))
            frame = pd.DataFrame({"values": array.reshape(-1)})
    if frame is not None:
        try:
            return header, frame_ipc_buffer(frame)
        except (ValueError, TypeError, pa.ArrowException):
            pass  # e.g. mixed-type objects: fall back to pickle below
    return {"ok": True, "kind": "pickle"}, pickle.dumps(result, protocol=4)


def decode_result(header: dict[str, Any], body: bytes | bytearray) -> Any:
    kind = header["kind"]
    if kind == "pickle":
        return pickle.loads(body)
    frame = ipc_to_frame(body)
    if kind == "frame":
        return frame
    values = frame["values"]
    if kind == "series":
        return values.rename(header.get("name"))
    array = values.to_numpy().reshape(header["shape"])
    return array.tolist() if kind == "list" else array
