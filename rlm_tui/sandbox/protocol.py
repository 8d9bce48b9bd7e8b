"""Wire protocol between the host and a REPL worker process.

A frame is a JSON header plus zero or more binary blobs:

    !II  (json_len, n_blobs) | json bytes | n_blobs x (!Q len | bytes)

JSON keeps the host safe: it never unpickles anything the worker sends. Pickled variable
snapshots travel as opaque blobs that only a worker ever loads.

Model code runs in the worker and can write anything to this socket, so a reader checks every
size a frame announces against ``FrameLimits`` *before* reading what it announces: a frame that
claims gigabytes costs the host nothing, it raises ``ProtocolError`` (the one error a malformed
frame raises) and the host ends that worker.

This module is imported by the worker, so it must stay standard-library only.
"""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass
from typing import Any

_HEAD = struct.Struct("!II")
_BLOB = struct.Struct("!Q")
MAX_JSON = 64 << 20  # the JSON part of one frame
MAX_BLOBS = 100_000  # blobs in one frame (a snapshot delta carries one per changed variable)
MAX_CONTAINERS = 2_000_000  # brackets in one JSON part: 64 MiB of "[]" would cost gigabytes parsed


class ProtocolError(ValueError):
    """A frame that breaks the protocol: sizes over the limits, bad JSON, wrong types."""


@dataclass(frozen=True)
class FrameLimits:
    """What one frame may announce. Both ends derive them from the snapshot size limit, so a
    worker never sends a frame its host would refuse (see ``Snapshotter``)."""

    max_json: int = MAX_JSON
    max_blob: int = 256 << 20
    max_blobs: int = MAX_BLOBS
    max_total: int = 1 << 30  # all blobs of one frame together

    @classmethod
    def for_snapshots(cls, snapshot_max_bytes: int) -> FrameLimits:
        blob = max(int(snapshot_max_bytes), 1 << 20)
        return cls(max_blob=blob, max_total=4 * blob)


DEFAULT_LIMITS = FrameLimits()
UNLIMITED = FrameLimits(max_json=1 << 40, max_blob=1 << 62, max_blobs=1 << 31, max_total=1 << 62)

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
SPAWN_CHILD = "spawn_child"  # a child worker started by this one (answered on its reader thread)
END_CHILD = "end_child"  # that child killed (and its folder removed); answered on the reader thread
# worker -> host
READY = "ready"
REPLY = "reply"
OUTPUT = "output"
CALL = "call"  # a sub-call from model code; answered by RESULT
RESULT = "result"


def encode(msg: dict[str, Any], blobs: list[bytes] | tuple[bytes, ...] = ()) -> bytes:
    try:
        body = json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:  # a lone surrogate from model code: JSON's \ud800 escape carries it
        body = json.dumps(msg, separators=(",", ":")).encode()
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


def check_head(head: bytes, limits: FrameLimits) -> tuple[int, int]:
    """(json_len, n_blobs) of a frame's first bytes, refused if over the limits."""
    json_len, n_blobs = _HEAD.unpack(head)
    if json_len > limits.max_json:
        raise ProtocolError(f"a JSON part of {json_len:,} bytes; the limit is {limits.max_json:,}")
    if n_blobs > limits.max_blobs:
        raise ProtocolError(f"{n_blobs:,} blobs in one frame; the limit is {limits.max_blobs:,}")
    return json_len, n_blobs


def check_blob(head: bytes, so_far: int, limits: FrameLimits) -> int:
    """The size a blob announces, refused if it (or the frame's blobs so far) is over the limits."""
    (size,) = _BLOB.unpack(head)
    if size > limits.max_blob:
        raise ProtocolError(f"a blob of {size:,} bytes; the limit is {limits.max_blob:,}")
    if so_far + size > limits.max_total:
        raise ProtocolError(
            f"blobs of {so_far + size:,} bytes in one frame; the limit is {limits.max_total:,}"
        )
    return size


def parse_json(body: bytes) -> dict[str, Any]:
    """A frame's JSON part, which must be an object with a string ``op``."""
    if body.count(b"[") + body.count(b"{") > MAX_CONTAINERS:
        raise ProtocolError(f"a JSON part with over {MAX_CONTAINERS:,} lists and objects")
    try:
        msg = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"the JSON part does not parse ({type(exc).__name__})") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
        raise ProtocolError("the JSON part is not an object with an op")
    return msg


def recv_blocking(sock: socket.socket, limits: FrameLimits = UNLIMITED) -> tuple[dict[str, Any], list[bytes]]:
    """Read one frame from a blocking socket (the worker side: it trusts its host)."""
    json_len, n_blobs = check_head(_recv_exact(sock, _HEAD.size), limits)
    msg = parse_json(_recv_exact(sock, json_len))
    blobs: list[bytes] = []
    total = 0
    for _ in range(n_blobs):
        size = check_blob(_recv_exact(sock, _BLOB.size), total, limits)
        total += size
        blobs.append(_recv_exact(sock, size))
    return msg, blobs


async def recv_stream(
    reader: Any, limits: FrameLimits = DEFAULT_LIMITS
) -> tuple[dict[str, Any], list[bytes]]:
    """Read one frame from an asyncio StreamReader (the host side). Every size is checked before
    the bytes it announces are read; ``ProtocolError`` for a frame over the limits or not JSON."""
    json_len, n_blobs = check_head(await reader.readexactly(_HEAD.size), limits)
    msg = parse_json(await reader.readexactly(json_len))
    blobs: list[bytes] = []
    total = 0
    for _ in range(n_blobs):
        size = check_blob(await reader.readexactly(_BLOB.size), total, limits)
        total += size
        blobs.append(await reader.readexactly(size))
    return msg, blobs


def clip(text: str, limit: int) -> str:
    """Head and tail of ``text`` within ``limit`` characters, the cut said in the middle."""
    if len(text) <= limit:
        return text
    head = limit // 2
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit:,} characters cut ...]\n{text[-tail:] if tail else ''}"


def json_size(msg: dict[str, Any]) -> int:
    """The size of a message's JSON part; cheap for messages plainly far under ``MAX_JSON``."""
    rough = sum(len(v) for v in msg.values() if isinstance(v, str))
    if rough * 6 < MAX_JSON // 2:  # even all escaped (\uXXXX), it fits: no second encoding
        return 0
    return len(json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode())
