"""Forged messages: student code shares the worker's process, so it can write to the pipe.

What it writes is checked before anything is allocated or parsed on the trusted side, and a
bad message fails only the test that was running (see student.py).
"""

from __future__ import annotations

import io
import json
import resource
import time

import numpy as np
import pytest

from autograder.engine.protocol import ProtocolError, decode, encode


def forged(doc: object, arrays: list, data: bytes = b"", length: int | None = None) -> bytes:
    """A message in the channel's format, saying whatever a forger wants it to."""
    part = json.dumps({"doc": doc, "arrays": arrays}).encode()
    return (len(part) if length is None else length).to_bytes(8, "little") + part + data


def test_an_array_claiming_more_than_it_holds_is_refused_before_anything_is_allocated():
    lie = forged({"ok": True, "result": {"__array__": 0}}, [["|u1", [2**36]]], bytes(2**20))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(ProtocolError, match="claims more"):
        decode(lie)
    assert time.monotonic() - started < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB


@pytest.mark.parametrize("dtype", ["|O", "O", "V8", "f4,i4", "(2,)f4", "M8[D]", "<U0", "not a dtype"])
def test_arrays_of_objects_records_or_unknown_dtypes_are_refused(dtype):
    with pytest.raises(ProtocolError):
        decode(forged({"x": {"__array__": 0}}, [[dtype, [1]]], bytes(8)))


def test_an_object_array_is_never_unpickled():
    import pickle

    payload = pickle.dumps(np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ProtocolError):
        decode(forged({"x": {"__array__": 0}}, [["|O", [1]]], payload))


@pytest.mark.parametrize("message", [
    b"",
    b"\x00" * 7,
    (2**40).to_bytes(8, "little") + b"{}",
    (10).to_bytes(8, "little") + b"{}",
    (5).to_bytes(8, "little") + b"nope!",
    (2).to_bytes(8, "little") + b"[]",
    (2).to_bytes(8, "little") + b"{}",
])
def test_a_broken_json_part_is_a_protocol_error(message):
    with pytest.raises(ProtocolError):
        decode(message)


@pytest.mark.parametrize("arrays, data, doc", [
    ([["<f8", [2]]], bytes(16) + b"extra", {"__array__": 0}),  # bytes nobody described
    ([["<f8", [2]]], bytes(16), {"__array__": 1}),  # a reference to no array
    ([["<f8", [2]]], bytes(16), {"__array__": "0"}),
    ([["<f8", [-1]]], bytes(16), None),  # a negative dimension
    ([["<f8", [2.5]]], bytes(16), None),
    ([["<f8"]], bytes(16), None),
    ({"a": 1}, b"", None),
])
def test_an_array_table_that_does_not_match_the_bytes_is_refused(arrays, data, doc):
    with pytest.raises(ProtocolError):
        decode(forged(doc, arrays, data))


def test_deep_nesting_is_a_protocol_error():
    part = b'{"arrays": [], "doc": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(ProtocolError):
        decode(len(part).to_bytes(8, "little") + part)


def test_an_npz_archive_or_a_pickle_is_not_a_message():
    import pickle

    buf = io.BytesIO()
    np.savez(buf, a0=np.zeros(3))
    for data in (buf.getvalue(), pickle.dumps({"score": 100})):
        with pytest.raises(ProtocolError):
            decode(data)


def test_honest_messages_still_pass():
    message = {"ok": True, "result": {"w": np.ones((3, 1), np.float32), "n": [1, 2.5, None],
                                      "f": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
                                      "empty": np.zeros((0, 2)), "text": np.array(["ab", "c"])}}
    out = decode(encode(message))
    assert out["result"]["w"].shape == (3, 1) and out["result"]["n"] == [1, 2.5, None]
    assert np.array_equal(out["result"]["f"], message["result"]["f"])
    assert out["result"]["empty"].shape == (0, 2) and list(out["result"]["text"]) == ["ab", "c"]
    out["result"]["w"][0, 0] = 5  # the arrays are the receiver's own, writable copies
