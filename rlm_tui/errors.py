"""Our own failures, in one hierarchy. Every room raises these (never a bare RuntimeError), and each
entry point (``rlm ask``, ``rlm sessions``, the app) catches ``RlmError`` once and shows it as one
line: configuration and usage problems exit 2, everything else that failed exits 1.

    RlmError
    ├── UsageError         what was asked cannot be done as asked               (exit 2)
    │   └── ConfigError    a bad setting, flag, model name or missing key
    ├── ProviderError      a model call failed for good (``kind`` says how)     (exit 1; auth/not_found 2)
    │   └── ContextWindowError  a prompt does not fit the model's window
    ├── SandboxError       the REPL could not do what was asked                 (exit 1)
    │   ├── WorkerStartError   the worker process would not start
    │   ├── WorkerDied         the worker went away mid-request
    │   └── WorkerRefused      the worker answered a request with an error
    ├── AttachmentError    a file could not be attached                        (exit 1)
    ├── SessionBusy        a turn is already running in the session            (exit 1)
    ├── StoreError         the session database could not be read or written  (exit 1)
    │   ├── UnknownSession     no session (or more than one) matches an id      (exit 2)
    │   └── NotRecorded        a turn ran but its records could not be written  (exit 1)
    ├── LimitReached       a turn's budget ran out (control flow inside the engine)
    ├── TurnCancelled      the user cancelled the turn (control flow inside the engine)
    └── TurnStuck          the model repeated itself; the turn stops as ``stuck``
"""

from __future__ import annotations

from typing import Literal

ProviderErrorKind = Literal[
    "auth",  # the provider refused the key
    "not_found",  # the provider does not know the model
    "rate_limit",  # 429
    "server",  # a 5xx (or an in-stream server error)
    "timeout",  # no reply in time
    "connect",  # cannot connect to the endpoint (refused, no route, DNS)
    "dropped",  # the connection dropped mid-reply
    "context_window",  # the prompt does not fit the model's window
    "empty_reply",  # a reply with no content and no usage (a local server over its window)
    "bad_response",  # a malformed reply
    "error",  # anything else (an HTTP 4xx, ...)
]
LimitName = Literal["iterations", "sub_calls", "cost", "time", "depth"]


class RlmError(Exception):
    """A failure of ours, with a message fit to show the user as it is."""

    exit_code = 1


class UsageError(RlmError):
    """What the user asked for cannot be done as asked (a turn out of range, an empty title, a
    missing question): one line, exit code 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A bad config value or file, flag, model name, or a missing key: one line, exit code 2."""


class ProviderError(RlmError):
    """A model call failed for good (after any retries). ``kind`` says how, for messages and tests."""

    def __init__(
        self,
        message: str,
        *,
        kind: ProviderErrorKind = "error",
        model: str = "",
        status: int | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ProviderErrorKind = kind
        self.model = model
        self.status = status  # the HTTP status a server sent (None: none was sent)
        self.url = url  # the endpoint called, when known

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return provider_exit_code(self.kind)


def provider_exit_code(kind: str | None) -> int:
    """The provider refusing the key or the model name is a configuration problem (2); any other
    failed call is a failure (1)."""
    return 2 if kind in ("auth", "not_found") else 1


class ContextWindowError(ProviderError):
    """A prompt does not fit the model's context window (with room for a reply)."""

    def __init__(
        self,
        message: str,
        *,
        model: str = "",
        window: int | None = None,
        prompt_tokens: int | None = None,
        status: int | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, kind="context_window", model=model, status=status, url=url)
        self.window = window  # the window in tokens, when the server (or our limits) said
        self.prompt_tokens = prompt_tokens


class SandboxError(RlmError):
    """The REPL could not do what was asked."""


class WorkerStartError(SandboxError):
    """The REPL worker process would not start (or isolation that was asked for is not there)."""


class WorkerDied(SandboxError):
    """The REPL worker went away while a request was in flight."""


class WorkerRefused(SandboxError):
    """The worker answered a control request with an error (a bad file, a missing variable)."""


class AttachmentError(RlmError):
    """A file or folder could not be attached (missing, unreadable, or the REPL could not load it)."""


class SessionBusy(RlmError):
    """A turn is already running in this session (or another process holds it)."""


class StoreError(RlmError):
    """The session database could not be read or written."""


class UnknownSession(StoreError, LookupError):
    """No recorded session (or more than one) matches the id given."""

    exit_code = 2


class NotRecorded(StoreError):
    """A turn ran (it may even have an answer, kept in ``result``) but what it did could not be
    written to the database (a full disk, a read-only folder): it must not pass for a success."""

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result


class LimitReached(RlmError):
    """A turn's budget ran out; the engine turns it into a best answer that names the limit."""

    def __init__(self, limit: str, detail: str) -> None:
        super().__init__(detail)
        self.limit = limit
        self.detail = detail


class TurnCancelled(RlmError):
    """The user cancelled the turn (Esc)."""


class TurnStuck(RlmError):
    """The model gave the same reply (or hit the same error) too many times in a row."""
