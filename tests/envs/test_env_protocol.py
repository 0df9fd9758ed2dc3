"""The worker protocol on its own: framing and result round-trips, no processes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from pyfunc_ops.envs import protocol


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
