"""Length-prefixed frames between the host and a warm evaluator parent (pipes)."""

from __future__ import annotations

import os
import select
import struct
import time

_HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024


class ProtocolError(Exception):
    """The other side went away or sent something that is not a frame."""


def encode_frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload)) + payload


def write_frames(fd: int, *payloads: bytes) -> None:
    data = memoryview(b"".join(encode_frame(p) for p in payloads))
    while data:
        try:
            written = os.write(fd, data)
        except (BrokenPipeError, OSError) as exc:
            raise ProtocolError(f"pipe closed: {exc}") from None
        data = data[written:]


def read_exact(fd: int, size: int, deadline: float | None = None) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        if deadline is not None:
            timeout = deadline - time.monotonic()
            if timeout <= 0 or not select.select([fd], [], [], timeout)[0]:
                raise ProtocolError("timed out waiting for the evaluator")
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise ProtocolError("pipe closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None) -> bytes:
    (size,) = _HEADER.unpack(read_exact(fd, _HEADER.size, deadline))
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes is too large")
    return read_exact(fd, size, deadline)
