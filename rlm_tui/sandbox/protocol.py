"""Wire protocol between the host and a REPL worker process.

A frame is a JSON header plus zero or more binary blobs:

    !II  (json_len, n_blobs) | json bytes | n_blobs x (!Q len | bytes)

JSON keeps the host safe: it never unpickles anything the worker sends. Pickled variable
snapshots travel as opaque blobs that only a worker ever loads.

This module is imported by the worker, so it must stay standard-library only.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

_HEAD = struct.Struct("!II")
_BLOB = struct.Struct("!Q")
MAX_JSON = 1 << 30

# host -> worker requests (each answered by a "reply" with the same id)
EXEC = "exec"
INTERRUPT = "interrupt"  # no reply; acted on by the worker's reader thread
SNAPSHOT = "snapshot"
RESTORE = "restore"
SET_VARS = "set_vars"
LOAD_FILE = "load_file"
VAR_TABLE = "var_table"
RENDER_VALUE = "render_value"
SHUTDOWN = "shutdown"
# worker -> host
READY = "ready"
REPLY = "reply"
OUTPUT = "output"
CALL = "call"  # a sub-call from model code; answered by RESULT
RESULT = "result"


def encode(msg: dict[str, Any], blobs: list[bytes] | tuple[bytes, ...] = ()) -> bytes:
    body = json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode()
    parts = [_HEAD.pack(len(body), len(blobs)), body]
    for blob in blobs:
        parts.append(_BLOB.pack(len(blob)))
        parts.append(blob)
    return b"".join(parts)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError("channel closed")
        got += k
    return bytes(buf)


def recv_blocking(sock: socket.socket) -> tuple[dict[str, Any], list[bytes]]:
    """Read one frame from a blocking socket (the worker side)."""
    json_len, n_blobs = _HEAD.unpack(_recv_exact(sock, _HEAD.size))
    if json_len > MAX_JSON:
        raise ValueError(f"frame too large: {json_len}")
    msg = json.loads(_recv_exact(sock, json_len))
    blobs = [_recv_exact(sock, _BLOB.unpack(_recv_exact(sock, _BLOB.size))[0]) for _ in range(n_blobs)]
    return msg, blobs


async def recv_stream(reader: Any) -> tuple[dict[str, Any], list[bytes]]:
    """Read one frame from an asyncio StreamReader (the host side)."""
    json_len, n_blobs = _HEAD.unpack(await reader.readexactly(_HEAD.size))
    if json_len > MAX_JSON:
        raise ValueError(f"frame too large: {json_len}")
    msg = json.loads(await reader.readexactly(json_len))
    blobs = []
    for _ in range(n_blobs):
        (size,) = _BLOB.unpack(await reader.readexactly(_BLOB.size))
        blobs.append(await reader.readexactly(size))
    return msg, blobs
