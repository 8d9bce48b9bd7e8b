"""The status bar: models, this turn's and the session's tokens and cost, elapsed time, sandbox."""

from __future__ import annotations

import time

from textual.widgets import Static

from rlm_tui.events import usage_tokens
from rlm_tui.ui.view_model import ViewModel
from rlm_tui.ui.widgets.calltree import short_model, tokens_text


def money(value: float, known: bool = True) -> str:
    """A cost; "+?" when some calls have no known price, "$?" when none has."""
    if not known and not value:
        return "$?"
    return f"${value:.4f}" + ("" if known else "+?")


class StatusBar(Static):
    def __init__(self, model: ViewModel, **kwargs) -> None:
        super().__init__("", markup=False, **kwargs)
        self.model = model
        self.root_model = ""
        self.sub_model = ""
        self.sandbox = "process"
        self.mode = ""  # e.g. "read-only"
        self.animate = True

    def render_text(self) -> str:
        parts = [f"root {short_model(self.root_model)}", f"sub {short_model(self.sub_model)}"]
        turn = self.model.last_turn
        if turn is not None:
            usage = turn.usage or {}
            estimated = turn.number in self.model.estimated_turns
            if turn.status == "running":
                tokens, cost, known = self.model.live_usage(turn.number)
                elapsed = f" · {time.time() - turn.started:.0f}s" if self.animate else ""
                parts.append(
                    f"turn {turn.number}: {tokens_text(tokens, estimated)} {money(cost, known)} running{elapsed}"
                )
            else:
                tokens = usage_tokens(usage)
                cost = usage.get("cost_usd")
                cost_text = "$?" if cost is None else money(cost, usage.get("cost_complete", True))
                duration = f" · {turn.duration:.1f}s" if turn.duration is not None else ""
                parts.append(f"turn {turn.number}: {tokens_text(tokens, estimated)} {cost_text}{duration}")
        tokens, cost, known = (
            self.model.session_tokens,
            self.model.session_cost,
            self.model.session_cost_known,
        )
        if turn is not None and turn.status == "running":  # the running turn counts as it goes
            live_tokens, live_cost, live_known = self.model.live_usage(turn.number)
            tokens, cost, known = tokens + live_tokens, cost + live_cost, known and live_known
        estimated = self.model.session_estimated or bool(turn and turn.number in self.model.estimated_turns)
        parts.append(f"session {tokens_text(tokens, estimated)} {money(cost, known)}")
        parts.append(f"sandbox: {self.sandbox}")
        if self.mode:
            parts.append(self.mode)
        return " │ ".join(parts)

    def refresh_status(self) -> None:
        self.update(self.render_text())
