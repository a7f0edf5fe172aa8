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


def decode(data: bytes) -> Any:
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(data)} bytes is over the limit")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ProtocolError(f"not a valid message: {exc}") from None
    if "__json__" not in arrays:
        raise ProtocolError("message has no JSON part")
    try:
        doc = json.loads(arrays.pop("__json__").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"message JSON is invalid: {exc}") from None

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

    return unpack(doc)
