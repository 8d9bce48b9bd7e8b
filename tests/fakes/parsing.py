"""Turning what a client sent, to either API, into a ``FakeRequest``.

The two APIs put the same things in different places (OpenAI's system prompt is a message, Anthropic's
a top-level field; content is a string or a list of blocks of several kinds), so the request is
normalised to plain text here and scripts and assertions need not care which API was called.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.script import Api, FakeRequest


def route(path: str) -> Api | None:
    """Which API a request path belongs to (None for anything else)."""
    bare = path.split("?", 1)[0].rstrip("/")
    if bare.endswith("/chat/completions"):
        return "openai"
    if bare.endswith("/messages"):
        return "anthropic"
    return None


def parse_request(api: Api, path: str, headers: dict[str, str], body: dict) -> FakeRequest:
    """The provider-neutral view of one request's JSON body (which must be an object)."""
    raw_messages = body.get("messages") or []
    if api == "openai":
        # OpenAI carries the system prompt as messages; "developer" is the newer name for the same role.
        system_roles = ("system", "developer")
        system = "\n".join(
            content_text(m.get("content")) for m in raw_messages if m.get("role") in system_roles
        )
        raw_messages = [m for m in raw_messages if m.get("role") not in system_roles]
    else:
        system = content_text(body.get("system"))
    messages = [{"role": m.get("role", ""), "content": content_text(m.get("content"))} for m in raw_messages]
    return FakeRequest(
        api=api,
        path=path,
        headers=headers,
        body=body,
        model=str(body.get("model", "")),
        system=system,
        messages=messages,
        stream=bool(body.get("stream", False)),
    )


def content_text(content: Any) -> str:
    """Flatten message content, a string or a list of blocks in either API's shape, to plain text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        return "\n".join(text for text in map(_block_text, content) if text)
    return str(content)


def _block_text(block: Any) -> str:
    if not isinstance(block, dict):
        return block if isinstance(block, str) else str(block)
    kind = block.get("type")
    if isinstance(block.get("text"), str):  # Anthropic and OpenAI text blocks
        return block["text"]
    if kind == "tool_result":
        return content_text(block.get("content"))
    if kind == "tool_use":
        return json.dumps(block.get("input", {}))
    if kind in ("image", "image_url", "input_image", "document", "file"):
        return f"[{kind}]"  # so a test can still see that something non-textual was sent
    return ""
