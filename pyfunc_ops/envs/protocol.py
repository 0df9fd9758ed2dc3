"""The worker protocol: messages over a pipe, data as Arrow IPC streams.

A message is two length-prefixed frames: a small JSON header, then a body (an Arrow IPC
stream, possibly empty). Requests are ``{"op": "predict", "params": ...}`` with the input
DataFrame as body; replies are ``{"ok": true, "kind": ...}`` with the predictions as body,
or ``{"ok": false, "error": ..., "traceback": ...}``. The worker greets with a reply once
its model is loaded. Results are always sent as a table; ``kind`` says how to rebuild the
ndarray, Series or list the model returned (anything else travels pickled).

This module runs on both sides, so it only needs pyarrow, pandas and numpy.
"""

from __future__ import annotations

import json
import pickle
import struct
from typing import IO, Any

_LEN = struct.Struct("<Q")


def _write_frame(stream: IO[bytes], data: bytes) -> None:
    stream.write(_LEN.pack(len(data)))
    stream.write(data)


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise EOFError("the pipe closed in the middle of a message")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream: IO[bytes], first: bool = False) -> bytes:
    head = stream.read(_LEN.size)
    if not head and first:
        raise EOFError("the pipe is closed")
    if len(head) < _LEN.size:
        head += _read_exact(stream, _LEN.size - len(head))
    return _read_exact(stream, _LEN.unpack(head)[0])


def write_message(stream: IO[bytes], header: dict[str, Any], body: bytes = b"") -> None:
    _write_frame(stream, json.dumps(header).encode())
    _write_frame(stream, body)
    stream.flush()


def read_message(stream: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    """The next message; ``EOFError`` when the other side closed the pipe."""
    header = json.loads(_read_frame(stream, first=True))
    return header, _read_frame(stream)


def frame_to_ipc(frame: Any) -> bytes:
    import pyarrow as pa

    table = pa.Table.from_pandas(frame)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def ipc_to_frame(body: bytes) -> Any:
    import pyarrow as pa

    return pa.ipc.open_stream(body).read_all().to_pandas()


def encode_result(result: Any) -> tuple[dict[str, Any], bytes]:
    """A model's predictions as (header, body); pickled when Arrow cannot hold them."""
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
            return header, frame_to_ipc(frame)
        except (ValueError, TypeError, pa.ArrowException):
            pass  # e.g. mixed-type objects: fall back to pickle below
    return {"ok": True, "kind": "pickle"}, pickle.dumps(result, protocol=4)


def decode_result(header: dict[str, Any], body: bytes) -> Any:
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
