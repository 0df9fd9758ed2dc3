"""The worker protocol on its own: framing, request and result round-trips, no processes."""

from __future__ import annotations

import datetime
import decimal
import io
import json
import math

import numpy as np
import pandas as pd
import pytest

from pyfunc_ops.envs import protocol
from pyfunc_ops.errors import InvalidParameterError, SerializationError
from pyfunc_ops.models.signature import Object, ParamSchema, ParamSpec, Property, enforce_params


def _round_trip(result: object) -> object:
    header, body = protocol.encode_result(result)
    stream = io.BytesIO()
    protocol.write_message(stream, header, body)
    stream.seek(0)
    header, body = protocol.read_message(stream)
    return protocol.decode_result(header, body)


def test_messages_follow_each_other_and_end_with_eof() -> None:
    stream = io.BytesIO()
    protocol.write_message(stream, {"op": "a"}, b"xyz")
    protocol.write_message(stream, {"op": "b"})
    stream.seek(0)
    assert protocol.read_message(stream) == ({"op": "a"}, b"xyz")
    assert protocol.read_message(stream) == ({"op": "b"}, b"")
    with pytest.raises(EOFError, match="closed"):
        protocol.read_message(stream)


def test_truncated_message_is_an_eof() -> None:
    stream = io.BytesIO()
    protocol.write_message(stream, {"op": "a"}, b"0123456789")
    stream = io.BytesIO(stream.getvalue()[:-3])
    with pytest.raises(EOFError, match="middle of a message"):
        protocol.read_message(stream)


def test_frame_keeps_dtypes_index_and_column_names() -> None:
    frame = pd.DataFrame(
        {"i": np.array([1, 2], dtype="int32"), "s": ["a", "b"], "b": [True, False]},
        index=[7, 9],
    )
    pd.testing.assert_frame_equal(_round_trip(frame), frame)
    unnamed = pd.DataFrame(np.ones((2, 3)))  # integer column names, as from an ndarray
    pd.testing.assert_frame_equal(_round_trip(unnamed), unnamed)


def test_series_keeps_name_and_index() -> None:
    series = pd.Series([1.5, 2.5], index=[4, 5], name="score")
    pd.testing.assert_series_equal(_round_trip(series), series)


def test_ndarrays_keep_shape_and_dtype() -> None:
    for array in (
        np.arange(12, dtype="int64").reshape(2, 3, 2),
        np.array(["x", "y"], dtype=object),
        np.array([0.5, 1.5], dtype="float32"),
    ):
        back = _round_trip(array)
        assert isinstance(back, np.ndarray)
        np.testing.assert_array_equal(back, array)
        assert back.shape == array.shape
        assert back.dtype == array.dtype


def test_lists_and_other_objects() -> None:
    assert _round_trip([1, 2, 3]) == [1, 2, 3]
    assert _round_trip([[1, 2], [3]]) == [[1, 2], [3]]  # ragged: pickled
    assert _round_trip(np.array([1, "a", None], dtype=object)).tolist() == [1, "a", None]
    assert _round_trip({"a": 1}) == {"a": 1}
    assert _round_trip(None) is None


# --------------------------------------------------------------------------- requests


def _request(data: object, params: dict[str, object] | None = None) -> tuple[object, object]:
    """``data`` and ``params`` through a predict request, framing included."""
    header, body = protocol.encode_request(data, params)
    stream = io.BytesIO()
    protocol.write_message(stream, header, body)
    stream.seek(0)
    header, body = protocol.read_message(stream)
    json.dumps(header)  # the header is plain JSON
    return protocol.decode_request(header, body)


def _same(back: object, sent: object) -> None:
    """Equal, and of the very same types (recursively), dtypes and shapes."""
    assert type(back) is type(sent), (back, sent)
    if isinstance(sent, np.ndarray):
        assert isinstance(back, np.ndarray)
        assert (back.dtype, back.shape) == (sent.dtype, sent.shape)
        assert back.flags.writeable and back.flags.aligned
        if sent.dtype == object:
            for b, s in zip(back.reshape(-1), sent.reshape(-1), strict=True):
                _same(b, s)
        else:
            np.testing.assert_array_equal(back, sent)
    elif isinstance(sent, pd.DataFrame):
        pd.testing.assert_frame_equal(back, sent)  # type: ignore[arg-type]
    elif isinstance(sent, pd.Series):
        pd.testing.assert_series_equal(back, sent)  # type: ignore[arg-type]
    elif isinstance(sent, dict):
        assert isinstance(back, dict) and list(back) == list(sent)
        for key in sent:
            _same(back[key], sent[key])
    elif isinstance(sent, (list, tuple)):
        assert isinstance(back, (list, tuple)) and len(back) == len(sent)
        for b, s in zip(back, sent, strict=True):
            _same(b, s)
    elif isinstance(sent, float) and math.isnan(sent):
        assert isinstance(back, float) and math.isnan(back)
    else:
        assert back == sent


ARRAYS = [
    np.arange(24, dtype="int64").reshape(2, 3, 4),
    np.arange(6, dtype=">i4").reshape(3, 2),  # big-endian stays big-endian
    np.array([0.5, np.nan, -np.inf], dtype="float16"),
    np.array([[1 + 2j, 3 - 4j]], dtype="complex128"),
    np.array([True, False, True]),
    np.array(["2024-01-02T03:04:05.000000006", "NaT"], dtype="datetime64[ns]"),
    np.array([1, -2], dtype="timedelta64[s]"),
    np.array([["ab", "cde"], ["", "f"]], dtype="U3"),
    np.array([b"ab", b"c"], dtype="S2"),
    np.array([(1, (2.5, "x"))], dtype=[("a", "<i4"), ("b", [("c", "<f8"), ("d", "<U2")])]),
    np.array(3.5, dtype="float32"),  # 0-d
    np.zeros((0, 3), dtype="float32"),  # empty
    np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    np.arange(20, dtype="uint8").reshape(4, 5)[:, ::2],  # not contiguous
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}{a.shape}")
def test_ndarrays_cross_with_dtype_shape_and_values(array: np.ndarray) -> None:
    back, params = _request(array)
    _same(back, array)
    assert params is None
    if array.flags.f_contiguous and not array.flags.c_contiguous:
        assert isinstance(back, np.ndarray) and back.flags.f_contiguous


def test_object_arrays_keep_every_element_type() -> None:
    strings = np.array([["a", None], ["ccc", "dd"]], dtype=object)  # the Arrow path
    blobs = np.array([b"x", None, b""], dtype=object)
    mixed = np.array([1, "a", None, 2.5, np.float32(3), np.nan, b"z"], dtype=object)
    ragged = np.empty(2, dtype=object)  # a batch of variable-length tensors
    ragged[0], ragged[1] = np.arange(3), np.arange(5.0)
    for array in (strings, blobs, mixed, ragged):
        back, _ = _request(array)
        _same(back, array)


def test_dicts_lists_and_scalars_cross_unchanged() -> None:
    now = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456)
    values: list[object] = [
        {"a": np.ones((2, 2), dtype="float32"), "b": np.array(["x", "y"])},  # tensors
        [1, 2.5, "three", None, True, [4, [5]]],
        {"s": "x", 3: [1, 2], (1, 2): {"nested": (3, 4)}},  # keys of any type
        (1, "a"),
        7,
        2.5,
        float("nan"),
        "text",
        None,
        False,
        b"\x00bytes",
        decimal.Decimal("1.10"),
        np.float32(1.5),
        np.int8(-3),
        np.datetime64("2024-01-01T00:00:00.5"),
        now,
        now.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        now.date(),
        now.time(),
        datetime.timedelta(days=-1, seconds=5, microseconds=7),
        pd.Timestamp("2024-01-01 10:00:00.000000001", tz="Europe/Paris"),
        pd.Timedelta(1, unit="ns"),
        pd.NaT,
        pd.NA,
        pd.Series([1.5, None], index=["r1", "r2"], name=("a", 1)),
        pd.DataFrame({"x": [1, 2], "when": pd.to_datetime(["2024-01-01", "2024-01-02"])}),
        {"frame": pd.DataFrame({"y": ["a"]}), "rows": [np.arange(2), np.arange(3)]},
    ]
    for value in values:
        back, _ = _request(value)
        if value is pd.NaT or value is pd.NA:
            assert back is value
        else:
            _same(back, value)
    timestamp = _request(values[20])[0]
    assert isinstance(timestamp, pd.Timestamp) and str(timestamp.tz) == "Europe/Paris"


def test_params_of_every_declarable_type_keep_their_python_types() -> None:
    schema = ParamSchema(
        [
            ParamSpec("when", "datetime", datetime.datetime(2024, 1, 1)),
            ParamSpec("day", "datetime", None),
            ParamSpec("days", "datetime", [datetime.date(2024, 1, 1)], (-1,)),
            ParamSpec("flag", "boolean", True),
            ParamSpec("n", "integer", 1),
            ParamSpec("big", "long", 2),
            ParamSpec("ratio", "float", 0.5),
            ParamSpec("scale", "double", 1.5),
            ParamSpec("name", "string", "x"),
            ParamSpec("ids", "long", [1, 2], (-1,)),
            ParamSpec("words", "string", ["a"], (-1,)),
            ParamSpec("cfg", Object((Property("a", "long"), Property("b", "string"))), None),
        ]
    )
    given = {
        "when": "2024-05-06T07:08:09.123456",
        "day": datetime.date(2024, 2, 3),
        "days": ["2024-01-01", datetime.datetime(2024, 1, 1, 5)],
        "ids": np.array([3, 4]),
        "cfg": {"a": 1, "b": "y"},
        "ratio": np.float32(0.25),
    }
    params = enforce_params(given, schema)  # what PyFuncModel hands the model locally
    assert isinstance(params, dict)
    assert isinstance(params["when"], datetime.datetime)
    _, back = _request(pd.DataFrame({"x": [1]}), params)
    _same(back, params)
    raw = json.dumps(protocol.encode_request(None, params)[0]["params"])
    assert '{"$": "datetime", "iso": "2024-05-06T07:08:09.123456"}' in raw


class _Custom:
    pass


class _SparseLike:
    def toarray(self) -> np.ndarray:
        return np.zeros(1)


def test_inputs_that_cannot_cross_are_refused_naming_them() -> None:
    with pytest.raises(SerializationError, match=r"input\['a'\]\[1\] is a .*_Custom.*carries"):
        protocol.encode_request({"a": [1, _Custom()]}, None)
    with pytest.raises(SerializationError, match=r"input is a .*_SparseLike.*\.toarray\(\)"):
        protocol.encode_request(_SparseLike(), None)
    with pytest.raises(SerializationError, match=r"input\[1\] is a .*_Custom"):
        protocol.encode_request(np.array([1, _Custom()], dtype=object), None)
    with pytest.raises(SerializationError, match="structured array with object fields"):
        protocol.encode_request(np.array([(1, "x")], dtype=[("a", "i4"), ("b", "O")]), None)
    with pytest.raises(SerializationError, match=r"MaskedArray \(an ndarray subclass\).*asarray"):
        protocol.encode_request(np.ma.masked_array([1, 2], mask=[0, 1]), None)
    mixed = pd.DataFrame({"x": [1, "a"]})
    with pytest.raises(SerializationError, match=r"DataFrame that Arrow cannot hold.*single type"):
        protocol.encode_request(mixed, None)


def test_params_that_cannot_cross_are_refused_naming_them() -> None:
    with pytest.raises(
        InvalidParameterError, match=r"params must be JSON-serialisable.*params\['kind'\]"
    ):
        protocol.encode_request(pd.DataFrame({"x": [1]}), {"kind": object()})


def test_unknown_tag_names_the_version_mismatch() -> None:
    header = {"op": "predict", "input": {"$": "future"}, "params": None, "buffers": []}
    with pytest.raises(SerializationError, match=r"no value tagged 'future'.*Rebuild"):
        protocol.decode_request(header, b"")


def test_nothing_the_caller_sends_is_pickled() -> None:
    header, body = protocol.encode_request(
        {"a": np.arange(3), "b": np.array([1, "x"], dtype=object)}, {"when": datetime.date.today()}
    )
    assert all(b"\x80\x04" not in bytes(part) for part in body)  # no pickle protocol marker
    assert "pickle" not in json.dumps(header)
