"""The REPL namespace model code runs in, and the functions the RLM contract promises it.

Sub-calls go to the host over the channel. Called from plain code they block and return the
value; called while an event loop runs in this thread (a cell with top-level ``await``, or code
under ``asyncio.run``) they return a ``Pending``: the request is already on its way, so
``await asyncio.gather(*(llm_query(p) for p in ps))`` runs the calls concurrently, and a
``Pending`` that is used without ``await`` still behaves like the value it will become.
"""

from __future__ import annotations

import builtins
import collections.abc
import sys
from concurrent.futures import Future
from typing import Any

from rlm_tui.sandbox.rendering import render_value as render_text
from rlm_tui.sandbox.worker.channel import Channel, SubCallFailed

SUBCALL_FUNCS = ("llm_query", "llm_query_batched", "rlm_query", "rlm_query_batched")
RESERVED_FUNCS = (*SUBCALL_FUNCS, "FINAL", "FINAL_VAR", "SHOW_VARS")
HOST_OWNED = ("context", "files", "history")  # the host's data: restored after every cell
MODEL_DICTS = ("memory", "answer")  # the model's to fill, but they must stay dicts


class ContextWindowError(ValueError):
    """A sub-call prompt is larger than the sub-model's context window."""


class BudgetExceeded(RuntimeError):
    """A turn budget (sub-calls, cost, time) is used up; no more sub-calls this turn."""


class SubCallError(RuntimeError):
    """A sub-call failed at the provider or in a child RLM."""


for _cls in (ContextWindowError, BudgetExceeded, SubCallError, SubCallFailed):
    # Builtins of the worker: model code can catch them by name, tracebacks read "SubCallError: ...",
    # and they stay out of the variable table.
    _cls.__module__ = "builtins"
    setattr(builtins, _cls.__name__, _cls)

ERROR_TYPES: dict[str, type[Exception]] = {
    "ContextWindowError": ContextWindowError,
    "BudgetExceeded": BudgetExceeded,
    "SubCallError": SubCallError,
}


class Pending(collections.abc.Coroutine):
    """An in-flight sub-call: awaitable (and a coroutine for create_task), or used as its value."""

    __slots__ = ("_coro", "_future")

    def __init__(self, future: Future) -> None:
        self._future = future
        self._coro: Any = None

    def result(self) -> Any:
        return self._future.result()

    async def _wait(self) -> Any:
        import asyncio

        return await asyncio.wrap_future(self._future)

    def _coroutine(self) -> Any:
        if self._coro is None:
            self._coro = self._wait()
        return self._coro

    def __await__(self):  # type: ignore[override]
        return self._coroutine().__await__()

    def send(self, value: Any) -> Any:
        return self._coroutine().send(value)

    def throw(self, *args: Any) -> Any:
        return self._coroutine().throw(*args)

    def close(self) -> None:
        if self._coro is not None:
            self._coro.close()

    # Used without await: behave like the value.
    def __getattr__(self, name: str) -> Any:
        if name.startswith(("_", "cr_", "gi_")):  # introspection by asyncio, pickle, ...
            raise AttributeError(name)
        return getattr(self.result(), name)

    def __str__(self) -> str:
        return str(self.result())

    def __repr__(self) -> str:
        return repr(self.result()) if self._future.done() else "<pending sub-call>"

    def __format__(self, spec: str) -> str:
        return format(self.result(), spec)

    def __len__(self) -> int:
        return len(self.result())

    def __iter__(self):
        return iter(self.result())

    def __getitem__(self, key: Any) -> Any:
        return self.result()[key]

    def __contains__(self, item: Any) -> bool:
        return item in self.result()

    def __eq__(self, other: object) -> bool:
        return self.result() == other

    # By identity, not by value: asyncio hashes what it is given (gather drops duplicate arguments,
    # as_completed and wait build sets), so a value hash would wait for each result in call order
    # and fail for the list of a batched call. A Pending used as a plain value is rare anyway:
    # async cells turn sub-calls in value positions into their results (see asyncpos).
    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return bool(self.result())

    def __add__(self, other: Any) -> Any:
        return self.result() + other

    def __radd__(self, other: Any) -> Any:
        return other + self.result()


def settle(value: Any) -> Any:
    """Replace Pending values (also one level inside lists, tuples and dicts) with their results."""

    def one(v: Any) -> Any:
        if not isinstance(v, Pending):
            return v
        try:
            return v.result()
        except Exception as exc:
            return f"Error: {exc}"

    if isinstance(value, Pending):
        return one(value)
    if isinstance(value, list) and any(isinstance(v, Pending) for v in value):
        return [one(v) for v in value]
    if isinstance(value, tuple) and any(isinstance(v, Pending) for v in value):
        return tuple(one(v) for v in value)
    if isinstance(value, dict) and any(isinstance(v, Pending) for v in value.values()):
        return {k: one(v) for k, v in value.items()}
    return value


def value_of(value: Any) -> Any:
    """``__rlm_value__``: a sub-call used as a plain value in an async cell waits for its result."""
    return value.result() if isinstance(value, Pending) else value


builtins.__rlm_value__ = value_of  # type: ignore[attr-defined]


def render_value(value: Any) -> str:
    """The text of a final answer (pending sub-calls settled first)."""
    return render_text(settle(value))


def _in_event_loop() -> bool:
    asyncio = sys.modules.get("asyncio")  # not imported means no loop can be running
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _text(prompt: Any) -> str:
    return prompt if isinstance(prompt, str) else str(settle(prompt))


class Namespace:
    """Owns the globals dict of the REPL and the reserved functions inside it."""

    def __init__(self, channel: Channel, show_vars: Any) -> None:
        self.channel = channel
        channel.error_types = dict(ERROR_TYPES)
        self.final: str | None = None
        self.host_values: dict[str, Any] = {"context": None, "files": {}, "history": []}
        self.descriptions: dict[str, str] = {}  # previews of host data, set by the host
        self.globals: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.funcs: dict[str, Any] = {
            "llm_query": self.llm_query,
            "llm_query_batched": self.llm_query_batched,
            "rlm_query": self.rlm_query,
            "rlm_query_batched": self.rlm_query_batched,
            "FINAL": self.FINAL,
            "FINAL_VAR": self.FINAL_VAR,
            "SHOW_VARS": show_vars,
        }
        self.globals.update(self.funcs)
        self.globals.update(self.host_values)
        self.globals["memory"] = {}
        self.reset_answer()
        self._dicts = {name: self.globals[name] for name in MODEL_DICTS}

    def reset_answer(self) -> None:
        self.globals["answer"] = {"content": "", "ready": False}
        self.final = None

    def set_host_value(self, name: str, value: Any) -> None:
        self.host_values[name] = value
        self.globals[name] = value

    # -- sub-calls -------------------------------------------------------------------------

    def _call(self, fn: str, args: dict[str, Any], blobs: list[bytes] | None = None) -> Any:
        future = self.channel.call(fn, args, blobs)
        if _in_event_loop():
            return Pending(future)
        return future.result()

    def llm_query(self, prompt: Any, model: str | None = None) -> Any:
        return self._call("llm_query", {"prompt": _text(prompt), "model": model})

    def llm_query_batched(self, prompts: Any, model: str | None = None) -> Any:
        return self._call("llm_query_batched", {"prompts": [_text(p) for p in prompts], "model": model})

    def rlm_query(self, prompt: Any, context: Any = None, model: str | None = None) -> Any:
        blobs = [_pickle(context)] if context is not None else None
        return self._call(
            "rlm_query", {"prompt": _text(prompt), "model": model, "has_context": blobs is not None}, blobs
        )

    def rlm_query_batched(self, prompts: Any, contexts: Any = None, model: str | None = None) -> Any:
        prompts = [_text(p) for p in prompts]
        blobs = None
        if contexts is not None:
            contexts = list(contexts)
            if len(contexts) != len(prompts):
                raise ValueError(f"rlm_query_batched: {len(prompts)} prompts but {len(contexts)} contexts")
            blobs = [_pickle(c) for c in contexts]
        return self._call(
            "rlm_query_batched", {"prompts": prompts, "model": model, "has_context": blobs is not None}, blobs
        )

    # -- ending a turn ---------------------------------------------------------------------

    def FINAL(self, value: Any) -> None:
        self.final = render_value(value)

    def FINAL_VAR(self, name_or_value: Any) -> None:
        value = name_or_value
        if isinstance(name_or_value, str):
            key = name_or_value.strip().strip("'\"")
            if key.isidentifier():
                if key not in self.globals:
                    raise NameError(
                        f"FINAL_VAR({name_or_value!r}): there is no variable named {key!r}. "
                        "Assign it in a cell first, or pass the value itself."
                    )
                value = self.globals[key]
        self.final = render_value(value)

    # -- after every cell ------------------------------------------------------------------

    def after_cell(self) -> list[str]:
        """Restore reserved names, settle pending sub-calls; return notes for the model."""
        g = self.globals
        notes: list[str] = []
        for name, func in self.funcs.items():
            if g.get(name) is not func:
                g[name] = func
                notes.append(f"`{name}` is reserved and was restored.")
        for name, value in self.host_values.items():
            if g.get(name) is not value:
                g[name] = value
                notes.append(f"`{name}` is reserved and was restored; keep your own data under another name.")
        for name in MODEL_DICTS:
            if isinstance(g.get(name), dict):
                self._dicts[name] = g[name]
            else:
                g[name] = self._dicts[name]
                notes.append(f"`{name}` must stay a dict; its previous value was restored.")
        for name, value in list(g.items()):
            if not name.startswith("__"):
                settled = settle(value)
                if settled is not value:
                    g[name] = settled
        answer = g["answer"]
        if self.final is None and answer.get("ready"):
            self.final = render_value(answer.get("content", ""))
        return notes


CHILD_ROWS = 1_000_000  # rows of a Parquet table a child RLM may get as its context


def _pickle(value: Any) -> bytes:
    """A child's ``context``. A file-backed text goes as its text (a child's REPL has not the
    file); past ``bigtext.MAX_TEXT`` characters that is refused with a line saying to slice."""
    import cloudpickle

    from rlm_tui.sandbox.worker.bigtext import BigText
    from rlm_tui.sandbox.worker.tables import Table

    value = settle(value)
    if isinstance(value, Table):
        value = value.text
    elif type(value).__name__ == "ParquetTable":  # a child has not the file: its rows go
        if len(value) > CHILD_ROWS:
            raise ValueError(
                f"a Parquet table of {len(value):,} rows is too large to pass to a child whole: pass "
                f"a slice (context[:{CHILD_ROWS}]) or the rows it needs (context.filter(...))"
            )
        value = list(value)
    if isinstance(value, BigText):
        value = str(value)
    return cloudpickle.dumps(value)
