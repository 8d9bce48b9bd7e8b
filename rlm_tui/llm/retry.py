"""Retries with exponential backoff and jitter, honouring Retry-After.

Backends turn their library's exceptions into ``ProviderFailure``s named for what happened (cannot
connect, dropped, no reply in time, an HTTP status from the server, over the context window, an
empty reply); this module decides whether to try again, reports every retry (the engine makes it an
event), and raises a ``ProviderError`` with a clear message when the retries run out or the failure
is not worth retrying. That error carries what the engine may want to say more with, as attributes:
``status``, ``url``, ``window`` and ``prompt_tokens`` (each None when unknown).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from rlm_tui.errors import ContextWindowError, ProviderError
from rlm_tui.llm.base import Completion, ModelRequest, RetryInfo, TextDelta

RETRYABLE = frozenset(
    {"rate_limit", "server", "timeout", "connect", "dropped", "empty_reply", "bad_response"}
)
MAX_RETRY_AFTER = 300.0
# Failures of a server on this machine or the local network that waiting does not mend: a refused
# connection (it is not running, or not yet) and an empty reply (llama-cpp-python's answer to a
# prompt over its window). One quick retry covers a server still starting; backing off for 15 s
# only hides the answer.
FAST_LOCALLY = frozenset({"connect", "empty_reply"})
LOCAL_RETRIES = 1
LOCAL_RETRY_DELAY = 0.25

Attempt = Callable[[], AsyncIterator[TextDelta | Completion]]


class ProviderFailure(Exception):
    """One failed attempt, named for what happened (``kind``, one of errors.ProviderErrorKind)."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        url: str | None = None,
        window: int | None = None,
        prompt_tokens: int | None = None,
        fallback: Attempt | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after
        self.status = status  # the HTTP status the server sent (None: no server said one)
        self.url = url  # where the request went (the API base), when known
        self.window = window  # context_window: the model's window, when the server said it
        self.prompt_tokens = prompt_tokens  # context_window: the prompt's size, when the server said it
        # One last attempt to make when the retries run out (an empty reply's non-streaming request).
        self.fallback = fallback

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    @property
    def local(self) -> bool:
        """The request went to this machine or the local network."""
        return is_local_url(self.url)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, failure: ProviderFailure) -> float:
        if failure.retry_after is not None:
            return min(max(failure.retry_after, 0.0), MAX_RETRY_AFTER)
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        if failure.kind in FAST_LOCALLY and failure.local:
            backoff = min(backoff, LOCAL_RETRY_DELAY)
        return backoff * (0.5 + random.random() / 2)  # "equal jitter": spread clients apart

    def retries_for(self, failure: ProviderFailure) -> int:
        """How many retries this failure gets in all."""
        if not failure.retryable:
            return 0
        if failure.kind in FAST_LOCALLY and failure.local:
            return min(self.max_retries, LOCAL_RETRIES)
        return self.max_retries


def is_local_url(url: str | None) -> bool:
    """A URL whose host is this machine or a private network: localhost, a loopback, private or
    link-local address. A host name other than localhost counts as public (it is not resolved)."""
    if not url:
        return False
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname or ""
    except ValueError:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def host_of(url: str | None) -> str:
    """The host (and port) of a URL, for messages: ``HTTP 503 from api.openai.com``."""
    if not url:
        return "the server"
    try:
        return urlsplit(url if "//" in url else "//" + url).netloc or url
    except ValueError:
        return url


def kind_from_status(status: int) -> str:
    if status == 429:
        return "rate_limit"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status == 408:
        return "timeout"
    if status >= 500:
        return "server"
    return "error"


# What a provider names an error in its error body (Anthropic's error types; OpenAI's error codes
# and types), as the HTTP status it stands for. An error reported inside a stream that began with a
# 200 is then treated exactly like that HTTP error: overloaded mid-stream is retried like a 529.
ERROR_TYPE_STATUS: dict[str, int] = {
    # Anthropic
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
    # OpenAI (and the OpenAI-compatible servers)
    "invalid_api_key": 401,
    "permission_denied": 403,
    "model_not_found": 404,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "requests": 429,
    "tokens": 429,
    "server_error": 500,
    "service_unavailable": 503,
}
# Error codes and types that say the prompt is over the model's context window: OpenAI's (and
# llama-cpp-python's, vLLM's) code, llama.cpp's own server's type.
CONTEXT_WINDOW_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})


def kind_from_error_type(*names: str | None) -> str:
    """The kind of an error a provider reported inside a stream, from the names its error body
    gives (a code before a type: the first one known wins). An unknown name counts as a server
    error: the request had been accepted, and it went wrong on the provider's side."""
    if any(name in CONTEXT_WINDOW_CODES for name in names):
        return "context_window"
    for name in names:
        if name and name in ERROR_TYPE_STATUS:
            return kind_from_status(ERROR_TYPE_STATUS[name])
    return "server"


# -------------------------------------------------------------------------- the context window

# How servers say a prompt is over the window, as text (the code is not always there).
_WINDOW_WORDS = re.compile(
    r"context[ _](?:window|length|size)|maximum context|prompt is too long|too many tokens"
    r"|input is too long|exceeds? (?:the )?(?:model's )?(?:max(?:imum)? )?(?:token|context)",
    re.IGNORECASE,
)
# The sizes, in the words of each server that says them. Named groups: window, prompt.
_WINDOW_SIZES = [
    # Anthropic: "prompt is too long: 210000 tokens > 200000 maximum"
    re.compile(r"prompt is too long:\s*(?P<prompt>\d+)\s*tokens?\s*>\s*(?P<window>\d+)", re.I),
    # llama-cpp-python's engine: "Requested tokens (600) exceed context window of 512"
    re.compile(r"requested tokens \((?P<prompt>\d+)\) exceeds? context window of (?P<window>\d+)", re.I),
    # llama.cpp's server: "request (600 tokens) exceeds the available context size (512 tokens)"
    re.compile(
        r"request \((?P<prompt>\d+) tokens?\) exceeds? the available context size \((?P<window>\d+)", re.I
    ),
    # OpenAI, vLLM, llama-cpp-python's server: "maximum context length is 512 tokens"
    re.compile(r"maximum context length (?:is|of) (?P<window>\d+)", re.I),
    re.compile(r"context (?:window|length|size) (?:is |of )?(?P<window>\d+)", re.I),
    # ... and the prompt: "(600 in the messages", "your messages resulted in 600 tokens",
    # "your request has 600 input tokens", "you requested 600 tokens"
    re.compile(r"\((?P<prompt>\d+) in (?:the messages|your prompt)", re.I),
    re.compile(r"messages resulted in (?P<prompt>\d+) tokens", re.I),
    re.compile(r"request has (?P<prompt>\d+) input tokens", re.I),
    re.compile(r"you requested (?P<prompt>\d+) tokens", re.I),
]


def says_context_window(message: str, *names: Any) -> bool:
    """The error (its message, code or type) says the prompt is over the model's context window."""
    return any(name in CONTEXT_WINDOW_CODES for name in names) or bool(_WINDOW_WORDS.search(message))


def window_sizes(message: str, body: Any = None) -> tuple[int | None, int | None]:
    """(the model's window, the prompt's tokens) as far as the server said them: llama.cpp's server
    gives them as fields (n_ctx, n_prompt_tokens), the others in the message."""
    window = prompt = None
    if isinstance(body, dict):
        fields = body.get("error") if isinstance(body.get("error"), dict) else body
        window = _int(fields.get("n_ctx"))
        prompt = _int(fields.get("n_prompt_tokens"))
    for pattern in _WINDOW_SIZES:
        match = pattern.search(message)
        if match is None:
            continue
        found = match.groupdict()
        if window is None and found.get("window"):
            window = int(found["window"])
        if prompt is None and found.get("prompt"):
            prompt = int(found["prompt"])
    return window, prompt


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def context_window_failure(
    message: str, host: str, *, status: int | None, url: str | None, body: Any = None
) -> ProviderFailure:
    """The failure of a prompt over the window, with the sizes the server gave. Never retried: the
    same prompt will not fit the next time either."""
    window, prompt = window_sizes(message, body)
    said = f"HTTP {status} from {host}" if status else f"{host} said so"
    if window and prompt:
        text = f"the prompt ({prompt:,} tokens) does not fit the model's context window ({window:,} tokens)"
        text += f"; {said}"
    elif window:
        text = f"the prompt does not fit the model's context window ({window:,} tokens); {said}: {message}"
    else:
        text = f"the prompt does not fit the model's context window; {said}: {message}"
    return ProviderFailure(
        "context_window", text, status=status, url=url, window=window, prompt_tokens=prompt
    )


# -------------------------------------------------------------------------- failures by kind


def http_failure(
    status: int,
    message: str,
    *,
    url: str | None,
    retry_after: float | None = None,
    body: Any = None,
    names: tuple[Any, ...] = (),
) -> ProviderFailure:
    """An HTTP error status the server sent, with the server's own message: ``HTTP 503 from
    api.example.com: overloaded``; a prompt over the context window (a 400 saying so, by its code
    or its words) is ``context_window``."""
    host = host_of(url)
    refused_as_asked = 400 <= status < 500 and status not in (401, 403, 404, 408, 429)
    if refused_as_asked and says_context_window(message, *names):
        return context_window_failure(message, host, status=status, url=url, body=body)
    return ProviderFailure(
        kind_from_status(status),
        f"HTTP {status} from {host}: {message}",
        retry_after=retry_after,
        status=status,
        url=url,
    )


def stream_error_failure(
    names: tuple[str | None, ...], message: str, *, url: str | None, body: Any = None
) -> ProviderFailure:
    """An error the server reported inside a stream that began with a 200, classified by the names
    its error body gives (see ``ERROR_TYPE_STATUS``); no HTTP status describes it."""
    kind = kind_from_error_type(*names)
    if kind == "context_window" or (kind == "error" and says_context_window(message)):
        return context_window_failure(message, host_of(url), status=None, url=url, body=body)
    label = next((name for name in names if name), "an error")
    return ProviderFailure(kind, f"the stream from {host_of(url)} reported {label}: {message}", url=url)


def chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it wraps, outermost first: litellm's ``original_exception``, causes
    and contexts."""
    seen: set[int] = set()
    found: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        original = getattr(current, "original_exception", None)
        todo += [original if isinstance(original, BaseException) else None]
        todo += [current.__cause__, current.__context__]
    return found


# What went wrong on the way, by the class names of the network libraries under the SDKs (httpx
# and its forks, httpcore, aiohttp) and of Python's own socket errors; matched by name (and base
# class names), so that no library needs importing here.
_CONNECT = frozenset(
    {"ConnectError", "ConnectTimeout", "ClientConnectorError", "ConnectionRefusedError", "gaierror"}
)
_TIMEOUT = frozenset(
    {"TimeoutException", "TimeoutError", "APITimeoutError", "ServerTimeoutError", "ReadTimeout"}
)
_DROPPED = frozenset(
    {
        "ReadError",
        "WriteError",
        "RemoteProtocolError",
        "ClientPayloadError",
        "ServerDisconnectedError",
        "ServerConnectionError",
        "ClientOSError",
        "ConnectionResetError",
        "ConnectionAbortedError",
        "BrokenPipeError",
        "IncompleteRead",
        "TransferEncodingError",
        "ContentLengthError",
    }
)
_CONNECT_ERRNOS = {
    errno.ECONNREFUSED: "connection refused",
    errno.EHOSTUNREACH: "no route to host",
    errno.ENETUNREACH: "the network is unreachable",
    errno.EADDRNOTAVAIL: "the address is not available",
}


def _class_names(exc: BaseException) -> set[str]:
    return {klass.__name__ for klass in type(exc).__mro__}


def _is_timeout(exc: BaseException) -> bool:
    names = _class_names(exc)
    if type(exc).__module__.startswith("litellm") and "Timeout" in names:
        return True  # litellm.Timeout
    return bool(names & _TIMEOUT)


def network_failure(exc: BaseException, *, url: str | None, timeout: float | None) -> ProviderFailure | None:
    """The failure of a request that no server answered, or whose answer broke off: cannot connect
    (``connect``), no reply in time (``timeout``), the connection dropped (``dropped``); None when
    the exception says nothing of the network. Whatever status a library wrapped it in (litellm says
    500) is not the server's: none is given."""
    causes = chain(exc)
    where = url or "the server"
    connect = [e for e in causes if _class_names(e) & _CONNECT or _connect_errno(e)]
    if connect:
        return ProviderFailure(
            "connect", f"cannot connect to {where}: {_connect_reason(causes, timeout)}", url=url
        )
    if any(_is_timeout(e) for e in causes):
        within = f" within {timeout:g} s" if timeout else " in time"
        return ProviderFailure("timeout", f"no reply from {host_of(url)}{within}", url=url)
    if any(_class_names(e) & _DROPPED for e in causes):
        return ProviderFailure(
            "dropped", f"the connection to {host_of(url)} dropped before the reply was complete", url=url
        )
    return None


def _connect_errno(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _CONNECT_ERRNOS


def _connect_reason(causes: list[BaseException], timeout: float | None) -> str:
    for exc in reversed(causes):  # the innermost says it best
        names = _class_names(exc)
        if "gaierror" in names:
            return "the host name could not be resolved"
        if isinstance(exc, OSError) and exc.errno in _CONNECT_ERRNOS:
            return _CONNECT_ERRNOS[exc.errno]
        if "ConnectionRefusedError" in names:
            return "connection refused"
        if "ConnectTimeout" in names:
            return f"no answer within {timeout:g} s" if timeout else "no answer"
    text = str(causes[-1]).strip()
    return text.splitlines()[0][:200] if text else type(causes[-1]).__name__


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            import time

            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


# -------------------------------------------------------------------------- the retry loop


async def stream_with_retries(
    attempt_stream: Attempt,
    request: ModelRequest,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[TextDelta | Completion]:
    attempt = 0
    while True:
        try:
            async for item in attempt_stream():
                yield item
            return
        except ProviderFailure as failure:
            attempt += 1
            if attempt > policy.retries_for(failure):
                if failure.fallback is None:
                    raise provider_error(request.model, failure, attempt) from None
                # One last attempt of another kind (bounded: it is never retried), which either
                # answers or says what went wrong better than the failures before it.
                try:
                    async for item in failure.fallback():
                        yield item
                    return
                except ProviderFailure as last:
                    raise provider_error(request.model, last, attempt + 1) from None
            delay = policy.delay(attempt, failure)
            if request.on_retry is not None:
                request.on_retry(RetryInfo(request.model, attempt, delay, str(failure)))
            await sleep(delay)


def provider_error(model: str, failure: ProviderFailure, attempts: int) -> ProviderError:
    """The ProviderError the caller sees, with the failure's details (a ContextWindowError, with
    both sizes when the server gave them, for a prompt over the window)."""
    message = _explain(model, failure, attempts)
    if failure.kind == "context_window":
        return ContextWindowError(
            message,
            model=model,
            window=failure.window,
            prompt_tokens=failure.prompt_tokens,
            status=failure.status,
            url=failure.url,
        )
    return ProviderError(message, kind=failure.kind, model=model, status=failure.status, url=failure.url)  # type: ignore[arg-type]


def _explain(model: str, failure: ProviderFailure, attempts: int) -> str:
    if failure.kind == "not_found":
        return f"{model}: the provider does not know this model ({failure})"
    if failure.kind == "auth":
        return f"{model}: the provider refused the API key ({failure})"
    tries = f" after {attempts} attempts" if failure.retryable and attempts > 1 else ""
    if failure.kind == "connect" and failure.local:
        return f"{model}: {failure}{tries}; is the server running?"
    if failure.kind == "empty_reply":
        return (
            f"{model}: {failure}{tries}; a local server does this when the prompt is over its context window"
        )
    return f"{model}: {failure}{tries}"
