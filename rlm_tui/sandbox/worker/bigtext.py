"""A large attached text file that behaves like its text without being held in memory.

A 10 GB log read into a str needs the bytes and the text at once (and more than the worker may
have); so a text file over ``files.BIG_BYTES`` becomes a ``BigText`` over the descriptor the host
passed. At load time one pass with ``os.pread`` builds a sparse index: the file is cut into blocks
of about ``BLOCK`` bytes, each starting on a character boundary, and for each block its first
character number is kept. A character position is then found by a bisect and the decoding of one
block at most. Nothing is mapped (the worker runs under RLIMIT_AS and a memory cgroup): each
operation reads the windows it needs and lets them go, so memory stays a small multiple of what
the code touches.

Searches (find, count, regex) scan windows of ``WINDOW`` bytes that overlap, so a match across a
window border is found; a regex match may be at most ``MAX_MATCH`` characters long (a longer one
may be cut). ``re.search/match/finditer/findall(p, big)`` are routed to the object's own methods
(``install_re_hooks``; ``re.sub/split/fullmatch`` get its text); a compiled pattern's methods
(``rx.search(big)``) cannot be, use ``big.search(rx)``. Slicing and indexing return ``str``; ``str(big)`` and the str methods this class does
not implement work up to ``MAX_TEXT`` characters and otherwise say to slice.

Text is UTF-8; invalid bytes decode as U+FFFD, block by block, the same way for every operation,
so lengths and positions always agree with each other.
"""

from __future__ import annotations

import bisect
import os
import re
from array import array
from collections.abc import Iterator
from typing import Any

BLOCK = 1 << 20  # bytes per index entry
WINDOW = 8 << 20  # bytes decoded at once by a scan
MAX_MATCH = 1 << 20  # characters a regex match may span across a window border
CONTEXT = 4096  # characters before a window kept for lookbehind, ^ and \b
MAX_TEXT = 256 << 20  # characters str() and str methods materialize at most
RECENT = 4  # decoded blocks kept (a few MB at most)

_OPEN: dict[tuple[str, str], Any] = {}  # (attachment name, file name) -> its file-backed object


def register(key: tuple[str, str], obj: Any) -> None:
    """Make a file-backed object findable by the reference its pickle holds."""
    _OPEN[key] = obj


def by_reference(key: tuple[str, str], nbytes: int) -> Any:
    """Unpickle a reference: the object of the file attached again under the same name."""
    obj = _OPEN.get(tuple(key))  # type: ignore[arg-type]
    if obj is None:
        raise LookupError(f"the attached file {key[1] or key[0]!r} is not attached in this REPL")
    if obj.nbytes != nbytes:
        raise LookupError(f"the attached file {key[1] or key[0]!r} changed size since it was saved")
    return obj


class FileMatch:
    """A regex match in a file: ``re.Match``'s main methods with positions in the whole file."""

    __slots__ = ("_m", "_off")

    def __init__(self, m: re.Match[str], off: int) -> None:
        self._m, self._off = m, off

    def group(self, *groups: Any) -> Any:
        return self._m.group(*groups)

    def __getitem__(self, g: Any) -> Any:
        return self._m[g]

    def groups(self, default: Any = None) -> tuple[Any, ...]:
        return self._m.groups(default)

    def groupdict(self, default: Any = None) -> dict[str, Any]:
        return self._m.groupdict(default)

    def start(self, g: Any = 0) -> int:
        s = self._m.start(g)
        return s if s < 0 else s + self._off

    def end(self, g: Any = 0) -> int:
        e = self._m.end(g)
        return e if e < 0 else e + self._off

    def span(self, g: Any = 0) -> tuple[int, int]:
        return self.start(g), self.end(g)

    @property
    def re(self) -> re.Pattern[str]:
        return self._m.re

    def __repr__(self) -> str:
        text = self._m.group(0)
        text = text if len(text) <= 60 else text[:59] + "…"
        return f"<FileMatch span={self.span()} match={text!r}>"


_HOOKED = False


def install_re_hooks() -> None:
    """Make ``re.search(p, context)`` and its kin work when ``context`` is a ``BigText``: the
    module functions (looked up at call time, so ``import re`` before or after both see them)
    hand a BigText to its own scanning methods and anything else to the originals."""
    global _HOOKED
    if _HOOKED:
        return
    _HOOKED = True
    own = {"search": "search", "match": "match", "finditer": "finditer", "findall": "findall"}
    for name in ("search", "match", "finditer", "findall", "fullmatch", "sub", "subn", "split"):
        original = getattr(re, name)

        def hook(pattern: Any, string: Any, *args: Any, _o: Any = original, _n: str = name, **kw: Any) -> Any:
            if isinstance(string, BigText):
                if _n in own:
                    return getattr(string, own[_n])(pattern, *args, **kw)
                if _n in ("sub", "subn"):
                    return _o(pattern, args[0], str(string), *args[1:], **kw)
                return _o(pattern, str(string), *args, **kw)
            if _n in ("sub", "subn") and args and isinstance(args[0], BigText):
                return _o(pattern, string, str(args[0]), *args[1:], **kw)
            return _o(pattern, string, *args, **kw)

        hook.__module__, hook.__name__, hook.__qualname__ = "re", name, name
        hook.__doc__ = original.__doc__
        setattr(re, name, hook)


def _compile(pattern: Any, flags: int) -> re.Pattern[str]:
    if isinstance(pattern, re.Pattern):
        return pattern
    return re.compile(pattern, flags)


def _self_overlapping(sub: str) -> bool:
    return any(sub[:k] == sub[-k:] for k in range(1, len(sub)))


class BigText:
    """The text of a large attached file, read on demand (see the module's docstring)."""

    def __init__(
        self, fd: int, name: str, key: tuple[str, str] = ("", ""), block: int = BLOCK, digest: Any = None
    ) -> None:
        self._fd = fd
        self._hasher = digest  # a hashlib object fed by the indexing pass (the file is read once)
        self.digest = ""
        self.name = name
        self._key = key
        self.nbytes = os.fstat(fd).st_size
        self._bytes = array("q")  # block k starts at byte _bytes[k] and character _chars[k]
        self._chars = array("q")
        self._ascii = array("b")
        self.lines_count = 0
        self._block = block
        self._recent: dict[int, str] = {}  # block -> its text, the last RECENT decoded
        self._build(block)

    # -- the index ------------------------------------------------------------------------

    def _build(self, block: int) -> None:
        pos, chars, size, last = 0, 0, self.nbytes, b""
        while pos < size:
            end = min(pos + block, size)
            if end < size:  # a block starts on a character: move past continuation bytes
                peek = os.pread(self._fd, 4, end)
                while peek and end < size and peek[0] & 0xC0 == 0x80 and end - pos < block + 3:
                    end, peek = end + 1, peek[1:]
            data = os.pread(self._fd, end - pos, pos)
            if len(data) != end - pos:
                raise OSError(f"{self.name}: the file shrank while it was read")
            os.lseek(self._fd, end, os.SEEK_SET)  # the offset the host shares: how far loading got
            if self._hasher is not None:
                self._hasher.update(data)
            ascii_ = data.isascii()
            self._bytes.append(pos)
            self._chars.append(chars)
            self._ascii.append(1 if ascii_ else 0)
            chars += len(data) if ascii_ else len(data.decode("utf-8", "replace"))
            self.lines_count += data.count(b"\n")
            last = data[-1:]
            pos = end
        self._bytes.append(size)
        self._chars.append(chars)
        self._len = chars
        if self._hasher is not None:
            self.digest, self._hasher = self._hasher.hexdigest(), None
        if size and last != b"\n":
            self.lines_count += 1

    def _block_text(self, k: int) -> str:
        """Block k decoded; the last few are kept, so ``context[i]`` in a loop reads each once."""
        text = self._recent.get(k)
        if text is None:
            data = os.pread(self._fd, self._bytes[k + 1] - self._bytes[k], self._bytes[k])
            text = data.decode("ascii") if self._ascii[k] else data.decode("utf-8", "replace")
            if len(self._recent) >= RECENT:
                del self._recent[next(iter(self._recent))]
            self._recent[k] = text
        return text

    def _block_of(self, c: int) -> int:
        return max(0, bisect.bisect_right(self._chars, c) - 1) if c < self._len else len(self._chars) - 2

    def _read(self, c0: int, c1: int) -> str:
        """Characters [c0, c1) (already clipped to the text)."""
        if c1 <= c0:
            return ""
        k0, k1 = self._block_of(c0), self._block_of(c1 - 1)
        if all(self._ascii[k0 : k1 + 1]):
            return os.pread(self._fd, c1 - c0, self._bytes[k0] + c0 - self._chars[k0]).decode("ascii")
        parts = [self._block_text(k) for k in range(k0, k1 + 1)]
        return "".join(parts)[c0 - self._chars[k0] : c1 - self._chars[k0]]

    def _spans(self, start: int, end: int) -> list[tuple[int, int]]:
        """Character ranges of about ``WINDOW`` bytes each (whole blocks) covering [start, end)."""
        if end <= start:
            return []
        k0, k1 = self._block_of(start), self._block_of(end - 1)
        group = max(1, WINDOW // self._block)
        return [
            (max(start, self._chars[k]), min(end, self._chars[min(k + group, k1 + 1)]))
            for k in range(k0, k1 + 1, group)
        ]

    def _windows(self, start: int, end: int, carry: int, reverse: bool = False) -> Iterator[tuple[int, str]]:
        """(offset, text) windows covering [start, end): each repeats ``carry`` characters of
        its neighbour (the one before, or after when ``reverse``)."""
        spans = self._spans(start, end)
        for lo, hi in reversed(spans) if reverse else spans:
            if reverse:
                yield lo, self._read(lo, min(end, hi + carry))
            else:
                off = max(start, lo - carry)
                yield off, self._read(off, hi)

    # -- behaving like a str ----------------------------------------------------------------

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, key: Any) -> str:
        if isinstance(key, slice):
            c0, c1, step = key.indices(self._len)
            if step == 1:
                return self._check(max(0, c1 - c0), "slice") or self._read(c0, c1)
            lo, hi = (c0, c1) if step > 0 else (c1 + 1, c0 + 1)
            self._check(max(0, hi - lo), "slice")
            return self._read(lo, hi)[slice(c0 - lo, c1 - lo if c1 >= lo else None, step)]
        if not isinstance(key, int):
            raise TypeError(f"file indices must be integers or slices, not {type(key).__name__}")
        i = key + self._len if key < 0 else key
        if not 0 <= i < self._len:
            raise IndexError("file index out of range")
        return self._read(i, i + 1)

    def _check(self, n: int, what: str) -> str:
        if n > MAX_TEXT:
            raise MemoryError(
                f"{self.name}: a {what} of {n:,} characters is refused (at most {MAX_TEXT:,} at once); "
                "slice a smaller range, or use .find/.search/.finditer/.lines()/.chunks(n)"
            )
        return ""

    def __str__(self) -> str:
        self._check(self._len, "str()")
        return self._read(0, self._len)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return (
            f"<BigText {self.name!r}: {self._len:,} chars, {self.lines_count:,} lines, read from the file on "
            "demand; slice it (returns str), .find/.rfind/.count/in, .search/.finditer/.findall(regex), "
            ".lines(), .chunks(n)>"
        )

    def __getattr__(self, name: str) -> Any:
        """Other str methods (upper, split, replace, ...) on the whole text, when it is not too large."""
        if name.startswith("_") or not hasattr(str, name):
            raise AttributeError(f"'BigText' object has no attribute {name!r}")
        if self._len > MAX_TEXT:
            raise AttributeError(
                f"{self.name} is {self._len:,} characters: str.{name} on all of it is refused; "
                f"slice it (context[a:b].{name}(...)) or use .lines()/.chunks(n)/.search/.finditer"
            )
        return getattr(str(self), name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BigText) and other is self:
            return True
        if not isinstance(other, (str, BigText)) or len(other) != self._len:
            return False
        step = WINDOW
        return all(self._read(i, i + step) == other[i : i + step] for i in range(0, self._len, step))

    __hash__ = object.__hash__

    def __add__(self, other: Any) -> str:
        return str(self) + other

    def __radd__(self, other: Any) -> str:
        return other + str(self)

    def __contains__(self, sub: str) -> bool:
        return self.find(sub) >= 0

    def __iter__(self) -> Iterator[str]:
        """Lines, lazily (like a file, not a str's characters)."""
        return self.lines()

    def __reduce__(self) -> tuple[Any, ...]:
        # A snapshot holds where the text comes from, never the text itself.
        return (by_reference, (self._key, self.nbytes))

    def __sizeof__(self) -> int:
        return object.__sizeof__(self) + 20 * len(self._bytes)

    def _span(self, start: int | None, end: int | None) -> tuple[int, int]:
        return slice(start, end).indices(self._len)[:2]

    def _empty(self, start: int | None, end: int | None, at_end: bool) -> int:
        """Where ``str.find('')``/``rfind('')`` would answer, or -1 (a start past the end)."""
        lo, hi = self._span(start, end)
        raw = 0 if start is None else start + self._len if start < 0 else start
        return -1 if raw > self._len or lo > hi else hi if at_end else lo

    def find(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        lo, hi = self._span(start, end)
        if not sub:
            return self._empty(start, end, False)
        for off, text in self._windows(lo, hi, len(sub) - 1):
            i = text.find(sub)
            if i >= 0:
                return off + i
        return -1

    def rfind(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        lo, hi = self._span(start, end)
        if not sub:
            return self._empty(start, end, True)
        for off, text in self._windows(lo, hi, len(sub) - 1, reverse=True):
            i = text.rfind(sub)
            if i >= 0:
                return off + i
        return -1

    def index(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        i = self.find(sub, start, end)
        if i < 0:
            raise ValueError("substring not found")
        return i

    def rindex(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        i = self.rfind(sub, start, end)
        if i < 0:
            raise ValueError("substring not found")
        return i

    def count(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        """Non-overlapping occurrences, as ``str.count``."""
        lo, hi = self._span(start, end)
        if not sub:
            return 0 if self._empty(start, end, False) < 0 else hi - lo + 1
        n, nxt, loop = 0, lo, _self_overlapping(sub)
        for off, text in self._windows(lo, hi, len(sub) - 1):
            i = max(0, nxt - off)
            if not loop:
                found = text.count(sub, i)
                n += found
                if found:
                    nxt = off + text.rfind(sub, i) + len(sub)
                continue
            while (i := text.find(sub, i)) >= 0:
                n += 1
                i += len(sub)
                nxt = off + i
        return n

    def startswith(
        self, prefix: str | tuple[str, ...], start: int | None = None, end: int | None = None
    ) -> bool:
        lo, hi = self._span(start, end)
        prefixes = prefix if isinstance(prefix, tuple) else (prefix,)
        if self._empty(start, end, False) < 0:
            return False
        return any(self._read(lo, min(hi, lo + len(p))) == p and lo + len(p) <= hi for p in prefixes)

    def endswith(
        self, suffix: str | tuple[str, ...], start: int | None = None, end: int | None = None
    ) -> bool:
        lo, hi = self._span(start, end)
        suffixes = suffix if isinstance(suffix, tuple) else (suffix,)
        if self._empty(start, end, False) < 0:
            return False
        return any(hi - len(s) >= lo and self._read(hi - len(s), hi) == s for s in suffixes)

    # -- regex ------------------------------------------------------------------------------

    def finditer(
        self, pattern: Any, flags: int = 0, start: int | None = None, end: int | None = None
    ) -> Iterator[FileMatch]:
        """``re.finditer`` over the file (a match may span at most ``MAX_MATCH`` characters)."""
        rx = _compile(pattern, flags)
        lo, hi = self._span(start, end)
        nxt = lo  # the first position a match may start at (after the last match found)
        spans = self._spans(lo, hi) or [(lo, hi)]
        for j, (w0, w1) in enumerate(spans):
            last = j == len(spans) - 1
            begin = max(0, w0 - CONTEXT)
            text = self._read(begin, hi if last else min(hi, w1 + MAX_MATCH))
            limit = len(text) if last else w1 - begin  # later matches are the next window's
            for m in rx.finditer(text, max(nxt, w0) - begin):
                if m.start() >= limit:
                    break
                nxt = begin + (m.end() if m.end() > m.start() else m.end() + 1)
                yield FileMatch(m, begin)
            del text

    def search(
        self, pattern: Any, flags: int = 0, start: int | None = None, end: int | None = None
    ) -> FileMatch | None:
        return next(self.finditer(pattern, flags, start, end), None)

    def match(self, pattern: Any, flags: int = 0) -> FileMatch | None:
        """A match at the start (of at most ``MAX_MATCH`` characters)."""
        m = _compile(pattern, flags).match(self._read(0, min(self._len, MAX_MATCH)))
        return FileMatch(m, 0) if m else None

    def findall(
        self, pattern: Any, flags: int = 0, start: int | None = None, end: int | None = None
    ) -> list[Any]:
        rx = _compile(pattern, flags)
        out = []
        for m in self.finditer(rx, 0, start, end):
            out.append(m.group(0) if rx.groups == 0 else m.group(1) if rx.groups == 1 else m.groups())
        return out

    # -- lines and chunks -------------------------------------------------------------------

    def lines(self, keepends: bool = False) -> Iterator[str]:
        """The lines (as ``str.splitlines``), one at a time."""
        carry = ""
        windows = self._windows(0, self._len, 0)
        for _, text in windows:
            parts = (carry + text).splitlines(True)
            carry = parts.pop() if parts else ""
            for line in parts:
                yield line if keepends else line.splitlines()[0]
        if carry:
            yield carry if keepends else carry.splitlines()[0]

    def splitlines(self, keepends: bool = False) -> Iterator[str]:  # type: ignore[override]
        """Lazy, unlike ``str.splitlines``: an iterator (wrap it in list() for a small file)."""
        return self.lines(keepends)

    def chunks(self, n: int | None = None, size: int | None = None) -> Iterator[str]:
        """The text in ``n`` pieces of about equal length (or pieces of ``size`` characters), one
        at a time: ``llm_query_batched([f"...{c}" for c in context.chunks(20)])``."""
        if (n is None) == (size is None):
            raise TypeError("chunks() takes n (how many pieces) or size= (characters each)")
        if n is not None:
            if n < 1:
                raise ValueError("chunks(n): n must be at least 1")
            size = -(-self._len // n) or 1
        assert size is not None
        if size < 1:
            raise ValueError("chunks(size=): size must be at least 1")
        self._check(size, "chunk")
        for c in range(0, self._len, size):
            yield self._read(c, min(self._len, c + size))
