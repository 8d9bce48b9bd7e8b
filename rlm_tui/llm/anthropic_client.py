"""anthropic/<model> through the Anthropic SDK: async streaming, the system prompt marked for
prompt caching, usage with cache read and write tokens. The SDK is imported on first use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from rlm_tui.llm import pricing
from rlm_tui.llm.base import Completion, ModelRequest, TextDelta, Usage
from rlm_tui.llm.retry import ProviderFailure, kind_from_status, parse_retry_after

DEFAULT_MAX_TOKENS = 8192


class AnthropicBackend:
    def __init__(self, *, api_key: str | None, base_url: str | None, timeout: float) -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self._client: Any = None

    def _sdk(self) -> Any:
        if self._client is None:
            import anthropic

            self._client = anthropic.AsyncAnthropic(
                api_key=self.api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0
            )
        return self._client

    async def stream(self, request: ModelRequest) -> AsyncIterator[TextDelta | Completion]:
        import anthropic

        name = request.model.split("/", 1)[1]
        max_tokens = request.max_tokens or min(
            DEFAULT_MAX_TOKENS, pricing.max_output_tokens(request.model) or DEFAULT_MAX_TOKENS
        )
        kwargs: dict[str, Any] = {
            "model": name,
            "max_tokens": max_tokens,
            "messages": [m.to_dict() for m in request.messages],
            "stream": True,
        }
        if request.system:
            # The rules are the same on every call of a session: cache them.
            kwargs["system"] = [
                {"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}
            ]
        usage: dict[str, int] = {}
        stop_reason = None
        parts: list[str] = []
        try:
            events = await self._sdk().messages.create(**kwargs)
            async for event in events:
                kind = event.type
                if kind == "message_start":
                    u = event.message.usage
                    usage["input_tokens"] = u.input_tokens or 0
                    usage["cache_read_tokens"] = getattr(u, "cache_read_input_tokens", 0) or 0
                    usage["cache_write_tokens"] = getattr(u, "cache_creation_input_tokens", 0) or 0
                elif kind == "content_block_delta" and getattr(event.delta, "type", "") == "text_delta":
                    parts.append(event.delta.text)
                    yield TextDelta(event.delta.text)
                elif kind == "message_delta":
                    stop_reason = event.delta.stop_reason
                    usage["output_tokens"] = event.usage.output_tokens or 0
                elif kind == "error":
                    raise ProviderFailure("server", f"the stream reported an error: {event}")
        except anthropic.APIStatusError as exc:
            retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
            message = exc.api_message or str(exc)
            raise ProviderFailure(
                kind_from_status(exc.status_code),
                f"HTTP {exc.status_code}: {message}",
                retry_after=retry_after,
                status=exc.status_code,
            ) from None
        except anthropic.APITimeoutError:
            raise ProviderFailure("timeout", f"no reply within {self.timeout:g} s") from None
        except anthropic.APIConnectionError as exc:
            raise ProviderFailure("connection", f"connection failed: {exc.__cause__ or exc}") from None
        except (anthropic.APIResponseValidationError, ValueError) as exc:
            raise ProviderFailure("bad_response", f"the provider sent a malformed reply ({exc})") from None
        except Exception as exc:  # a dropped stream surfaces from httpx as a protocol/read error
            if type(exc).__module__.startswith(("httpx", "httpcore", "httpx2")):
                raise ProviderFailure(
                    "connection", f"the connection dropped mid-reply ({type(exc).__name__})"
                ) from None
            raise
        if stop_reason is None:
            raise ProviderFailure("connection", "the reply stream ended before the message was complete")
        u = Usage(
            **{
                k: usage.get(k, 0)
                for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
            }
        )
        yield Completion("".join(parts), _priced(request.model, u), stop_reason)


def _priced(model: str, usage: Usage) -> Usage:
    return Usage(
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        pricing.cost_usd(model, usage),
    )
