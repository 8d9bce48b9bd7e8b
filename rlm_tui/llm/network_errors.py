"""A request that no server answered, or whose answer broke off, as a ``ProviderFailure``: cannot
connect (``connect``), no reply in time (``timeout``), the connection dropped (``dropped``).

Told apart by the class names of the network libraries under the SDKs (httpx and its forks,
httpcore, aiohttp) and of Python's own socket errors, anywhere in the exception's ``chain``; matched
by name (and base class names), so that no library needs importing here. Whatever status a library
wrapped such an error in (litellm says 500) is not the server's: none is given.
"""

from __future__ import annotations

import errno

from rlm_tui.llm.failures import ProviderFailure, chain, host_of

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
