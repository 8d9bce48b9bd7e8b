"""The installed `rlm` in a real pseudo-terminal, against the loopback provider: type a message,
watch the answer, a code cell and tree nodes appear on the screen, quit cleanly."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pexpect
import pyte

from tests.cli.conftest import ROOT_SYSTEM, repl
from tests.fakes.provider import FakeProvider, Script

RLM = str(Path(sys.executable).with_name("rlm"))
COLS, ROWS = 140, 40


class Terminal:
    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.ByteStream(self.screen)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def pump(self) -> None:
        try:
            while True:
                self.stream.feed(self.child.read_nonblocking(65536, timeout=0.05))
        except pexpect.TIMEOUT:
            pass

    def wait_for(self, *needles: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump()
            text = self.text()
            if all(n in text for n in needles):
                return text
            if not self.child.isalive():
                break
        raise AssertionError(f"never saw {needles} on the screen:\n{self.text()}")


def test_a_conversation_in_a_real_terminal(tmp_path):
    script = Script()
    script.on(system_contains=ROOT_SYSTEM, replies=[
        repl("x = 6 * 7\nconfirm = llm_query('Is 6*7 equal to 42? Answer yes or no.')\nprint(x, confirm)"),
        "FINAL(The answer is 42, and the sub-model agrees.)",
    ])  # fmt: skip
    script.on(contains="Is 6*7 equal to 42", reply="yes")
    with FakeProvider(script) as provider:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "RLM_HOME": str(tmp_path / "home"),
            "ANTHROPIC_API_KEY": "test-key",
            "ANTHROPIC_BASE_URL": provider.anthropic_base,
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
        }
        child = pexpect.spawn(RLM, env=env, dimensions=(ROWS, COLS), timeout=30)
        terminal = Terminal(child)
        try:
            terminal.wait_for("Ask anything", "Cells", "Calls")
            child.send("What is six times seven?\r")
            screen = terminal.wait_for(
                "The answer is 42, and the sub-model agrees.", "x = 6 * 7", "llm_query ·"
            )
            assert "You · turn 1" in screen and "What is six times seven?" in screen
            assert "✓ iteration 1" in screen and "✓ cell 1" in screen
            assert "42 yes" in screen  # the cell's output
            child.sendcontrol("q")
            child.expect(pexpect.EOF, timeout=20)
        finally:
            child.close()
        assert child.exitstatus == 0
        assert len([r for r in provider.requests if ROOT_SYSTEM in r.system]) == 2
