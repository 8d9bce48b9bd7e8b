"""The model picker: /model with no name lists the endpoint's models and litellm's."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rlm_tui.services.model_choices import ModelChoice, endpoint_models, litellm_choices
from rlm_tui.ui.screens.picker import PickerScreen
from tests.ui.conftest import make_app, send, wait_for

SIZE = (120, 36)


async def test_model_with_no_name_opens_a_picker_that_fills_in_and_switches(home):
    app = make_app()
    release = asyncio.Event()

    async def choices(which="model"):
        await release.wait()  # the list arrives while the picker is open
        return [
            ModelChoice("openai/local-llama", "endpoint"),
            ModelChoice("anthropic/claude-big", "litellm", 200_000),
        ]

    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        app.workspace.model_choices = choices
        before = app.workspace.config.model
        await send(pilot, app, "/model")
        await wait_for(lambda: isinstance(app.screen, PickerScreen), pilot)
        picker = app.screen
        note = picker.query_one("#picker-note")
        await wait_for(lambda: "loading" in str(note.render()), pilot)
        await pilot.press("l")  # typing works while the list loads
        release.set()
        await wait_for(lambda: len(picker.entries) == 3, pilot)
        assert "2 models (1 from the endpoint)" in str(note.render())
        await pilot.press(*"lama")
        assert [e.value for e in picker.matching("llama")] == ["openai/local-llama"]
        await pilot.press("enter")
        await wait_for(lambda: app.workspace.config.model == "openai/local-llama", pilot)
        assert before != "openai/local-llama"
        await wait_for(
            lambda: any(
                "model is now openai/local-llama" in str(n.render()) for n in app.chat.chat.query(".notice")
            ),
            pilot,
        )


@pytest.fixture
def endpoint():
    """A local server answering /v1/models as vLLM or Ollama do."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": "qwen3-8b"}, {"id": "smollm2"}]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


async def test_the_endpoint_lists_its_models_and_a_dead_one_lists_none(endpoint):
    served = await endpoint_models(endpoint, "openai")
    assert [c.name for c in served] == ["openai/qwen3-8b", "openai/smollm2"]
    assert await endpoint_models("http://127.0.0.1:9/v1", "openai") == []


def test_litellm_map_gives_chat_models_with_their_provider_and_window():
    """On litellm's own shipped map, read as litellm reads it (without the seconds its import takes)."""
    import importlib.util
    from pathlib import Path

    folder = Path(importlib.util.find_spec("litellm").submodule_search_locations[0])
    model_cost = json.loads((folder / "model_prices_and_context_window_backup.json").read_text())
    known = litellm_choices(model_cost)
    names = {c.name for c in known}
    assert len(known) > 100
    anthropic = [c for c in known if c.name.startswith("anthropic/claude")]
    assert anthropic and all(c.window for c in anthropic)
    assert not any(name.endswith("text-embedding-3-small") for name in names)  # not a chat model
    assert all("/" in name for name in names)  # as /model takes them: provider/name


async def test_an_endpoint_that_never_stops_answering_lists_nothing_in_time():
    """A hostile or broken server: a listing that drips forever, or one that never ends."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"data": [')
            while not stop.is_set():
                try:
                    self.wfile.write(b'{"id": "m"},' * (64 if self.path.startswith("/big") else 1))
                    self.wfile.flush()
                except OSError:
                    return
                if not self.path.startswith("/big"):
                    stop.wait(0.1)  # a slow drip, each piece within the read timeout

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        loop = asyncio.get_running_loop()
        for base in ("v1", "big/v1"):
            started = loop.time()
            assert await endpoint_models(f"http://127.0.0.1:{server.server_port}/{base}", "openai") == []
            assert loop.time() - started < 5
    finally:
        stop.set()
        server.shutdown()
