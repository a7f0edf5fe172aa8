"""Messages between the trusted grader and the untrusted worker: JSON plus arrays, never pickle.

A message is a JSON document followed by the raw bytes of the arrays it holds, as in Jupyter's
messages with binary buffers: 8 bytes (little-endian) giving the JSON part's length, the JSON
part ``{"doc": ..., "arrays": [[dtype, shape], ...]}``, then each array's bytes in that order,
C-contiguous. In ``doc`` every array is replaced by ``{"__array__": i}``. Decoding builds arrays
with ``numpy.frombuffer`` for plain dtypes only (numbers, booleans, strings), so a worker can
send nothing that runs code when it is read.

It replaced ``.npz`` archives: parsing each entry's zip record and ``.npy`` header (a Python
literal) cost about 1 ms per message, 36 messages per submission, on each side.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_ARRAYS = 100_000
PLAIN_KINDS = "biufcSU"  # bool, integers, floats, complex, bytes, text: no objects, no records
_LENGTH = 8
# A lone surrogate can reach a decoded string only through a \uD800-\uDFFF escape: the UTF-8 decoder
# refuses encoded ones. Without such an escape, ``clean_text`` has nothing to do.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Student code shares the worker's process, so it can write its own "messages" to the pipe: a
# message is checked before anything in it is allocated or parsed.


class ProtocolError(Exception):
    """The other side sent something that is not a valid message."""


def encode(obj: Any) -> bytes:
    table: list[list[Any]] = []
    buffers: list[bytes] = []

    def pack(x: Any) -> Any:
        if isinstance(x, np.ndarray):
            if x.dtype.kind not in PLAIN_KINDS or x.dtype.hasobject or not x.dtype.itemsize:
                raise TypeError(f"cannot send an array of dtype {x.dtype} between grader and worker")
            table.append([x.dtype.str, list(x.shape)])
            buffers.append(np.ascontiguousarray(x).tobytes())
            return {"__array__": len(table) - 1}
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, dict):
            return {str(k): pack(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [pack(v) for v in x]
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        raise TypeError(f"cannot send {type(x).__name__} between grader and worker")

    doc = json.dumps({"doc": pack(obj), "arrays": table}, allow_nan=True).encode("utf-8")
    return b"".join([len(doc).to_bytes(_LENGTH, "little"), doc, *buffers])


def _array_table(table: Any, data_bytes: int) -> list[tuple[np.dtype, tuple[int, ...], int]]:
    """(dtype, shape, size in bytes) of each array, checked against the bytes that follow."""
    if not isinstance(table, list) or len(table) > MAX_ARRAYS:
        raise ProtocolError("message has no valid array table")
    arrays, total = [], 0
    for entry in table:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                and isinstance(entry[1], list) and len(entry[1]) <= 32
                and all(type(n) is int and n >= 0 for n in entry[1])):
            raise ProtocolError("message has a malformed array entry")
        try:
            dtype = np.dtype(entry[0])
        except (TypeError, ValueError, SyntaxError) as exc:
            raise ProtocolError(f"message names an unknown dtype ({type(exc).__name__})") from None
        if dtype.kind not in PLAIN_KINDS or dtype.hasobject or dtype.fields is not None or not dtype.itemsize:
            raise ProtocolError(f"message holds an array of dtype {dtype}, not plain data")
        size = math.prod(entry[1]) * dtype.itemsize
        total += size
        if total > data_bytes:
            raise ProtocolError("message claims more array data than it holds")
        arrays.append((dtype, tuple(entry[1]), size))
    if total != data_bytes:
        raise ProtocolError("message holds bytes its array table does not describe")
    return arrays


def decode(data: bytes) -> Any:
    """The message, its strings valid UTF-8 (``clean_text``), or ``ProtocolError``."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(data)} bytes is over the limit")
    if len(data) < _LENGTH:
        raise ProtocolError("message is too short")
    length = int.from_bytes(data[:_LENGTH], "little")
    if length > MAX_JSON_BYTES or length > len(data) - _LENGTH:
        raise ProtocolError("message JSON is over the limit or truncated")
    try:
        text = data[_LENGTH:_LENGTH + length].decode("utf-8")
        message = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"message JSON is invalid: {type(exc).__name__}") from None
    if not isinstance(message, dict) or set(message) != {"doc", "arrays"}:
        raise ProtocolError("message has no JSON part")
    offset, arrays = _LENGTH + length, []
    for dtype, shape, size in _array_table(message["arrays"], len(data) - _LENGTH - length):
        array = np.frombuffer(data, dtype=dtype, count=size // dtype.itemsize, offset=offset)
        arrays.append(array.reshape(shape).copy())
        offset += size

    def unpack(x: Any) -> Any:
        if isinstance(x, dict):
            if set(x) == {"__array__"}:
                index = x["__array__"]
                if type(index) is not int or not 0 <= index < len(arrays):
                    raise ProtocolError("message refers to a missing array")
                return arrays[index]
            return {k: unpack(v) for k, v in x.items()}
        if isinstance(x, list):
            return [unpack(v) for v in x]
        return x

    try:
        doc = unpack(message["doc"])
        return clean_text(doc) if _SURROGATE_ESCAPE.search(text) else doc
    except RecursionError:
        raise ProtocolError("message is nested too deeply") from None


def clean_text(x: Any) -> Any:
    """The same message with every string valid UTF-8: a lone surrogate from a student's
    exception message is kept as its escape (``\\udc80``), so it can be stored and shown."""
    if isinstance(x, str):
        try:
            x.encode("utf-8")
            return x
        except UnicodeEncodeError:
            return x.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(x, dict):
        return {clean_text(k): clean_text(v) for k, v in x.items()}
    if isinstance(x, list):
        return [clean_text(v) for v in x]
    return x
