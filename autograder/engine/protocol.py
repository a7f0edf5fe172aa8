"""Messages between the trusted grader and the untrusted worker: JSON plus arrays, never pickle.

A message is one ``.npz`` archive: the entry ``__json__`` holds the JSON document, and every
array in the document is replaced by ``{"__array__": "a0"}`` pointing at its own entry.
Decoding uses ``allow_pickle=False``, so a worker can send numbers, strings and arrays of
plain dtypes, and nothing that runs code when it is read.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
MAX_JSON_BYTES = 16 * 1024 * 1024
# Student code shares the worker's process, so it can write its own "messages" to the pipe: a
# message is checked before anything in it is decompressed, allocated or parsed.
_DECODE_ERRORS = (ValueError, OSError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, KeyError, TypeError,
                  AttributeError, RecursionError, MemoryError, NotImplementedError, UnicodeDecodeError)


class ProtocolError(Exception):
    """The other side sent something that is not a valid message."""


def encode(obj: Any) -> bytes:
    arrays: dict[str, np.ndarray] = {}

    def pack(x: Any) -> Any:
        if isinstance(x, np.ndarray):
            key = f"a{len(arrays)}"
            arrays[key] = x
            return {"__array__": key}
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, dict):
            return {str(k): pack(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [pack(v) for v in x]
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        raise TypeError(f"cannot send {type(x).__name__} between grader and worker")

    doc = json.dumps(pack(obj), allow_nan=True)
    arrays["__json__"] = np.frombuffer(doc.encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _read_arrays(data: bytes) -> dict[str, np.ndarray]:
    """The archive's arrays, each entry checked before it is read: stored (not compressed), a
    plain ``.npy`` array, no larger than its bytes, no Python objects."""
    arrays = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise ProtocolError(f"entry {info.filename!r} is compressed; messages are stored")
            if info.filename == "__json__.npy" and info.file_size > MAX_JSON_BYTES:
                raise ProtocolError("message JSON is over the limit")
            with archive.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ProtocolError(f"entry {info.filename!r} has .npy version {version}")
                if dtype.hasobject:
                    raise ProtocolError(f"entry {info.filename!r} holds Python objects")
                size = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if size > info.file_size:
                    raise ProtocolError(f"entry {info.filename!r} claims more data than it holds")
                raw = f.read(size)
            if len(raw) != size:
                raise ProtocolError(f"entry {info.filename!r} is truncated")
            array = np.frombuffer(raw, dtype=dtype).copy()
            arrays[info.filename.removesuffix(".npy")] = array.reshape(shape, order="F" if fortran else "C")
    return arrays


def decode(data: bytes) -> Any:
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(data)} bytes is over the limit")
    try:
        arrays = _read_arrays(data)
    except ProtocolError:
        raise
    except _DECODE_ERRORS as exc:
        raise ProtocolError(f"not a valid message: {type(exc).__name__}: {str(exc)[:200]}") from None
    json_part = arrays.pop("__json__", None)
    if not isinstance(json_part, np.ndarray) or json_part.dtype != np.uint8 or json_part.ndim != 1:
        raise ProtocolError("message has no JSON part")
    try:
        doc = json.loads(json_part.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"message JSON is invalid: {type(exc).__name__}") from None

    def unpack(x: Any) -> Any:
        if isinstance(x, dict):
            if set(x) == {"__array__"}:
                try:
                    return arrays[x["__array__"]]
                except (KeyError, TypeError):
                    raise ProtocolError("message refers to a missing array") from None
            return {k: unpack(v) for k, v in x.items()}
        if isinstance(x, list):
            return [unpack(v) for v in x]
        return x

    try:
        return unpack(doc)
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
