"""Forged messages: student code shares the worker's process, so it can write to the pipe.

What it writes is checked before anything is decompressed, allocated or parsed on the
trusted side, and a bad message fails only the test that was running (see student.py).
"""

from __future__ import annotations

import io
import resource
import time
import zipfile

import numpy as np
import pytest

from autograder.engine.protocol import ProtocolError, decode, encode


def archive(entries: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def npy(array: np.ndarray, claimed_shape: tuple | None = None) -> bytes:
    buf = io.BytesIO()
    header = np.lib.format.header_data_from_array_1_0(array)
    if claimed_shape is not None:
        header["shape"] = claimed_shape
    np.lib.format.write_array_header_1_0(buf, header)
    buf.write(array.tobytes())
    return buf.getvalue()


JSON = npy(np.frombuffer(b'{"ok": true, "result": {"__array__": "a0"}}', dtype=np.uint8))


def test_a_decompression_bomb_is_refused_before_it_is_inflated():
    bomb = archive({"__json__.npy": JSON, "a0.npy": npy(np.zeros(2**27, np.uint8))}, zipfile.ZIP_DEFLATED)
    assert len(bomb) < 2**20  # 128 MiB of zeros, deflated
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(ProtocolError, match="compressed"):
        decode(bomb)
    assert time.monotonic() - started < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB


def test_an_array_claiming_more_than_it_holds_is_refused():
    lie = archive({"__json__.npy": JSON, "a0.npy": npy(np.zeros(8, np.uint8), claimed_shape=(2**40,))})
    with pytest.raises(ProtocolError, match="claims more data"):
        decode(lie)


@pytest.mark.parametrize("json_part", [npy(np.zeros(3, np.float64)), b"not an array", npy(np.zeros((2, 2), np.uint8))])
def test_a_broken_json_part_is_a_protocol_error(json_part):
    with pytest.raises(ProtocolError):
        decode(archive({"__json__.npy": json_part}))


def test_deep_nesting_is_a_protocol_error():
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ProtocolError):
        decode(archive({"__json__.npy": npy(np.frombuffer(deep, dtype=np.uint8))}))


def test_honest_messages_still_pass():
    message = {"ok": True, "result": {"w": np.ones((3, 1), np.float32), "n": [1, 2.5, None]}}
    out = decode(encode(message))
    assert out["result"]["w"].shape == (3, 1) and out["result"]["n"] == [1, 2.5, None]
