"""The chat pane: user messages and answers as Markdown, the root model's reply streaming in.

While a turn runs, its assistant message shows the current root iteration's reply as it streams
(through ``Markdown.get_stream``, so tokens are appended, never re-rendered one by one); when the
turn ends, one final update replaces it with the answer.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Button, Markdown, Static

from rlm_tui.events import limit_name, nodes
from rlm_tui.events.text import answer_markdown
from rlm_tui.services.formatting import plural
from rlm_tui.ui.uninterrupted import whole
from rlm_tui.ui.view_model import Turn
from rlm_tui.ui.widgets.settled import SettledMarkdown

USER_CHARS = 4000  # of a very long user message, the chat shows this much
PAGE = 10  # turns shown at first in a long session; "show earlier" adds this many more
LIVE_TURNS = 6  # turns a live chat keeps mounted; older ones fold behind "show earlier",
FOLD_STEP = 4  # this many at a time (so a new turn does not fold one each time)


_REPL_FENCE = re.compile(r"^([ \t]*```)repl[ \t]*$", re.M)


def reply_markdown(text: str) -> str:
    """A model reply for display: ```repl blocks are Python (highlighted, indentation kept)."""
    return _REPL_FENCE.sub(r"\1python", text)


def _earlier_label(hidden: int) -> str:
    return f"Show {plural(min(PAGE, hidden), 'earlier turn')}"


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
        # The user's words as typed: newlines kept, nothing read as Markdown or Rich markup.
        yield Static(Text(text), classes="body", markup=False)


def outcome_markdown(turn: Turn) -> str:
    """What a finished turn's message says: its answer, or why there is none. The live view and
    a replay of the session say the same."""
    if turn.answer is not None:
        return answer_markdown(turn.answer)
    if turn.status == "cancelled":
        return "_Cancelled. What was done so far is kept in the REPL and the session._"
    return f"**The turn {turn.status}.** {turn.error or ''}"


class AssistantMessage(Vertical):
    def __init__(self, turn: Turn) -> None:
        super().__init__(classes="message assistant")
        self.turn = turn
        self._stream = None
        self._shown = ""  # the Markdown on screen: an update that would change nothing is skipped
        self.drafting = False  # a reply is streaming in (until the turn's answer replaces it)

    def compose(self) -> ComposeResult:
        failed = self.turn.status != "running" and self.turn.answer is None
        yield Static(self._label(), classes="who -failed" if failed else "who", markup=False)
        if self.turn.status != "running":  # a recorded turn: drawn once, as one widget
            self._shown = outcome_markdown(self.turn)
            yield SettledMarkdown(self._shown, code_theme=self._code_theme(), classes="body")
            return
        # A running turn starts empty and its reply streams in. (A Markdown given text here loads
        # it in its own mount handler, which would race with the stream.)
        yield Markdown("", classes="body")

    def _code_theme(self) -> str:
        syntax_style = getattr(self.app, "syntax_style", None)
        return syntax_style() if syntax_style is not None else "monokai"

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
    def body(self) -> Markdown | SettledMarkdown:
        """What the message shows (``source`` is its Markdown): streaming, or settled."""
        return self.query_one(".body")  # type: ignore[return-value]

    async def _show(self, markdown: str) -> None:
        if markdown.strip() != self._shown.strip():
            body = self.body
            if isinstance(body, Markdown):
                await body.update(markdown)
            else:
                await self._settle(markdown)
        self._shown = markdown

    async def _settle(self, markdown: str) -> None:
        """Draw ``markdown`` as one widget (the turn ended: nothing streams into it any more)."""
        if not self.is_attached:  # removed meanwhile (the chat was reset, the app is closing)
            return
        old = self.body
        if isinstance(old, SettledMarkdown) and old.source == markdown:
            return
        await self.mount(SettledMarkdown(markdown, code_theme=self._code_theme(), classes="body"), after=old)
        await whole(old.remove())

    async def restart_draft(self) -> None:
        await self._stop_stream()
        self.drafting = True
        who = self.query_one(".who", Static)
        who.set_class(True, "-draft")  # on the label: a class on the message would restyle every block
        who.update(self._label())
        body = self.body
        if isinstance(body, SettledMarkdown) and self.is_attached:  # a reply streams in again
            await self.mount(Markdown("", classes="body"), after=body)
            await whole(body.remove())
            self._shown = ""
        await self._show("")

    async def append_draft(self, text: str) -> None:
        if not self.drafting:
            return
        if self._stream is None:
            self._stream = Markdown.get_stream(self.body)  # type: ignore[arg-type]
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
        text = outcome_markdown(turn)
        self.query_one(".who", Static).update(self._label())
        self._shown = text
        await self._settle(text)


class NewOutputMarker(Static):
    """Shown at the foot of the chat while new output arrives below what the user is reading;
    a click (or End in the chat) jumps down."""

    def __init__(self) -> None:
        super().__init__("↓ new output below · End jumps down", id="new-below", markup=False)
        self.display = False

    def on_click(self) -> None:
        chat = self.parent
        if isinstance(chat, ChatView):
            chat.jump_to_end()


class ChatView(VerticalScroll):
    """All turns of the session; stays scrolled to the newest output only while you are at the bottom."""

    ALLOW_MAXIMIZE = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.assistants: dict[int, AssistantMessage] = {}
        self._hidden: list[Turn] = []
        self.marker = NewOutputMarker()
        self.reading_above = False  # the user scrolled up from the newest output

    def compose(self) -> ComposeResult:
        yield self.marker

    def on_mount(self) -> None:
        self.anchor()

    def watch_virtual_size(self, old: Size, new: Size) -> None:
        """Output grew while the user reads further up: say so (the view stays where it is)."""
        if new.height > old.height and self.reading_above:
            self.marker.display = True

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Only the user scrolls up (the chat itself only follows new output down); at the
        # bottom again, the chat follows new output and the marker goes.
        if round(new_value) < round(old_value):
            self.reading_above = True
        if round(new_value) >= self.max_scroll_y:
            self.reading_above = False
            self.marker.display = False

    def jump_to_end(self) -> None:
        self.marker.display = False
        self.scroll_end(animate=False)  # and the view follows new output again

    async def add_turn(self, turn: Turn) -> AssistantMessage:
        assistant = AssistantMessage(turn)
        self.assistants[turn.number] = assistant
        await self.mount_all([UserMessage(turn), assistant])
        await self._fold_old_turns()
        return assistant

    async def _fold_old_turns(self) -> None:
        """A long live chat keeps its newest LIVE_TURNS turns on screen and folds older ones
        behind "show earlier": every widget on screen is laid out again when the width changes
        (F4, a resize), so 500 mounted turns made showing the side panes take a second."""
        users = [c for c in self.children if isinstance(c, UserMessage)]
        if len(users) <= LIVE_TURNS + FOLD_STEP or self.reading_above:
            return  # never while the user reads further up
        first_kept = users[len(users) - LIVE_TURNS]
        old: list[Widget] = []
        for child in self.children:
            if child is first_kept:
                break
            if child is not self.marker and child.id != "earlier":
                old.append(child)
        folded = [w.turn for w in old if isinstance(w, UserMessage)]
        for turn in folded:
            self.assistants.pop(turn.number, None)
        self._hidden += folded
        await whole(self.remove_children(old))
        label = _earlier_label(len(self._hidden))
        buttons = self.query_children("#earlier")
        if buttons:
            buttons.first(Button).label = label
        else:
            await self.mount(Button(label, id="earlier", variant="default"), before=0)

    async def show_history(self, turns: list[Turn]) -> None:
        """A recorded session: mount its latest turns; earlier ones come on request."""
        self._hidden = turns[:-PAGE] if len(turns) > PAGE else []
        if self._hidden:
            await self.mount(Button(_earlier_label(len(self._hidden)), id="earlier", variant="default"))
        await self.mount_all(self._history_widgets(turns[-PAGE:]))
        self.anchor()

    def _history_widgets(self, turns: list[Turn]) -> list[Widget]:
        """Recorded turns as the live view drew them: message, answer, then the turn's notices."""
        widgets: list[Widget] = []
        for turn in turns:
            assistant = AssistantMessage(turn)
            self.assistants[turn.number] = assistant
            widgets += [UserMessage(turn), assistant]
            widgets += [Static(notice, classes="notice", markup=False) for notice in turn.notices]
        return widgets

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "earlier":
            return
        event.stop()
        batch, self._hidden = self._hidden[-PAGE:], self._hidden[:-PAGE]
        await self.mount_all(self._history_widgets(batch), after=event.button)
        if self._hidden:
            event.button.label = _earlier_label(len(self._hidden))
            self.move_child(event.button, before=0)
        else:
            await event.button.remove()

    async def add_notice(self, text: str, *, error: bool = False) -> None:
        await self.mount(Static(text, classes="notice" + (" -error" if error else ""), markup=False))

    async def clear_all(self) -> None:
        self.assistants.clear()
        self._hidden = []
        self.marker.display = self.reading_above = False
        await whole(self.remove_children([c for c in self.children if c is not self.marker]))
