from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from rlm_tui.engine.session import Session
from rlm_tui.engine.settings import EngineSettings, Limits
from rlm_tui.events import Event
from rlm_tui.llm.scripted import ScriptedClient, by_purpose
from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.settings import SandboxSettings


@dataclass
class Harness:
    session: Session
    client: ScriptedClient
    events: list[Event] = field(default_factory=list)

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.event_type == kind]

    def root_requests(self) -> list[Any]:
        return [r for r in self.client.requests if r.purpose != "sub"]

    def feedback(self, n: int) -> str:
        """The user message the engine sent the root model before its reply n+1 (1-based n)."""
        return self.root_requests()[n].messages[-1].content


@pytest.fixture
async def make_session(tmp_path):
    sessions: list[Session] = []

    async def make(
        root=(),
        sub=None,
        *,
        responder=None,
        windows=None,
        price=0.0,
        max_output_tokens=None,
        engine_args=None,
        **limit_args,
    ) -> Harness:
        client = ScriptedClient(
            responder or by_purpose(root, sub), context_windows=windows, price_per_token=price
        )
        settings = EngineSettings(
            root_model="scripted/root",
            sub_model="scripted/sub",
            limits=Limits(**limit_args),
            sandbox=SandboxSettings(interrupt_grace=1.0),
            max_output_tokens=max_output_tokens,
            **(engine_args or {}),
        )
        harness = Harness(None, client)  # type: ignore[arg-type]
        session = Session(
            settings,
            client,
            harness.events.append,
            repl_factory=Worker,
            workdir=tmp_path / f"s{len(sessions)}",
        )
        harness.session = session
        await session.start()
        sessions.append(session)
        return harness

    yield make
    for session in sessions:
        await session.close()


def repl(code: str, text: str = "") -> str:
    """A model reply with one ```repl block."""
    return f"{text}\n```repl\n{code.strip()}\n```\n"
