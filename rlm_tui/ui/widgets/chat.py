"""The chat pane: user messages and answers as Markdown, the root model's reply streaming in.

While a turn runs, its assistant message shows the current root iteration's reply as it streams
(through ``Markdown.get_stream``, so tokens are appended, never re-rendered one by one); when the
turn ends, one final update replaces it with the answer.
"""

from __future__ import annotations

import json
import re

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Button, Markdown, Static

from rlm_tui.events import limit_name, nodes
from rlm_tui.ui.view_model import Turn

USER_CHARS = 4000  # of a very long user message, the chat shows this much
PAGE = 10  # turns shown at first in a long session; "show earlier" adds this many more


_REPL_FENCE = re.compile(r"^([ \t]*```)repl[ \t]*$", re.M)


def reply_markdown(text: str) -> str:
    """A model reply for display: ```repl blocks are Python (highlighted, indentation kept)."""
    return _REPL_FENCE.sub(r"\1python", text)


def answer_markdown(answer: str) -> str:
    """An answer as Markdown; one that is JSON (a FINAL_VAR of a dict or list) shows as a code block."""
    text = answer.strip()
    if text[:1] in "{[" and text[-1:] in "}]":
        try:
            json.loads(text)
        except ValueError:
            return answer
        return f"```json\n{text}\n```"
    return answer


class UserMessage(Vertical):
    def __init__(self, turn: Turn) -> None:
        super().__init__(classes="message user")
        self.turn = turn

    def compose(self) -> ComposeResult:
        yield Static(f"You · turn {self.turn.number}", classes="who")
        text = self.turn.user
        if len(text) > USER_CHARS:  # a pasted book: the model has it in `context`; the chat shows its start
            text = (
                f"{text[:USER_CHARS].rstrip()}\n\n… _({len(self.turn.user) - USER_CHARS:,} more characters)_"
            )
        yield Markdown(text, classes="body")


class AssistantMessage(Vertical):
    def __init__(self, turn: Turn) -> None:
        super().__init__(classes="message assistant")
        self.turn = turn
        self._stream = None
        self._shown = ""  # the Markdown on screen: an update that would change nothing is skipped
        self.drafting = False  # a reply is streaming in (until the turn's answer replaces it)

    def compose(self) -> ComposeResult:
        yield Static(self._label(), classes="who")
        # A running turn starts empty and its reply streams in. (A Markdown given text here loads
        # it in its own mount handler, which would race with the stream.)
        self._shown = answer_markdown(self.turn.answer) if self.turn.answer is not None else ""
        yield Markdown(self._shown, classes="body")

    def _label(self) -> str:
        turn = self.turn
        if turn.status == "running":
            return "RLM · working…" if not turn.draft_node else f"RLM · {nodes.last_label(turn.draft_node)}"
        facts = []
        if turn.stopped_by:
            facts.append(f"stopped by the {limit_name(turn.stopped_by)}")
        elif turn.status not in ("ok",):
            facts.append(turn.status)
        if turn.duration is not None:
            facts.append(f"{turn.duration:.1f} s")
        return "RLM" + (" · " + " · ".join(facts) if facts else "")

    @property
    def body(self) -> Markdown:
        return self.query_one(".body", Markdown)

    async def _show(self, markdown: str) -> None:
        if markdown.strip() != self._shown.strip():
            await self.body.update(markdown)
        self._shown = markdown

    async def restart_draft(self) -> None:
        await self._stop_stream()
        self.drafting = True
        who = self.query_one(".who", Static)
        who.set_class(True, "-draft")  # on the label: a class on the message would restyle every block
        who.update(self._label())
        await self._show("")

    async def append_draft(self, text: str) -> None:
        if not self.drafting:
            return
        if self._stream is None:
            self._stream = Markdown.get_stream(self.body)
        text = text.replace("```repl\n", "```python\n")
        self._shown += text
        await self._stream.write(text)

    async def complete_draft(self) -> None:
        """The current reply is complete: replace the streamed text with it, once."""
        if not self.drafting:
            return
        await self._stop_stream()
        await self._show(reply_markdown(self.turn.draft))

    async def _stop_stream(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.stop()

    async def finish(self) -> None:
        """The turn ended: one final update with the answer (or why there is none)."""
        await self._stop_stream()
        self.drafting = False
        turn = self.turn
        who = self.query_one(".who", Static)
        who.set_class(False, "-draft")
        who.set_class(turn.answer is None, "-failed")
        if turn.answer is not None:
            text = answer_markdown(turn.answer)
        elif turn.status == "cancelled":
            text = "_Cancelled. What was done so far is kept in the REPL and the session._"
        else:
            text = f"**The turn {turn.status}.** {turn.error or ''}"
        self.query_one(".who", Static).update(self._label())
        await self._show(text)


class ChatView(VerticalScroll):
    """All turns of the session; stays scrolled to the newest output only while you are at the bottom."""

    ALLOW_MAXIMIZE = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.assistants: dict[int, AssistantMessage] = {}
        self._hidden: list[Turn] = []

    def on_mount(self) -> None:
        self.anchor()

    async def add_turn(self, turn: Turn) -> AssistantMessage:
        assistant = AssistantMessage(turn)
        self.assistants[turn.number] = assistant
        await self.mount_all([UserMessage(turn), assistant])
        return assistant

    async def show_history(self, turns: list[Turn]) -> None:
        """A recorded session: mount its latest turns; earlier ones come on request."""
        self._hidden = turns[:-PAGE] if len(turns) > PAGE else []
        if self._hidden:
            await self.mount(
                Button(f"Show {min(PAGE, len(self._hidden))} earlier turns", id="earlier", variant="default")
            )
        widgets = []
        for turn in turns[-PAGE:]:
            assistant = AssistantMessage(turn)
            self.assistants[turn.number] = assistant
            widgets += [UserMessage(turn), assistant]
        await self.mount_all(widgets)
        self.anchor()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "earlier":
            return
        event.stop()
        batch, self._hidden = self._hidden[-PAGE:], self._hidden[:-PAGE]
        widgets = []
        for turn in batch:
            assistant = AssistantMessage(turn)
            self.assistants[turn.number] = assistant
            widgets += [UserMessage(turn), assistant]
        await self.mount_all(widgets, after=event.button)
        if self._hidden:
            event.button.label = f"Show {min(PAGE, len(self._hidden))} earlier turns"
            await self.move_child(event.button, before=0)
        else:
            await event.button.remove()

    async def add_notice(self, text: str, *, error: bool = False) -> None:
        await self.mount(Static(text, classes="notice" + (" -error" if error else ""), markup=False))

    async def clear_all(self) -> None:
        self.assistants.clear()
        self._hidden = []
        await self.remove_children()
