"""What the host accepts from a worker: every frame checked against the protocol before any of
its fields is used.

Model code runs in the worker and can forge frames, so nothing a frame says is taken on trust:
an op the host did not expect, a reply to a request it did not make, a field of the wrong type or
a snapshot whose names do not match its blobs raise ``ProtocolError``, and the host ends that
worker. What a reply must hold depends on the request it answers (``REPLY_FIELDS``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from rlm_tui.sandbox import protocol
from rlm_tui.sandbox.protocol import ProtocolError

WORKER_STATUSES = frozenset({"ok", "error", "interrupted"})  # the rest are the host's own verdicts
STREAMS = frozenset({"stdout", "stderr"})

Check = Callable[[Any], bool]


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_count(v: Any) -> bool:
    return is_int(v) and v >= 0


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def is_str(v: Any) -> bool:
    return isinstance(v, str)


def is_digest(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= 128 and all(c in "0123456789abcdef" for c in v)


def is_opt_str(v: Any) -> bool:
    return v is None or isinstance(v, str)


def is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def is_str_dict(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(x, str) for x in v.values())


def is_rows(v: Any) -> bool:
    return isinstance(v, list) and all(is_str_dict(r) for r in v)


# request op -> {field: (required, check)} of its successful reply
REPLY_FIELDS: dict[str, dict[str, tuple[bool, Check]]] = {
    protocol.EXEC: {
        "status": (True, lambda v: v in WORKER_STATUSES),
        "error": (False, is_opt_str),
        "duration": (True, is_number),
        "total_chars": (True, is_count),
        "dropped_chars": (True, is_count),
        "final": (False, is_opt_str),
        "notes": (False, is_str_list),
    },
    protocol.SNAPSHOT: {"snapshot": (True, lambda v: True)},  # checked with its blobs below
    protocol.RESTORE: {"failed": (True, is_str_dict)},
    protocol.SET_VARS: {},
    protocol.LOAD_FILE: {"type": (False, is_str), "size": (False, is_count), "digest": (False, is_digest)},
    protocol.VAR_TABLE: {"text": (True, is_str), "rows": (True, is_rows)},
    protocol.RENDER_VALUE: {"found": (True, is_bool), "text": (False, is_str)},
    protocol.SHUTDOWN: {},
}


def _bad(what: str) -> ProtocolError:
    return ProtocolError(what)


def check_delta(delta: Any, blobs: list[bytes]) -> None:
    """A snapshot delta: one blob per changed name, in order; names are strings."""
    if not isinstance(delta, dict):
        raise _bad("a snapshot that is not an object")
    changed = delta.get("changed", [])
    if not is_str_list(changed) or len(set(changed)) != len(changed):
        raise _bad("a snapshot whose changed names are not distinct strings")
    if len(changed) != len(blobs):
        raise _bad(f"a snapshot naming {len(changed)} variable(s) with {len(blobs)} blob(s)")
    if not is_str_list(delta.get("removed", [])):
        raise _bad("a snapshot whose removed names are not strings")
    if not is_str_dict(delta.get("skipped", {})):
        raise _bad("a snapshot whose skipped reasons are not strings")


def check_reply(msg: dict[str, Any], blobs: list[bytes], op: str) -> None:
    """A reply to a request of kind ``op``: its fields as the protocol says."""
    ok = msg.get("ok")
    if not is_bool(ok):
        raise _bad(f"a {op} reply without a true/false ok")
    if not ok:
        if not is_str(msg.get("error")) or blobs:
            raise _bad(f"a failed {op} reply without an error text")
        return
    for name, (required, check) in REPLY_FIELDS.get(op, {}).items():
        if name not in msg:
            if required:
                raise _bad(f"a {op} reply without {name}")
            continue
        if not check(msg[name]):
            raise _bad(f"a {op} reply whose {name} is a {type(msg[name]).__name__} out of the protocol")
    if "snapshot" in msg:
        if op not in (protocol.EXEC, protocol.SNAPSHOT):
            raise _bad(f"a {op} reply with a snapshot")
        check_delta(msg["snapshot"], blobs)
    elif blobs:
        raise _bad(f"a {op} reply with blobs it does not name")


def check_output(msg: dict[str, Any], blobs: list[bytes]) -> None:
    if blobs or not is_opt_str(msg.get("cell")):
        raise _bad("an output frame with blobs or a cell that is not a string")
    if msg.get("stream") not in STREAMS:
        raise _bad("an output frame for a stream other than stdout or stderr")
    if not is_str(msg.get("text")):
        raise _bad("an output frame whose text is not a string")


def check_call(msg: dict[str, Any]) -> None:
    if not is_int(msg.get("id")) or not is_str(msg.get("fn")) or not is_opt_str(msg.get("cell")):
        raise _bad("a sub-call frame without an integer id, a function name and a cell")
    if not isinstance(msg.get("args", {}), dict):
        raise _bad("a sub-call frame whose args are not an object")


def check_message(msg: dict[str, Any], blobs: list[bytes], in_flight: Mapping[int, str]) -> None:
    """Any frame from a worker. ``in_flight`` maps the ids of the requests awaiting a reply to
    their ops; a reply must name one of them."""
    op = msg["op"]
    if op == protocol.REPLY:
        req_id = msg.get("id")
        request_op = in_flight.get(req_id) if is_int(req_id) else None
        if request_op is None:
            raise _bad("a reply to no request in flight")
        check_reply(msg, blobs, request_op)
    elif op == protocol.OUTPUT:
        check_output(msg, blobs)
    elif op == protocol.CALL:
        check_call(msg)
    else:
        raise _bad(f"an unexpected {op[:40]!r} frame")
