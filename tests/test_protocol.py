"""The worker-to-grader protocol carries plain data only."""

import pickle

import numpy as np
import pytest

from autograder.engine.protocol import ProtocolError, decode, encode


def test_round_trip_of_nested_data():
    msg = {"a": [1, 2.5, "x", None, True], "arr": np.arange(6, dtype=np.float32).reshape(2, 3),
           "nested": {"b": [np.array([1, 2], dtype=np.int64)]}}
    out = decode(encode(msg))
    assert out["a"] == [1, 2.5, "x", None, True]
    assert out["arr"].dtype == np.float32 and out["arr"].shape == (2, 3)
    assert np.array_equal(out["nested"]["b"][0], [1, 2])


def test_objects_are_refused_when_sending():
    with pytest.raises(TypeError):
        encode({"x": object()})


def test_a_pickle_is_not_a_message():
    with pytest.raises(ProtocolError):
        decode(pickle.dumps({"score": 100}))


def test_object_arrays_are_refused_when_sending():
    with pytest.raises(TypeError):
        encode({"x": np.array([{"evil": 1}], dtype=object)})
