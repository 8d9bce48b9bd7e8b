"""Keys a user presses, timed from the key to the screen (or to the process's exit):

- F4 (side panes hidden, then shown again) on a live chat of 500 turns, through the app under
  Textual's headless driver: the key goes in, the time runs until the next frame is composed;
- Ctrl+Q: the installed `rlm` in a pseudo-terminal, from the key to the process's exit;
- typing while `rlm --session ID` opens a session with a 200 MB attachment: each key's time to
  appear in the editor, and whether every key arrived, in order.

Targets: <= 100 ms for each; no key lost.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _app_env import app_rlm  # noqa: E402
from _report import report, summary  # noqa: E402

RLM = app_rlm()  # the `rlm` of `make run`: installed from the app lock alone
SIZE = (140, 40)
TURNS = int(os.environ.get("BENCH_TURNS", 500))
ATTACHMENT_MB = 200
ANSWER = (
    "Here is what I found in part {n}:\n\n- the first point, with **bold** words\n- a second point\n\n"
    "```python\nresult = sum(range({n}))\n```\n\nThat is all for part {n}."
)


def long_chat_events(turns: int) -> list:
    from rlm_tui.events import AnswerReady, TurnFinished, TurnStarted

    events = []
    for n in range(1, turns + 1):
        b = {"session_id": "bench", "turn": n, "node_id": f"t{n}", "parent_id": None}
        events += [
            TurnStarted(
                **b, t=n, user_message=f"question {n}\nwith a second line", root_model="a/r", sub_model="a/s"
            ),
            AnswerReady(**b, t=n + 0.5, answer=ANSWER.format(n=n)),
            TurnFinished(
                **b, t=n + 1, status="ok", duration=1.0, usage={"input_tokens": 10, "output_tokens": 5}
            ),
        ]
    return events


def app_for_bench():
    from rlm_tui.config import load
    from rlm_tui.llm.scripted import ScriptedClient
    from rlm_tui.ui.app import RLMApp

    return RLMApp(load(), client=ScriptedClient(lambda r: "FINAL(ok)"), animate=False)


async def f4_on_a_long_chat() -> tuple[dict[str, float], dict[str, float]]:
    """(hide, show) times of F4 on a chat whose 500 turns were drawn live, one by one."""
    app = app_for_bench()
    hide, show = [], []
    async with app.run_test(size=SIZE) as pilot:
        while not app.startup_done.is_set():
            await pilot.pause(0.05)
        chat = app.chat
        for number in range(0, TURNS, 50):  # drawn by the live path (add_turn), 50 turns a batch
            events = long_chat_events(TURNS)[number * 3 : (number + 50) * 3]
            await chat.render_changes(chat.model.apply_all(events))
        await pilot.pause()
        loop = asyncio.get_running_loop()
        side = chat.query_one("#side")
        for _ in range(6):
            for times in (hide, show):
                before = side.display
                started = time.perf_counter()
                app.simulate_key("f4")
                while side.display == before:
                    await asyncio.sleep(0)
                drawn = loop.create_future()
                app.screen.call_after_refresh(lambda fut=drawn: fut.set_result(time.perf_counter()))
                times.append(await drawn - started)
                await pilot.pause()
        await app.action_quit()
    return summary(hide[1:]), summary(show[1:])  # the first toggle warms caches


def environment(home: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": home,
        "RLM_HOME": home,
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "ANTHROPIC_API_KEY": "bench",
    }


class Screen:
    """A pseudo-terminal's screen, read through pyte."""

    def __init__(self, args: list[str], home: str) -> None:
        import pexpect
        import pyte

        self.screen = pyte.Screen(SIZE[0], SIZE[1])
        self.stream = pyte.ByteStream(self.screen)
        self.child = pexpect.spawn(RLM, args, env=environment(home), dimensions=(SIZE[1], SIZE[0]))

    def pump(self, timeout: float = 0.005) -> None:
        import pexpect

        try:
            while True:
                self.stream.feed(self.child.read_nonblocking(65536, timeout=timeout))
        except pexpect.TIMEOUT:
            pass

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def wait_for(self, needle: str, timeout: float = 30.0) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.pump()
            if needle in self.text():
                return time.perf_counter()
        raise RuntimeError(f"never saw {needle!r}:\n{self.text()}")


def quit_times(runs: int = 5, settle: float = 3.0) -> dict[str, float]:
    """Ctrl+Q to the process's exit, with a session open (its REPL worker running), ``settle``
    seconds after the sandbox shows in the status bar. Within the first second or so the provider
    SDKs are still being imported in a background thread, which holds the GIL for long stretches
    and delays every key (Ctrl+Q included) by up to ~100 ms; both cases are reported."""
    import pexpect

    times = []
    with tempfile.TemporaryDirectory() as home:
        for _ in range(runs + 1):
            term = Screen([], home)
            term.wait_for("Ask anything")
            term.wait_for("bubblewrap" if Path("/usr/bin/bwrap").exists() else "process")
            time.sleep(settle)
            started = time.perf_counter()
            term.child.sendcontrol("q")
            term.child.expect(pexpect.EOF, timeout=20)
            times.append(time.perf_counter() - started)
            term.child.close()
    return summary(times[1:])


def session_with_attachment(home: Path, megabytes: int) -> str:
    """A recorded session (one turn) with a text file of ``megabytes`` attached."""
    big = home / "big.txt"
    line = "the quick brown fox jumps over the lazy dog " * 3 + "\n"
    with big.open("w") as fh:
        block = line * (1024 * 1024 // len(line))
        for _ in range(megabytes):
            fh.write(block)

    async def run() -> str:
        app = app_for_bench()
        async with app.run_test(size=SIZE) as pilot:
            while not app.startup_done.is_set():
                await pilot.pause(0.05)
            await app.workspace.attach(big)
            await app.workspace.send("read it")
            session_id = app.workspace.session.session_id
            await app.action_quit()
        return session_id

    os.environ["RLM_HOME"] = str(home)
    return asyncio.run(run())


def typing_while_opening(home: str, session_id: str) -> tuple[dict[str, float], int, str]:
    """Keys typed 50 ms apart from the first frame on, while the session (and its 200 MB file)
    loads: each key's time to the screen; how many never arrived; what the editor shows."""
    keys = "abcdefghij"
    term = Screen(["--session", session_id], home)
    term.wait_for("rlm-tui")
    times = []
    for i, key in enumerate(keys):
        started = time.perf_counter()
        term.child.send(key)
        try:
            shown = term.wait_for(keys[: i + 1], timeout=10)
        except RuntimeError:
            times.append(10.0)
            continue
        times.append(shown - started)
        time.sleep(max(0.0, 0.05 - (time.perf_counter() - started)))
    term.wait_for("sandbox", timeout=60)
    term.pump(0.2)
    editor = next((line for line in term.screen.display if "│ " in line and "abc" in line), "")
    typed = editor.split("│")[1].strip() if editor.count("│") >= 2 else editor.strip()
    lost = sum(1 for key in keys if key not in typed)
    term.child.sendcontrol("q")
    term.child.expect(__import__("pexpect").EOF, timeout=20)
    return summary(times), lost, typed


def main() -> None:
    hide, show = asyncio.run(f4_on_a_long_chat())
    quits = quit_times()  # idle, as after a while of use
    early = quit_times(settle=0.5)  # right after start-up, the SDK imports still running
    with tempfile.TemporaryDirectory() as home:
        session_id = session_with_attachment(Path(home), ATTACHMENT_MB)
        echo, lost, typed = typing_while_opening(home, session_id)
    ms = 1000
    report(
        "tui_keys",
        [
            {"measure": f"F4 show panes, {TURNS}-turn chat (median)", "value": show["median"] * ms,
             "unit": "ms", "target": "<= 100 ms", "ok": show["median"] <= 0.1},
            {"measure": "  F4 show panes (slowest)", "value": show["p90"] * ms, "unit": "ms"},
            {"measure": f"F4 hide panes, {TURNS}-turn chat (median)", "value": hide["median"] * ms,
             "unit": "ms", "target": "<= 100 ms", "ok": hide["median"] <= 0.1},
            {"measure": "Ctrl+Q to process exit, idle session (median of 5)", "value": quits["median"] * ms, "unit": "ms",
             "target": "<= 100 ms", "ok": quits["median"] <= 0.1},
            {"measure": "  Ctrl+Q (slowest)", "value": quits["p90"] * ms, "unit": "ms"},
            {"measure": "Ctrl+Q 0.5 s after start-up, SDKs still importing (median of 5)",
             "value": early["median"] * ms, "unit": "ms", "target": "<= 100 ms", "ok": early["median"] <= 0.1},
            {"measure": f"key to echo while a {ATTACHMENT_MB} MB session opens (median)",
             "value": echo["median"] * ms, "unit": "ms", "target": "<= 100 ms", "ok": echo["median"] <= 0.1},
            {"measure": "  key to echo (slowest)", "value": statistics.fmean([echo["p90"]]) * ms, "unit": "ms"},
            {"measure": f"keys lost of 10 (editor: {typed!r})", "value": lost, "unit": "",
             "target": "0", "ok": lost == 0},
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
