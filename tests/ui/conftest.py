"""The app under Pilot, with a scripted model and its own RLM_HOME."""

from __future__ import annotations

import asyncio

import pytest

from rlm_tui.config import load
from rlm_tui.llm.scripted import ScriptedClient, by_purpose
from rlm_tui.ui.app import RLMApp


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RLM_HOME", str(tmp_path / "home"))
    for name in ("RLM_MODEL", "RLM_SUB_MODEL", "RLM_THEME", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def make_app(root=(), sub=None, *, responder=None, **kwargs) -> RLMApp:
    client = ScriptedClient(responder or by_purpose(root, sub))
    return RLMApp(load(), client=client, animate=False, **kwargs)


async def wait_for(condition, pilot, timeout: float = 20.0) -> None:
    """Let the app run until ``condition()`` holds (the app's own work, not a fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("the app did not get there in time")
        await pilot.pause(0.02)


async def send(pilot, app: RLMApp, text: str) -> None:
    prompt = app.chat.query_one("#prompt")
    prompt.focus()
    prompt.text = text
    await pilot.press("enter")


def turn_done(app: RLMApp, number: int):
    def check() -> bool:
        turn = app.chat.model.turns.get(number)
        return turn is not None and turn.status != "running" and not app.workspace.busy

    return check
