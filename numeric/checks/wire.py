"""What passes between the checker and a child that runs someone else's code: plain data only.

A message is a frame: the magic ``LGW1``, the lengths of a JSON header and of the raw buffers
that follow it, the header, then the buffers. Values are JSON with tagged objects: an array
is its dtype, shape and the index of a raw buffer holding its bytes; a tuple, a dictionary, a
complex number and a NumPy scalar have tags of their own; anything else the child keeps and
names by a handle (``{"$": "ref"}``) that the checker may send back but never looks into.
Decoding checks everything — tags, dtypes (numbers and booleans only), shapes against
buffer sizes, depth and size — and raises :class:`WireError` for anything else: never a
pickle, never an object whose methods run on decoding.

This module imports only the standard library and NumPy: the child loads it from its file.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MAX_BYTES", "Handle", "Reader", "WireError", "decode", "encode", "exception_facts", "write_frame"]

MAGIC = b"LGW1"
HEAD = struct.Struct("<4sIQ")
"""Magic, length of the JSON header, total length of the buffers."""
MAX_HEADER = 8 * 2**20
MAX_BYTES = 512 * 2**20
"""The largest message the checker reads (a 500 × 500 float64 array is 2 MB)."""
MAX_DEPTH = 12
MAX_ITEMS = 20_000
DTYPE_KINDS = "biufc"


class WireError(Exception):
    """A message that is late, short, too large or not of the expected form."""


@dataclass(frozen=True)
class Handle:
    """An object only the child can use (a cache of a class the checker does not know)."""

    number: int


def write_frame(fd: int, header: dict[str, Any], buffers: list[bytes | memoryview] = ()) -> None:
    """Write one message to ``fd`` (blocking), in one piece."""
    head = json.dumps(header, separators=(",", ":")).encode()
    sizes = [memoryview(b).nbytes for b in buffers]
    parts = [HEAD.pack(MAGIC, len(head), sum(sizes) + 8 * len(sizes)), head]
    for size, b in zip(sizes, buffers):
        parts += [struct.pack("<Q", size), memoryview(b).cast("B") if size else b""]
    view = memoryview(b"".join(parts))
    while view:
        view = view[os.write(fd, view):]


class Reader:
    """Reads messages from one file descriptor, a large chunk at a time."""

    def __init__(self, fd: int):
        self.fd = fd
        self.data = bytearray()
        self.start = 0

    def _take(self, size: int, deadline: float | None) -> bytes:
        while len(self.data) - self.start < size:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                    raise TimeoutError
            chunk = os.read(self.fd, max(2**16, size - (len(self.data) - self.start)))
            if not chunk:
                raise EOFError
            if self.start:
                del self.data[: self.start]
                self.start = 0
            self.data += chunk
        piece = bytes(self.data[self.start: self.start + size])
        self.start += size
        return piece

    def read(self, deadline: float | None = None, max_bytes: int = MAX_BYTES) -> tuple[dict, list[bytearray]]:
        """One message by ``deadline`` (``time.monotonic()``); raises :class:`TimeoutError` when late,
        :class:`EOFError` when the other side closed, :class:`WireError` when malformed."""
        magic, header_size, total = HEAD.unpack(self._take(HEAD.size, deadline))
        if magic != MAGIC or header_size > MAX_HEADER or total > max_bytes:
            raise WireError("a message that is not of the checker's form (or too large)")
        try:
            header = json.loads(self._take(header_size, deadline))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise WireError("a message whose header is not JSON") from None
        if not isinstance(header, dict):
            raise WireError("a message whose header is not a JSON object")
        buffers: list[bytearray] = []
        while total > 0:
            if total < 8:
                raise WireError("a message whose buffers do not add up")
            (size,) = struct.unpack("<Q", self._take(8, deadline))
            if size > total - 8:
                raise WireError("a message whose buffers do not add up")
            buffers.append(bytearray(self._take(size, deadline)))
            total -= 8 + size
        return header, buffers


def encode(value: Any, buffers: list, keep: dict[int, Any] | None = None, _depth: int = 0) -> Any:
    """``value`` as JSON-ready data, array bytes appended to ``buffers``; objects that are not
    plain data go into ``keep`` (the child's handles) and become references (the checker has no
    ``keep``: there they are an error)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int) and not isinstance(value, np.integer):
        return value if abs(value) < 2**63 else float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, Handle):
        return {"$": "ref", "n": value.number}
    if isinstance(value, complex):
        return {"$": "c", "v": [value.real, value.imag]}
    if isinstance(value, np.ndarray | np.generic) and value.dtype.kind in DTYPE_KINDS and value.dtype.itemsize <= 32:
        array = np.ascontiguousarray(value).reshape(np.shape(value))  # a 0-d array keeps its shape ()
        buffers.append(memoryview(array).cast("B") if array.size else b"")
        tag = "nd" if isinstance(value, np.ndarray) else "np"
        writeable = bool(value.flags.writeable) if isinstance(value, np.ndarray) else True
        return {"$": tag, "b": len(buffers) - 1, "d": array.dtype.str, "s": list(array.shape), "w": writeable}
    if _depth < MAX_DEPTH:
        if isinstance(value, tuple | list):
            items = [encode(v, buffers, keep, _depth + 1) for v in value]
            return {"$": "tuple" if isinstance(value, tuple) else "list", "v": items}
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"$": "dict", "k": list(value), "v": [encode(v, buffers, keep, _depth + 1) for v in value.values()]}
    if keep is None:
        raise WireError(f"cannot send an object of type {type(value).__name__}")
    keep[id(value)] = value
    return {"$": "ref", "n": id(value)}


def decode(data: Any, buffers: list[bytearray], resolve: Any = None) -> Any:
    """The value ``data`` describes; ``resolve`` turns a reference into an object (the child's
    handles), else references become :class:`Handle` objects. Raises :class:`WireError` for anything
    but the forms :func:`encode` writes."""
    count = [0]

    def walk(node: Any, depth: int) -> Any:
        count[0] += 1
        if count[0] > MAX_ITEMS or depth > MAX_DEPTH + 1:
            raise WireError("a value that is nested too deeply or too large")
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if not isinstance(node, dict) or not isinstance(node.get("$"), str):
            raise WireError("a value of unknown form")
        tag = node["$"]
        if tag in ("tuple", "list") and isinstance(node.get("v"), list):
            items = [walk(v, depth + 1) for v in node["v"]]
            return tuple(items) if tag == "tuple" else items
        if tag == "dict" and isinstance(node.get("k"), list) and isinstance(node.get("v"), list) \
                and len(node["k"]) == len(node["v"]) and all(isinstance(k, str) for k in node["k"]):
            return {k: walk(v, depth + 1) for k, v in zip(node["k"], node["v"])}
        if tag == "c" and isinstance(node.get("v"), list) and len(node["v"]) == 2 \
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in node["v"]):
            return complex(*node["v"])
        if tag == "ref" and isinstance(node.get("n"), int) and not isinstance(node.get("n"), bool):
            return resolve(node["n"]) if resolve is not None else Handle(node["n"])
        if tag in ("nd", "np"):
            return _array(node, buffers)
        raise WireError(f"a value of unknown form ({tag[:20]!r})")

    return walk(data, 0)


def _array(node: dict, buffers: list[bytearray]) -> Any:
    index, dtype, shape = node.get("b"), node.get("d"), node.get("s")
    if not (isinstance(index, int) and 0 <= index < len(buffers) and isinstance(dtype, str) and len(dtype) < 16
            and isinstance(shape, list) and len(shape) <= 32
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
        raise WireError("an array of unknown form")
    try:
        kind = np.dtype(dtype)
    except (TypeError, ValueError):
        raise WireError("an array of unknown dtype") from None
    if kind.kind not in DTYPE_KINDS or kind.fields is not None or kind.subdtype is not None:
        raise WireError("an array whose dtype is not numbers")
    size = 1
    for n in shape:
        size *= n
    buffer = buffers[index]
    if size * kind.itemsize != len(buffer):
        raise WireError("an array whose bytes do not match its shape")
    array = np.frombuffer(buffer, dtype=kind).reshape(shape) if size else np.zeros(shape, dtype=kind)
    if node["$"] == "np":
        return array.reshape(()).copy()[()] if not shape else array
    array.flags.writeable = node.get("w") is not False
    return array


def exception_facts(exc: BaseException, path: str | None) -> dict[str, Any]:
    """What an exception says, as plain data: its kind, type, first line and the last line of
    the file at ``path`` it passed through."""
    if isinstance(exc, SystemExit):
        kind = "exit"
    elif isinstance(exc, MemoryError):
        kind = "memory"
    elif isinstance(exc, ValueError) and "read-only" in str(exc):
        kind = "read-only"
    elif isinstance(exc, RecursionError):
        kind = "recursion"
    else:
        kind = "raised"
    try:
        message = str(exc).strip().splitlines()
    except Exception:  # someone else's __str__
        message = []
    facts: dict[str, Any] = {"kind": kind, "type": type(exc).__name__, "message": message[0][:500] if message else "",
                             "code": repr(exc.code)[:200] if isinstance(exc, SystemExit) else ""}
    if path is not None:
        real = os.path.realpath(path)
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.realpath(f.filename) == real]
        if frames:
            facts["line"] = frames[-1].lineno
            facts["source"] = (frames[-1].line or "").strip()[:300]
    return facts
