"""The event spine: typed, immutable records of every step of a turn.

The engine emits them; the TUI, the headless CLI, the recorder and the trajectory viewer consume
them. Every event carries ``session_id, turn, node_id, parent_id, t``; ``node_id``/``parent_id``
form the recursion tree (turn -> iteration -> cell -> sub-call -> child iteration -> ...).

Events round-trip through plain dicts (``to_dict`` / ``event_from_dict``) so the store and the
JSONL exports can keep them without knowing their classes. They are immutable all the way down:
lists become tuples and dicts become ``FrozenDict`` when an event is made.

The node-id grammar is in ``events.nodes``; the fold of events into turns in ``events.fold``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

CellStatus = Literal["ok", "error", "timeout", "interrupted", "crashed"]
TurnStatus = Literal["ok", "stopped", "cancelled", "failed", "stuck"]
SubCallKind = Literal["llm", "rlm"]
NoticeKind = Literal["retry", "worker_restarted", "limit", "file_changed", "sandbox", "info"]
Stream = Literal["stdout", "stderr"]


class FrozenDict(Mapping[str, Any]):
    """A read-only dict for event fields: hashable content cannot be changed after the fact."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data = {k: freeze(v) for k, v in (data or {}).items()}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"

    def __eq__(self, other: object) -> bool:
        return dict(self._data) == other if isinstance(other, Mapping) else NotImplemented

    __hash__ = None  # type: ignore[assignment]


def freeze(value: Any) -> Any:
    """Lists as tuples and dicts as FrozenDicts, all the way down."""
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict(value)
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The plain JSON shape of a frozen value: tuples as lists, FrozenDicts as dicts."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


def _now() -> float:
    # time.time is looked up when the event is made, not bound once at import, so the screenshot
    # script's repeatable clock (scripts/screenshots.py) reaches the events' timestamps too.
    return time.time()


@dataclass(frozen=True, slots=True)
class Event:
    session_id: str
    turn: int
    node_id: str
    parent_id: str | None
    t: float = field(default_factory=_now, kw_only=True)

    event_type: ClassVar[str] = "Event"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list | tuple | Mapping):
                frozen = freeze(value)
                if frozen is not value:
                    object.__setattr__(self, f.name, frozen)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: thaw(getattr(self, f.name)) for f in dataclasses.fields(self)}
        data["type"] = self.event_type
        return data


def _register(cls: type[Event]) -> type[Event]:
    cls.event_type = cls.__name__
    EVENT_TYPES[cls.__name__] = cls
    return cls


EVENT_TYPES: dict[str, type[Event]] = {}


@_register
@dataclass(frozen=True, slots=True)
class TurnStarted(Event):
    user_message: str
    root_model: str
    sub_model: str
    attachments: tuple[str, ...] = ()


@_register
@dataclass(frozen=True, slots=True)
class ModelStarted(Event):
    """A root or child RLM iteration asks its model for a reply.

    ``messages`` holds only what was added since this RLM's previous call (the first call has the
    turn's opening message): the full prompt of iteration k is the system prompt plus the messages
    of iterations 1..k of the same parent node. The system prompt is recorded once per session (and
    again when it changes), as a first ``system`` message. ``prompt_chars`` is the full prompt's size.
    """

    model: str
    depth: int
    iteration: int
    messages: tuple[Mapping[str, str], ...]
    prompt_chars: int


@_register
@dataclass(frozen=True, slots=True)
class ModelDelta(Event):
    text: str


@_register
@dataclass(frozen=True, slots=True)
class ModelFinished(Event):
    model: str
    text: str
    usage: Mapping[str, Any]  # with "estimated": True when the provider reported none
    cost_usd: float | None
    duration: float
    error: str | None = None
    stop_reason: str | None = None  # the provider's: end_turn/stop, max_tokens/length (cut), ...


@_register
@dataclass(frozen=True, slots=True)
class Compacted(Event):
    """An RLM's prompt was compacted to fit its model's context window: the ``removed`` messages
    after its first one (whole iterations: a reply and the feedback on it) were replaced by
    ``summary``, appended to the first message. ``node_id`` is the compaction's own node, below
    the RLM node ``parent_id`` whose prompt it changed."""

    removed: int
    summary: str
    iterations: tuple[int, ...]  # the iterations whose messages were removed
    tokens_before: int
    tokens_after: int
    window: int


@_register
@dataclass(frozen=True, slots=True)
class CellStarted(Event):
    code: str
    depth: int
    iteration: int
    index: int


@_register
@dataclass(frozen=True, slots=True)
class CellOutput(Event):
    stream: Stream
    text: str


@_register
@dataclass(frozen=True, slots=True)
class CellFinished(Event):
    status: CellStatus
    output_for_model: str
    output_chars: int
    dropped_chars: int
    truncated: bool
    error: str | None
    duration: float
    final: str | None = None


@_register
@dataclass(frozen=True, slots=True)
class SubCallStarted(Event):
    kind: SubCallKind
    model: str
    prompt: str
    depth: int
    cached: bool = False


@_register
@dataclass(frozen=True, slots=True)
class SubCallFinished(Event):
    kind: SubCallKind
    model: str
    response: str | None
    usage: Mapping[str, Any]
    cost_usd: float | None
    duration: float
    cached: bool = False
    error: str | None = None


@_register
@dataclass(frozen=True, slots=True)
class AnswerReady(Event):
    answer: str
    stopped_by: str | None = None


@_register
@dataclass(frozen=True, slots=True)
class TurnFinished(Event):
    status: TurnStatus
    usage: Mapping[str, Any]
    duration: float
    stopped_by: str | None = None
    error: str | None = None


@_register
@dataclass(frozen=True, slots=True)
class Notice(Event):
    kind: NoticeKind
    message: str
    data: Mapping[str, Any] = field(default_factory=FrozenDict)


@_register
@dataclass(frozen=True, slots=True)
class Error(Event):
    message: str
    where: str = ""


LIMIT_NAMES = {
    "iterations": "iteration limit",
    "sub_calls": "sub-call limit",
    "cost": "cost limit",
    "time": "time limit",
    "depth": "depth limit",
    "output_limit": "output token limit",
}


def limit_name(stopped_by: str) -> str:
    """How a turn's ``stopped_by`` reads: "iteration limit", "output token limit"."""
    return LIMIT_NAMES.get(stopped_by, f"{stopped_by.replace('_', ' ')} limit")


def turn_outcome_text(status: str, answer: str | None, error: str | None = None) -> str:
    """What ``history`` records as the assistant's side of a turn."""
    if answer is not None:
        return answer
    if status == "cancelled":
        return "[the user cancelled this turn before it finished]"
    if status == "stuck":
        return f"[this turn was stopped: {error}]"
    if status == "interrupted":
        return "[this turn was interrupted before it finished: the app stopped]"
    return f"[this turn failed: {error}]"


def event_from_dict(data: Mapping[str, Any]) -> Event:
    """Rebuild an event from ``to_dict`` output; unknown keys are ignored for forward compat."""
    cls = EVENT_TYPES[data["type"]]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


EventSink = Callable[[Event], None]


class EventBus:
    """Fans events out to subscribers, synchronously and in order.

    A subscriber that raises is skipped for that event (one broken consumer must not stop a turn)
    and ``on_error`` hears about it, once per subscriber, so the user is told (a full disk, a
    locked database) rather than losing events silently.
    """

    def __init__(self, on_error: Callable[[BaseException], None] | None = None) -> None:
        self._sinks: list[EventSink] = []
        self.on_error = on_error
        self._failed: set[int] = set()

    def subscribe(self, sink: EventSink) -> Callable[[], None]:
        self._sinks.append(sink)
        return lambda: self._sinks.remove(sink) if sink in self._sinks else None

    def __call__(self, event: Event) -> None:
        for sink in list(self._sinks):
            try:
                sink(event)
            except Exception as exc:
                if id(sink) not in self._failed:
                    self._failed.add(id(sink))
                    if self.on_error is not None:
                        self.on_error(exc)


def with_system_prompt(
    system: Mapping[str, str] | None,
    history: list[Mapping[str, str]],
    messages: tuple[Mapping[str, str], ...] | list[Mapping[str, str]],
) -> list[Mapping[str, str]]:
    """The messages to add to an RLM's prompt so far: an RLM's first call gets the session's system
    prompt first, which the events record only once (or again when it changed)."""
    if history or system is None or (messages and messages[0]["role"] == "system"):
        return list(messages)
    return [system, *messages]


def counts_as_a_call(event: Event) -> bool:
    """A model call of its own, whose usage and cost count towards totals: every model call of an
    RLM and every llm_query that reached a model (a child RLM's total and a cached answer are not)."""
    if isinstance(event, ModelFinished):
        return True
    return isinstance(event, SubCallFinished) and event.kind == "llm" and not event.cached


def input_tokens(usage: Mapping[str, Any] | None) -> int:
    """The prompt's tokens of a usage record, cached ones included."""
    usage = usage or {}
    return sum(int(usage.get(k) or 0) for k in ("input_tokens", "cache_read_tokens", "cache_write_tokens"))


def usage_tokens(usage: Mapping[str, Any] | None) -> int:
    """All tokens of a usage record: input, output and both kinds of cache tokens."""
    usage = usage or {}
    return sum(
        int(usage.get(k) or 0)
        for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    )
