"""One failed attempt at a model call, named for what happened: ``ProviderFailure``.

Backends turn their library's exceptions into these (see ``network_errors``, ``http_errors`` and
``context_window`` for how each kind is told apart); ``retry`` decides from the kind whether to try
again. Also here: where a request went (``host_of`` for messages, ``is_local_url`` for the quick
local retries) and ``chain``, the exceptions a library's exception wraps.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

from rlm_tui.llm.base import Completion, TextDelta

RETRYABLE = frozenset(
    {"rate_limit", "server", "timeout", "connect", "dropped", "empty_reply", "bad_response"}
)

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
        # rate_limit: refused while other requests to the endpoint were in flight (the router
        # lowers its limit and the call waits for it: not a strike against this call).
        self.crowded = False

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    @property
    def local(self) -> bool:
        """The request went to this machine or the local network."""
        return is_local_url(self.url)


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
