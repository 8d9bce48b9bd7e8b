"""An error a server sent, as a ``ProviderFailure`` of the kind it stands for: an HTTP error status
(``http_failure``: ``HTTP 503 from api.example.com: overloaded``, with its Retry-After), or an error
reported inside a stream that began with a 200 (``stream_error_failure``), classified by the names
its error body gives as the HTTP status they stand for, so that overloaded mid-stream is retried
like a 529. Either one saying the prompt is over the window is ``context_window``.
"""

from __future__ import annotations

from typing import Any

from rlm_tui.llm.context_window import CONTEXT_WINDOW_CODES, context_window_failure, says_context_window
from rlm_tui.llm.failures import ProviderFailure, host_of


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
