"""Property-based fuzzing of the host's frame decoder (``protocol.recv_stream`` within its limits,
then ``frames.check_message``): random bytes and mutations of valid frames either decode to a
checked message or raise ``ProtocolError`` (or end-of-input for a cut frame) -- never another
exception, and never allocate beyond the limits, whatever sizes a frame announces."""

from __future__ import annotations

import asyncio
import struct
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlm_tui.sandbox import frames, protocol
from rlm_tui.sandbox.protocol import FrameLimits, ProtocolError

LIMITS = FrameLimits(max_json=4096, max_blob=4096, max_blobs=8, max_total=8192)
IN_FLIGHT = {
    1: protocol.EXEC,
    2: protocol.SNAPSHOT,
    3: protocol.RESTORE,
    4: protocol.VAR_TABLE,
    5: protocol.RENDER_VALUE,
    6: protocol.LOAD_FILE,
    7: protocol.SET_VARS,
}
LOOP = asyncio.new_event_loop()  # one for all examples: a loop per example costs more than the decoding
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def teardown_module() -> None:
    LOOP.close()


def decode(data: bytes) -> tuple[str, object]:
    """('ok', (msg, blobs)) | ('protocol', error) | ('eof', None): all the outcomes allowed."""

    async def run() -> tuple[dict, list[bytes]]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        msg, blobs = await protocol.recv_stream(reader, LIMITS)
        frames.check_message(msg, blobs, IN_FLIGHT)
        return msg, blobs

    try:
        return "ok", LOOP.run_until_complete(run())
    except ProtocolError as exc:
        return "protocol", exc
    except asyncio.IncompleteReadError:
        return "eof", None


names = st.text(st.characters(codec="utf-8"), max_size=8)
texts = st.text(max_size=40)
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | texts
)


def _containers(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3)


any_json = st.recursive(json_scalars, _containers, max_leaves=8)


@st.composite
def valid_frames(draw) -> tuple[dict, list[bytes]]:
    kind = draw(st.sampled_from(["exec", "snapshot", "output", "call", "failed", "var_table", "restore"]))
    if kind == "output":
        return {
            "op": "output",
            "cell": draw(st.none() | names),
            "stream": draw(st.sampled_from(["stdout", "stderr"])),
            "text": draw(texts),
        }, []
    if kind == "call":
        blobs = draw(st.lists(st.binary(max_size=64), max_size=3))
        return {
            "op": "call",
            "id": draw(st.integers(0, 10**6)),
            "fn": draw(names),
            "args": draw(st.dictionaries(names, any_json, max_size=3)),
            "cell": "c1",
        }, blobs
    if kind == "failed":
        return {
            "op": "reply",
            "id": draw(st.sampled_from(list(IN_FLIGHT))),
            "ok": False,
            "error": draw(texts),
        }, []
    if kind == "var_table":
        rows = draw(st.lists(st.dictionaries(names, texts, max_size=3), max_size=3))
        return {"op": "reply", "id": 4, "ok": True, "text": draw(texts), "rows": rows}, []
    if kind == "restore":
        return {
            "op": "reply",
            "id": 3,
            "ok": True,
            "failed": draw(st.dictionaries(names, texts, max_size=3)),
        }, []
    changed = draw(st.lists(names, unique=True, max_size=4))
    blobs = [draw(st.binary(max_size=64)) for _ in changed]
    delta = {
        "changed": changed,
        "removed": draw(st.lists(names, max_size=2)),
        "skipped": draw(st.dictionaries(names, texts, max_size=2)),
    }
    if kind == "snapshot":
        return {"op": "reply", "id": 2, "ok": True, "snapshot": delta}, blobs
    msg = {
        "op": "reply",
        "id": 1,
        "ok": True,
        "status": draw(st.sampled_from(sorted(frames.WORKER_STATUSES))),
        "error": draw(st.none() | texts),
        "duration": draw(st.floats(0, 1e6)),
        "total_chars": draw(st.integers(0, 10**9)),
        "dropped_chars": draw(st.integers(0, 10**9)),
        "final": draw(st.none() | texts),
        "snapshot": delta,
    }
    return msg, blobs


@st.composite
def mutated(draw) -> bytes:
    msg, blobs = draw(valid_frames())
    data = bytearray(protocol.encode(msg, blobs))
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "cut", "insert", "head", "blob_size"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if how == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif how == "cut":
            del data[at:]
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif how == "head" and len(data) >= 8:
            data[0:8] = struct.pack("!II", draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1)))
        elif how == "blob_size" and len(data) >= at + 8:
            data[at : at + 8] = struct.pack("!Q", draw(st.integers(0, 2**64 - 1)))
    return bytes(data)


def _assert_allowed(outcome: str, value: object) -> None:
    assert outcome in ("ok", "protocol", "eof")
    if outcome == "ok":
        msg, blobs = value  # type: ignore[misc]
        assert isinstance(msg, dict) and isinstance(msg["op"], str)
        assert len(blobs) <= LIMITS.max_blobs and sum(map(len, blobs)) <= LIMITS.max_total


@FUZZ
@given(valid_frames())
def test_valid_frames_decode_to_what_was_sent(frame):
    msg, blobs = frame
    outcome, value = decode(protocol.encode(msg, blobs))
    assert outcome == "ok", value
    assert value == (msg, blobs)


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_decode_or_raise_the_protocol_error(data):
    _assert_allowed(*decode(data))


@FUZZ
@given(mutated())
def test_mutated_frames_decode_or_raise_the_protocol_error(data):
    _assert_allowed(*decode(data))


@FUZZ
@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.lists(st.integers(0, 2**64 - 1), max_size=4),
)
def test_announced_sizes_never_allocate_past_the_limits(json_len, n_blobs, blob_sizes):
    """However large the sizes a frame announces, the decoder holds at most the limits (the
    sizes are refused before the bytes they announce are awaited)."""
    body = b'{"op":"output","cell":null,"stream":"stdout","text":"x"}'
    data = struct.pack("!II", json_len, n_blobs) + body[:json_len]
    data += b"".join(struct.pack("!Q", size) for size in blob_sizes)
    tracemalloc.start()
    try:
        outcome, value = decode(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _assert_allowed(outcome, value)
    assert peak < LIMITS.max_json + LIMITS.max_total + (1 << 20)
