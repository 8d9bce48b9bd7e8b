"""The installed `rlm` in a real pseudo-terminal, read through a terminal emulator (pyte)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pyte

RLM = str(Path(sys.executable).with_name("rlm"))
COLS, ROWS = 140, 40


def app_env(tmp_path: Path, anthropic_base: str) -> dict[str, str]:
    """What `rlm` needs to talk to the loopback provider, in a home of its own."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "RLM_HOME": str(tmp_path / "home"),
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": anthropic_base,
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
    }


class Terminal:
    def __init__(self, child: pexpect.spawn, cols: int = COLS, rows: int = ROWS) -> None:
        self.child = child
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.transcript = bytearray()  # every byte the app wrote, for checks over the whole run

    @classmethod
    def spawn(cls, args: list[str], env: dict[str, str], timeout: float = 30) -> Terminal:
        child = pexpect.spawn(RLM, args, env=env, dimensions=(ROWS, COLS), timeout=timeout)
        return cls(child)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def pump(self) -> None:
        try:
            while True:
                data = self.child.read_nonblocking(65536, timeout=0.05)
                self.transcript += data
                self.stream.feed(data)
        except (pexpect.TIMEOUT, pexpect.EOF):
            pass

    def wait_until(self, done: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump()
            text = self.text()
            if done(text):
                return text
            if not self.child.isalive():
                break
        raise AssertionError(f"never saw {what} on the screen:\n{self.text()}")

    def wait_for(self, *needles: str, timeout: float = 30.0) -> str:
        return self.wait_until(lambda text: all(n in text for n in needles), str(needles), timeout)

    def after_exit(self) -> bytes:
        """What the app wrote after it left the alternate screen: where a crash would be reported
        (a model cell's own traceback, shown in the cells pane, is not)."""
        return bytes(self.transcript.rpartition(b"\x1b[?1049l")[2])

    def quit(self) -> int | None:
        self.child.sendcontrol("q")
        self.child.expect(pexpect.EOF, timeout=20)
        self.transcript += self.child.before or b""
        self.child.close()
        return self.child.exitstatus
