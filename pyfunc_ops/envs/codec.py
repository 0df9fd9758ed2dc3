"""Model inputs and params as they cross to a scoring worker: a JSON tree plus buffers.

``PyFuncModel.predict`` hands a model whatever the signature lets through: a DataFrame,
an ndarray or a dict of them (tensor signatures), and, without a signature, lists, dicts
and scalars too; params may hold datetimes. The worker must receive the same Python
types, dtypes and shapes, so a value is encoded as a *node* (JSON) whose bulk data lives
in separate binary buffers (the message body). Nothing here pickles: the worker never
unpickles what its caller sends (results, in the other direction, may travel pickled:
the caller trusts its own worker, see :mod:`pyfunc_ops.envs.protocol`).

Nodes:

* JSON ``null``, ``true``/``false``, strings, integers and floats (``NaN``/``Infinity``
  as Python's ``json`` writes them) are ``None``, ``bool``, ``str``, ``int``, ``float``.
* A JSON array is a ``list`` of the values of its nodes.
* A JSON object is always a tagged value ``{"$": tag, ...}``:

  - ``dict``: ``{"v": {key: node}}`` when every key is a ``str``, else
    ``{"items": [[key node, value node], ...]}``; ``tuple``: ``{"v": [node, ...]}``.
  - ``ndarray``: ``{"dtype", "shape", "order", "buf"}``, the raw bytes of an array of any
    dtype without Python objects (numbers, bool, complex, datetime64/timedelta64,
    fixed-width str/bytes, structured), ``dtype`` as ``numpy.lib.format`` writes it
    (byte order kept), ``order`` ``"F"`` for a Fortran-ordered array. Arrays arrive
    writable and aligned, as the caller's were.
  - ``ndarray`` of dtype object (the explicit fallback): ``{"dtype": "|O", "shape",
    "arrow": buf}`` when every element is a ``str`` (or every one ``bytes``), ``None``
    allowed (an Arrow array); else ``{"dtype": "|O", "shape", "items": [node, ...]}``,
    each element a node of its own (so its type survives), refused when an element is
    of a type not listed here.
  - ``npscalar``: a numpy scalar (``np.float32(1)``, ``np.datetime64(...)``) as a 0-d
    ``ndarray`` node (``"array"``), rebuilt as the scalar.
  - ``frame``: a DataFrame as an Arrow IPC stream (``buf``); ``series``: a Series as a
    one-column frame (``buf``) and its ``name`` (a node).
  - ``bytes``: ``{"buf"}``; ``decimal``: ``{"v": str}``.
  - ``datetime``, ``date``, ``time``: ``{"iso": isoformat}`` (a timezone offset kept);
    ``timedelta``: ``{"days", "seconds", "microseconds"}``.
  - ``timestamp``: a ``pandas.Timestamp`` (``{"iso", "tz"}``, nanoseconds and the zone
    name kept); ``pd_timedelta``: ``{"ns"}``; ``nat`` and ``na``: ``pandas.NaT`` and
    ``pandas.NA``.

Anything else (a scipy sparse matrix, an ndarray subclass, a custom class) is refused
with a :class:`SerializationError` naming where it sits (``input['a'][2]``). This module
runs on both sides, so it needs only numpy, pandas and pyarrow.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any, Literal

from pyfunc_ops.errors import SerializationError

TAG = "$"
SUPPORTED = (
    "DataFrame, Series, numpy arrays and scalars, dict, list, tuple, str, int, float, bool, "
    "None, bytes, Decimal, datetime/date/time/timedelta and pandas Timestamp/Timedelta"
)
_PLAIN = (str, int, float, bool, type(None))


class Buffers:
    """The binary buffers of one message, laid out 64-byte aligned in its body."""

    ALIGN = 64

    def __init__(self) -> None:
        self.parts: list[Any] = []
        self.spans: list[list[int]] = []
        self.size = 0

    def add(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        pad = -self.size % self.ALIGN
        if pad:
            self.parts.append(b"\0" * pad)
        self.parts.append(view)
        self.spans.append([self.size + pad, view.nbytes])
        self.size += pad + view.nbytes
        return len(self.spans) - 1


class _Refused(Exception):
    """A value the encoding cannot carry; ``where`` grows as the error rises."""

    def __init__(self, what: str, hint: str = "") -> None:
        super().__init__(what)
        self.what, self.hint, self.where = what, hint, ""


def encode(value: Any, buffers: Buffers, root: str = "input") -> Any:
    """``value`` as a node, its bulk data appended to ``buffers``; raises
    :class:`SerializationError` naming the part (under ``root``) that cannot cross."""
    try:
        return _encode(value, buffers)
    except _Refused as exc:
        raise SerializationError(
            f"{root}{exc.where} is {exc.what}, which cannot be sent to the scoring worker; "
            f"the worker protocol carries {SUPPORTED}. {exc.hint or 'Convert it to one of those'}"
            ", or load the model with env_manager='local'."
        ) from None


def _refuse_type(value: Any) -> _Refused:
    kind = type(value)
    name = f"a {kind.__module__}.{kind.__qualname__}"
    if hasattr(value, "toarray"):
        return _Refused(name, "Convert it to a dense array with .toarray()")
    import numpy as np

    if isinstance(value, np.ndarray):
        return _Refused(f"{name} (an ndarray subclass)", "Convert it with numpy.asarray()")
    return _Refused(name)


def _at(where: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except _Refused as exc:
        exc.where = where + exc.where
        raise


def _encode(value: Any, buffers: Buffers) -> Any:
    import numpy as np
    import pandas as pd

    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is list:
        return [_at(f"[{i}]", _encode, v, buffers) for i, v in enumerate(value)]
    if kind is tuple:
        return {
            TAG: "tuple",
            "v": [_at(f"[{i}]", _encode, v, buffers) for i, v in enumerate(value)],
        }
    if kind is dict:
        if all(type(k) is str for k in value):
            return {
                TAG: "dict",
                "v": {k: _at(f"[{k!r}]", _encode, v, buffers) for k, v in value.items()},
            }
        return {
            TAG: "dict",
            "items": [
                [_at(f" key {k!r}", _encode, k, buffers), _at(f"[{k!r}]", _encode, v, buffers)]
                for k, v in value.items()
            ],
        }
    if kind is np.ndarray:
        return _encode_array(value, buffers)
    if isinstance(value, np.generic):
        return {TAG: "npscalar", "array": _encode_array(np.asarray(value), buffers)}
    if kind is pd.DataFrame:
        return {TAG: "frame", "buf": buffers.add(_frame_buffer(value, "DataFrame"))}
    if kind is pd.Series:
        name = _at(".name", _encode, value.name, buffers)
        return {
            TAG: "series",
            "name": name,
            "buf": buffers.add(_frame_buffer(value.to_frame("values"), "Series")),
        }
    if kind is bytes:
        return {TAG: "bytes", "buf": buffers.add(value)}
    if kind is decimal.Decimal:
        return {TAG: "decimal", "v": str(value)}
    if value is pd.NaT:
        return {TAG: "nat"}
    if value is pd.NA:
        return {TAG: "na"}
    if kind is pd.Timestamp:
        return {
            TAG: "timestamp",
            "iso": value.isoformat(),
            "tz": str(value.tz) if value.tz else None,
        }
    if kind is pd.Timedelta:
        return {TAG: "pd_timedelta", "ns": value.value}
    if kind is datetime.datetime:
        return {TAG: "datetime", "iso": value.isoformat()}
    if kind is datetime.date:
        return {TAG: "date", "iso": value.isoformat()}
    if kind is datetime.time:
        return {TAG: "time", "iso": value.isoformat()}
    if kind is datetime.timedelta:
        return {
            TAG: "timedelta",
            "days": value.days,
            "seconds": value.seconds,
            "microseconds": value.microseconds,
        }
    raise _refuse_type(value)


def _encode_array(array: Any, buffers: Buffers) -> dict[str, Any]:
    import numpy as np

    shape = list(array.shape)
    if array.dtype == np.dtype(object):
        return {TAG: "ndarray", "dtype": "|O", "shape": shape, **_encode_objects(array, buffers)}
    if array.dtype.hasobject:
        raise _Refused(
            f"a structured array with object fields ({array.dtype})",
            "Give every field a fixed-size dtype",
        )
    fortran = array.flags.f_contiguous and not array.flags.c_contiguous
    order: Literal["C", "F"] = "F" if fortran else "C"
    data = array if fortran else np.ascontiguousarray(array)
    return {
        TAG: "ndarray",
        "dtype": np.lib.format.dtype_to_descr(array.dtype),
        "shape": shape,
        "order": order,
        "buf": buffers.add(data.reshape(-1, order=order).view(np.uint8) if data.size else b""),
    }


def _encode_objects(array: Any, buffers: Buffers) -> dict[str, Any]:
    """Elements of an object array: one Arrow array when they are all str (or all bytes)
    or None, which comes back as the same objects; else one node each."""
    import pyarrow as pa

    flat = array.reshape(-1)
    kinds = {type(v) for v in flat} - {type(None)}
    if kinds == {str} or kinds == {bytes}:
        arrow = pa.array(flat, type=pa.large_string() if kinds == {str} else pa.large_binary())
        return {"arrow": buffers.add(_table_ipc(pa.table({"values": arrow})))}
    return {"items": [_at(f"[{i}]", _encode, v, buffers) for i, v in enumerate(flat)]}


def decode(node: Any, body: Any, spans: list[list[int]]) -> Any:
    """The value of ``node`` (see :func:`encode`); ``body`` is the message body (a
    writable buffer, so arrays built on it are writable) and ``spans`` its buffers."""
    return _Decoder(body, spans).decode(node)


class _Decoder:
    """Rebuilds values from their nodes over one message body."""

    def __init__(self, body: Any, spans: list[list[int]]) -> None:
        self._view = memoryview(body)
        self._spans = spans

    def buf(self, index: int) -> memoryview:
        offset, size = self._spans[index]
        return self._view[offset : offset + size]

    def decode(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict):
            return node
        tag = node[TAG]
        if tag == "dict":
            if "v" in node:
                return {k: self.decode(v) for k, v in node["v"].items()}
            return {self.decode(k): self.decode(v) for k, v in node["items"]}
        if tag == "tuple":
            return tuple(self.decode(v) for v in node["v"])
        if tag == "ndarray":
            return self.array(node)
        if tag == "npscalar":
            return self.array(node["array"])[()]
        if tag == "frame":
            return ipc_to_frame(self.buf(node["buf"]))
        if tag == "series":
            values = ipc_to_frame(self.buf(node["buf"]))["values"]
            return values.rename(self.decode(node["name"]))
        if tag == "bytes":
            return bytes(self.buf(node["buf"]))
        return _decode_scalar(tag, node)

    def array(self, node: dict[str, Any]) -> Any:
        import numpy as np

        shape = tuple(node["shape"])
        if node["dtype"] == "|O":
            if "arrow" in node:
                column = _ipc_table(self.buf(node["arrow"])).column(0)
                flat = column.to_numpy(zero_copy_only=False).astype(object)
            else:
                flat = np.empty(len(node["items"]), dtype=object)
                for i, item in enumerate(node["items"]):
                    flat[i] = self.decode(item)
            return flat.reshape(shape)
        dtype = np.lib.format.descr_to_dtype(node["dtype"])
        data = self.buf(node["buf"])
        if not data.nbytes:
            return np.empty(shape, dtype=dtype)
        return np.frombuffer(data, dtype=dtype).reshape(shape, order=node.get("order", "C"))


def _decode_scalar(tag: str, node: dict[str, Any]) -> Any:
    import pandas as pd

    if tag == "decimal":
        return decimal.Decimal(node["v"])
    if tag == "nat":
        return pd.NaT
    if tag == "na":
        return pd.NA
    if tag == "timestamp":
        stamp = pd.Timestamp(node["iso"])
        return stamp.tz_convert(node["tz"]) if node.get("tz") else stamp
    if tag == "pd_timedelta":
        return pd.Timedelta(node["ns"], unit="ns")
    if tag == "datetime":
        return datetime.datetime.fromisoformat(node["iso"])
    if tag == "date":
        return datetime.date.fromisoformat(node["iso"])
    if tag == "time":
        return datetime.time.fromisoformat(node["iso"])
    if tag == "timedelta":
        return datetime.timedelta(
            days=node["days"], seconds=node["seconds"], microseconds=node["microseconds"]
        )
    raise SerializationError(
        f"The worker protocol has no value tagged {tag!r}; the caller and the worker run "
        "different pyfunc_ops versions. Rebuild the model's environment."
    )


def _frame_buffer(frame: Any, label: str) -> Any:
    import pyarrow as pa

    try:
        return frame_ipc_buffer(frame)
    except (ValueError, TypeError, pa.ArrowException) as exc:
        raise _Refused(
            f"a {label} that Arrow cannot hold ({exc})",
            "Give every column a single type",
        ) from None


def frame_ipc_buffer(frame: Any) -> Any:
    """A DataFrame as an Arrow IPC stream (index, dtypes and column names in its pandas
    metadata), as a ``pyarrow.Buffer`` (no copy)."""
    import pyarrow as pa

    return _table_ipc(pa.Table.from_pandas(frame))


def ipc_to_frame(body: Any) -> Any:
    return _ipc_table(body).to_pandas()


def _table_ipc(table: Any) -> Any:
    """``table`` as one Arrow IPC stream, a ``pyarrow.Buffer``."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _ipc_table(body: Any) -> Any:
    import pyarrow as pa

    return pa.ipc.open_stream(body).read_all()
