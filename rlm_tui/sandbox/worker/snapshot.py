"""Snapshots of the REPL variables: each variable pickled on its own, sent as deltas.

After every cell the worker sends the host the variables that changed, so a worker that dies can
be restarted with everything up to its last finished cell. Re-pickling every variable after every
cell would cost seconds once variables hold hundreds of megabytes, so after a cell a variable is
pickled again only when its name now points at another object, or when it is a small mutable
object (which a cell can change in place). At the end of a turn (``thorough``) every mutable
object is pickled again, whatever its size. What cannot be pickled, or is too large, is named with
the reason; so is a variable that would take one delta past the frame's total (``max_total``), so
a delta never makes a frame the host refuses.

A value's size is bounded from below before it is pickled (``lower_bound``: the length of a str or
bytes, one byte per item of a container plus what its first items hold), so a 1 GB string is named
"too large" without the seconds and the gigabytes its pickle would cost. An attached file's text
(``bigtext.BigText``) or table pickles as a reference to the file (name and size), so
``src = context`` costs a few bytes and comes back from the file attached again on a restart.

Restoring runs the same timer per variable: a variable whose loading sleeps, loops or raises is
named and skipped, the rest are restored. (One that ends the process or holds the interpreter
lock is beyond a timer: the host's deadline finds it, see ``host.Worker.restore``.)
"""

from __future__ import annotations

import hashlib
import signal
import types
from dataclasses import dataclass
from typing import Any

IMMUTABLE = (str, bytes, int, float, complex, bool, type(None), frozenset, range, types.ModuleType)
BOUND_ITEMS = 10_000  # items of a container looked into when bounding its size
REPICKLE_BELOW = 4 << 20  # mutable objects whose last pickle was smaller are always re-checked


@dataclass
class _Seen:
    value: Any  # held, not just its id: a freed object's id can be reused by a new one
    size: int
    digest: bytes
    skipped: str | None = None


def lower_bound(value: Any, depth: int = 0, seen: set[int] | None = None) -> int:
    """Bytes the pickle of ``value`` takes at least (cheap: never walks more than a few thousand
    items), so what is surely too large is skipped before pickling it. An object met twice counts
    once (pickle stores it once)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        seen.add(id(value))
        return len(value)  # UTF-8 takes at least a byte a character
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = value
    else:
        return 0  # file-backed objects pickle as references; other objects are not guessed
    seen.add(id(value))
    total = len(value)
    if depth < 3:
        for n, item in enumerate(items):
            if n >= BOUND_ITEMS:
                break
            if isinstance(value, dict):
                total += lower_bound(item[0], depth + 1, seen) + lower_bound(item[1], depth + 1, seen)
            else:
                total += lower_bound(item, depth + 1, seen)
    return total


class _TooSlow(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _TooSlow


class Snapshotter:
    def __init__(
        self, max_bytes: int, seconds_per_variable: float = 20.0, max_total: int | None = None
    ) -> None:
        self.max_bytes = max_bytes
        self.seconds = seconds_per_variable
        self.max_total = max_total if max_total is not None else 4 * max_bytes
        self._seen: dict[str, _Seen] = {}

    def _timed(self, fn: Any, *args: Any) -> Any:
        """Run fn within the time budget (a model object's __reduce__ may never end)."""
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            return fn(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def _pickle(self, value: Any) -> bytes:
        import cloudpickle

        return self._timed(cloudpickle.dumps, value, 5)

    def delta(
        self, values: dict[str, Any], thorough: bool = False
    ) -> tuple[dict[str, bytes], list[str], dict[str, str]]:
        """Return (changed blobs, removed names, skipped name -> reason) for these variables."""
        changed: dict[str, bytes] = {}
        total = 0
        for name, value in values.items():
            seen = self._seen.get(name)
            same = seen is not None and seen.value is value
            if same and (isinstance(value, IMMUTABLE) or (seen.size >= REPICKLE_BELOW and not thorough)):
                continue
            bound = lower_bound(value)
            if bound > self.max_bytes:
                reason = f"too large to snapshot (at least {bound:,} bytes; the limit is {self.max_bytes:,})"
                self._seen[name] = _Seen(value, bound, b"", reason)
                continue
            try:
                blob = self._pickle(value)
            except (_TooSlow, KeyboardInterrupt) as exc:
                why = (
                    "pickling it took too long"
                    if isinstance(exc, _TooSlow)
                    else "pickling it was interrupted"
                )
                self._seen[name] = _Seen(value, 0, b"", f"not saved: {why}")
                continue
            except Exception as exc:
                reason = f"cannot be pickled ({type(exc).__name__}: {exc})"[:300]
                self._seen[name] = _Seen(value, 0, b"", reason)
                continue
            if len(blob) > self.max_bytes:
                reason = f"too large to snapshot ({len(blob):,} bytes; the limit is {self.max_bytes:,})"
                self._seen[name] = _Seen(value, len(blob), b"", reason)
                continue
            digest = hashlib.blake2b(blob, digest_size=16).digest()
            if seen is None or seen.digest != digest or seen.skipped:
                if total + len(blob) > self.max_total:
                    reason = f"not saved: the variables changed in this cell exceed {self.max_total:,} bytes"
                    self._seen[name] = _Seen(value, len(blob), b"", reason)
                    continue
                total += len(blob)
                changed[name] = blob
            self._seen[name] = _Seen(value, len(blob), digest)
        removed = [name for name in self._seen if name not in values]
        for name in removed:
            del self._seen[name]
        skipped = {name: s.skipped for name, s in self._seen.items() if s.skipped}
        return changed, removed, skipped

    def restore(self, globals_: dict[str, Any], blobs: dict[str, bytes]) -> dict[str, str]:
        """Load each blob into globals_, each within the time budget; return name -> reason for
        those that failed."""
        import pickle

        failed: dict[str, str] = {}
        for name, blob in blobs.items():
            try:
                value = rebind(self._timed(pickle.loads, blob), globals_)
            except _TooSlow:
                failed[name] = f"its restore took longer than {self.seconds:g} s"
                continue
            except (Exception, SystemExit) as exc:
                failed[name] = f"its restore failed ({type(exc).__name__}: {exc})"[:300]
                continue
            globals_[name] = value
            self._seen[name] = _Seen(value, len(blob), hashlib.blake2b(blob, digest_size=16).digest())
        return failed


def rebind(value: Any, globals_: dict[str, Any]) -> Any:
    """Give functions defined in cells the live namespace as globals again.

    Pickled on its own, a function carries a private copy of the globals it used; restored as is,
    it would no longer see the variables (or the other helpers) of the REPL.
    """
    if isinstance(value, types.FunctionType) and value.__module__ == "__main__":
        func = types.FunctionType(
            value.__code__, globals_, value.__name__, value.__defaults__, value.__closure__
        )
        func.__kwdefaults__ = value.__kwdefaults__
        func.__qualname__ = value.__qualname__
        func.__doc__ = value.__doc__
        func.__annotations__ = value.__annotations__
        func.__dict__.update(value.__dict__)
        return func
    if isinstance(value, type) and value.__module__ == "__main__":
        for key, attr in list(vars(value).items()):
            if isinstance(attr, types.FunctionType):
                setattr(value, key, rebind(attr, globals_))
            elif isinstance(attr, (staticmethod, classmethod)) and isinstance(
                attr.__func__, types.FunctionType
            ):
                setattr(value, key, type(attr)(rebind(attr.__func__, globals_)))
    return value
