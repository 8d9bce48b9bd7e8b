"""The status bar: models, this turn's and the session's tokens and cost, elapsed time, sandbox."""

from __future__ import annotations

import time

from textual.widgets import Static

from rlm_tui.events import usage_tokens
from rlm_tui.services import formatting
from rlm_tui.ui.view_model import ViewModel
from rlm_tui.ui.widgets.calltree import short_model


def money(value: float, known: bool = True) -> str:
    """A cost; "+?" when some calls have no known price, "$?" when none has."""
    return formatting.money(value, known)


def _usage(tokens: int, cost: float | None, known: bool, estimated: bool) -> str:
    """Tokens and cost, leaving out what nobody reported: a log without usage shows neither
    "0 tok" nor "$?"; a running turn with no finished call yet shows no "$0.0000"."""
    parts = []
    if tokens:
        parts.append(formatting.tokens(tokens, estimated))
    if cost or (tokens and (cost is not None or not known)):
        parts.append(money(cost or 0.0, known and cost is not None))
    return " ".join(parts)


class StatusBar(Static):
    def __init__(self, model: ViewModel, **kwargs) -> None:
        super().__init__("", markup=False, **kwargs)
        self.model = model
        self.root_model = ""
        self.sub_model = ""
        self.sandbox = "process"
        self.mode = ""  # e.g. "read-only"
        self.animate = True

    def render_text(self, width: int | None = None) -> str:
        """The bar's text; narrower than 100 columns, the labels shorten so it stays on one line."""
        width = width if width is not None else (self.size.width or 160)
        narrow = width < 100
        models = short_model(self.root_model)
        if self.sub_model:
            sub = short_model(self.sub_model)
            family = models.split("-", 1)[0] + "-"
            if narrow and sub.startswith(family) and len(sub) > len(family):
                sub = sub[len(family) :]  # "claude-sonnet-5-5 / haiku-5-5"
            models += (" / " if narrow else " · sub ") + sub
        parts = [models if narrow else f"root {models}"]
        turn = self.model.last_turn
        if turn is not None:
            usage = turn.usage or {}
            estimated = turn.number in self.model.estimated_turns
            label = f"t{turn.number}" if narrow else f"turn {turn.number}"
            if turn.status == "running":
                tokens, cost, known = self.model.live_usage(turn.number)
                elapsed = f" {time.time() - turn.started:.0f}s" if self.animate else ""
                facts = _usage(tokens, cost, known, estimated)
                parts.append(f"{label}: {facts + ' ' if facts else ''}running{elapsed}")
            else:
                tokens = usage_tokens(usage)
                cost = usage.get("cost_usd")
                facts = _usage(tokens, cost, bool(usage.get("cost_complete", True)), estimated)
                duration = f"{turn.duration:.1f}s" if turn.duration is not None else ""
                text = " ".join(p for p in (facts, duration) if p)
                parts.append(f"{label}: {text}" if text else label)
        tokens, cost, known = (
            self.model.session_tokens,
            self.model.session_cost,
            self.model.session_cost_known,
        )
        if turn is not None and turn.status == "running":  # the running turn counts as it goes
            live_tokens, live_cost, live_known = self.model.live_usage(turn.number)
            tokens, cost, known = tokens + live_tokens, cost + live_cost, known and live_known
        estimated = self.model.session_estimated or bool(turn and turn.number in self.model.estimated_turns)
        facts = _usage(tokens, cost, known, estimated)
        if facts:
            parts.append(f"Σ {facts}" if narrow else f"session {facts}")
        parts.append(self.sandbox if narrow else f"sandbox: {self.sandbox}")
        if self.mode:
            parts.append(self.mode)
        return " │ ".join(parts)

    def on_resize(self) -> None:
        self.refresh_status()

    def refresh_status(self) -> None:
        self.update(self.render_text())
