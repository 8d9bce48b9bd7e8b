"""The installed `rlm` in a real pseudo-terminal, against the loopback provider: type a message,
watch the answer, a code cell and tree nodes appear on the screen, quit cleanly."""

from __future__ import annotations

from tests.cli.conftest import ROOT_SYSTEM, repl
from tests.fakes.provider import FakeProvider, Script
from tests.ui.terminal import Terminal, app_env


def test_a_conversation_in_a_real_terminal(tmp_path):
    script = Script()
    script.on(system_contains=ROOT_SYSTEM, replies=[
        repl("x = 6 * 7\nconfirm = llm_query('Is 6*7 equal to 42? Answer yes or no.')\nprint(x, confirm)"),
        "FINAL(The answer is 42, and the sub-model agrees.)",
    ])  # fmt: skip
    script.on(contains="Is 6*7 equal to 42", reply="yes")
    with FakeProvider(script) as provider:
        env = app_env(tmp_path, provider.anthropic_base)
        terminal = Terminal.spawn([], env)
        child = terminal.child
        try:
            terminal.wait_for("Ask anything", "Cells", "Calls")
            child.send("What is six times seven?\r")
            screen = terminal.wait_for(
                "The answer is 42, and the sub-model agrees.", "x = 6 * 7", "llm_query “Is 6*7 equal to 42?"
            )
            assert "You · turn 1" in screen and "What is six times seven?" in screen
            assert "✓ iteration 1" in screen and "✓ cell 1" in screen
            assert "42 yes" in screen  # the cell's output
            assert terminal.quit() == 0
        finally:
            child.close()
        assert len([r for r in provider.requests if ROOT_SYSTEM in r.system]) == 2


def test_keys_typed_in_one_burst_after_enter_are_the_next_message(tmp_path):
    """A paste without bracketed paste, or a fast typist: "first" Enter "second", in one write.
    Enter takes "first"; "second" stays in the editor (it was lost, or merged into the first)."""
    script = Script()
    script.on(system_contains=ROOT_SYSTEM, replies=["FINAL(answered the first)"])
    with FakeProvider(script) as provider:
        env = app_env(tmp_path, provider.anthropic_base)
        terminal = Terminal.spawn([], env)
        try:
            terminal.wait_for("Ask anything")
            terminal.child.send("first\rsecond")
            screen = terminal.wait_for("answered the first")
            assert "You · turn 1" in screen and "second" in screen.split("You · turn 1", 1)[1]
            assert "firstsecond" not in screen
            assert terminal.quit() == 0
        finally:
            terminal.child.close()
    sent = [r for r in provider.requests if ROOT_SYSTEM in r.system]
    assert len(sent) == 1 and "firstsecond" not in str(sent[0].messages)
