"""`rlm ask` with an OpenAI-compatible model, as a whole process: it never imports litellm (seconds
of import and ~150 MB that such a model does not need), and its exit right after the answer
(``os._exit``, skipping the interpreter's teardown) still leaves the turn recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import ROOT_SYSTEM, repl
from tests.fakes.provider import FakeProvider, Script

ROOT = Path(__file__).resolve().parents[2]
# the `rlm` command as its console script runs it (``main()`` reading sys.argv)
RLM = [sys.executable, "-c", "import sys; from rlm_tui.cli import main; sys.exit(main())"]


def _env(home: Path, provider: FakeProvider, model: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "RLM_HOME": str(home),
        "RLM_MODEL": model,
        "RLM_SUB_MODEL": model,
        "RLM_API_BASE": provider.openai_base,
        "OPENAI_API_KEY": "test-key",
        "RLM_REQUEST_TIMEOUT": "20",
    }


def _ask(home: Path, provider: FakeProvider, model: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """`rlm ask --json` through ``python -X importtime``: its result and every module it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *RLM[1:], "ask", "--json", "What is it?"],
        cwd=ROOT,
        env=_env(home, provider, model),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    imported = {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return done, imported


def _script() -> Script:
    script = Script()
    script.on(
        system_contains=ROOT_SYSTEM,
        replies=[repl("word = llm_query('SUB: the word?')\nprint(word)"), repl("FINAL(word)")],
    )
    script.on(reply="blue")
    return script


def test_an_openai_compatible_model_is_answered_without_importing_litellm(tmp_path: Path) -> None:
    with FakeProvider(_script()) as provider:
        done, imported = _ask(tmp_path, provider, "hosted_vllm/local-model")
    assert done.returncode == 0, done.stderr[-2000:]
    payload = json.loads(done.stdout)
    assert payload["answer"] == "blue" and payload["status"] == "ok"
    assert "openai" in imported and "genai_prices" in imported  # the light client did the calls
    assert not [m for m in imported if m.split(".")[0] == "litellm"]


def test_the_turn_is_recorded_though_the_process_exits_without_teardown(tmp_path: Path) -> None:
    with FakeProvider(_script()) as provider:
        done, _ = _ask(tmp_path, provider, "openai/local-model")
        assert done.returncode == 0, done.stderr[-2000:]
        session = json.loads(done.stdout)["session_id"]
        shown = subprocess.run(
            [*RLM, "sessions", "show", session],
            cwd=ROOT,
            env=_env(tmp_path, provider, "openai/local-model"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert shown.returncode == 0, shown.stderr
    assert "What is it?" in shown.stdout and "blue" in shown.stdout


async def test_the_root_models_endpoint_is_asked_once_before_the_first_call_needs_it() -> None:
    from rlm_tui.llm.router import ModelRouter

    with FakeProvider(Script()) as provider:
        provider.props = {"default_generation_settings": {"n_ctx": 4096}}
        router = ModelRouter(api_base=provider.openai_base, root_model="openai/smollm2", prefetch=True)
        asked_early = _wait_for(lambda: any(p[1] == "/props" for p in provider.probes))
        found = await router.resolve("openai/smollm2")
        again = await router.resolve("openai/smollm2")
        props_asked = [p for p in provider.probes if p[1] == "/props"]
    assert asked_early  # by the router's own thread, before anything awaited it
    assert (found.context_window, found.window_source) == (4096, "the endpoint (llama.cpp /props)")
    assert again == found and len(props_asked) == 1


def _wait_for(condition, seconds: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False
