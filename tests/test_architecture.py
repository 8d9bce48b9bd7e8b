"""The rooms of ARCHITECTURE.md and the directions of their imports, enforced: every import counts,
lazy ones (inside functions) included, and no two modules import each other in a circle."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rlm_tui"
ROOT = PACKAGE.parent

# room -> the modules of the package it may import (its own included); see ARCHITECTURE.md
ALLOWED: dict[str, tuple[str, ...]] = {
    "errors": ("rlm_tui.errors",),
    "events": ("rlm_tui.events",),
    "config": ("rlm_tui.config", "rlm_tui.errors"),
    "llm": ("rlm_tui.llm", "rlm_tui.errors"),
    "sandbox": ("rlm_tui.sandbox", "rlm_tui.errors", "rlm_tui.events"),
    "engine": (
        "rlm_tui.engine",
        "rlm_tui.events",
        "rlm_tui.errors",
        "rlm_tui.llm.base",
        # the sandbox's plain data and pure helpers, never its processes
        "rlm_tui.sandbox.settings",
        "rlm_tui.sandbox.snapshot",
        "rlm_tui.sandbox.types",
        "rlm_tui.sandbox.rendering",
        "rlm_tui.sandbox.truncate",
    ),
    "store": ("rlm_tui.store", "rlm_tui.events", "rlm_tui.errors"),
    "trajectories": ("rlm_tui.trajectories", "rlm_tui.events", "rlm_tui.errors", "rlm_tui.sandbox"),
    "services": (
        "rlm_tui.services",
        "rlm_tui.config",
        "rlm_tui.engine",
        "rlm_tui.events",
        "rlm_tui.errors",
        "rlm_tui.llm",
        "rlm_tui.sandbox",
        "rlm_tui.store",
        "rlm_tui.trajectories",
    ),
    "cli": (
        "rlm_tui.cli",
        "rlm_tui.services",
        "rlm_tui.config",
        "rlm_tui.events",
        "rlm_tui.errors",
        "rlm_tui.ui.app",  # `rlm` and `rlm view` open the app
    ),
    "ui": ("rlm_tui.ui", "rlm_tui.services", "rlm_tui.config", "rlm_tui.events", "rlm_tui.errors"),
}
# third-party libraries a room must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "events": ("textual", "sqlite3", "sqlite_utils", "anthropic", "litellm", "pydantic"),
    "errors": ("textual", "sqlite3", "sqlite_utils", "anthropic", "litellm", "pydantic"),
    "engine": ("textual", "sqlite3", "sqlite_utils", "anthropic", "litellm"),
    "sandbox": ("textual", "sqlite3", "sqlite_utils", "anthropic", "litellm"),
    "llm": ("textual", "sqlite3", "sqlite_utils"),
    "store": ("textual", "anthropic", "litellm"),
    "cli": ("textual",),  # the app is opened through rlm_tui.ui.app, imported when asked for
    "ui": ("sqlite3", "sqlite_utils", "anthropic", "litellm"),
    "services": ("textual",),
}
WORKER = "sandbox.worker"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None
    if parts[1:3] == ["sandbox", "worker"]:
        return WORKER
    return parts[1]


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path) -> Iterator[str]:
    """Every module this file imports, lazy imports included; ``from pkg import sub`` names the
    submodule when ``sub`` is one."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                yield candidate if candidate in MODULES else node.module


def test_no_import_is_relative():
    relative = [
        module
        for module, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert relative == []  # every import names its room, so the rules above see it


def test_widgets_never_reach_for_screens():
    bad = [
        f"{module} imports {name}"
        for module, path in MODULES.items()
        if module.startswith("rlm_tui.ui.widgets")
        for name in imports(path)
        if name.startswith("rlm_tui.ui.screens") or name == "rlm_tui.ui.app"
    ]
    assert bad == []  # a widget posts a message; its screen reacts


def test_the_worker_host_implements_the_engines_repl_interface():
    import inspect

    from rlm_tui.engine.repl import REPL
    from rlm_tui.sandbox.host import Worker

    for name, member in vars(REPL).items():
        if name.startswith("_") or not callable(member):
            continue
        implemented = getattr(Worker, name, None)
        assert implemented is not None, f"Worker has no {name}"
        wanted = list(inspect.signature(member).parameters)
        assert list(inspect.signature(implemented).parameters) == wanted, name
    worker = Worker("/nonexistent")
    for attribute in REPL.__annotations__:
        assert hasattr(worker, attribute), f"Worker has no {attribute}"


def test_every_module_is_in_a_room():
    unplaced = [m for m in MODULES if m != "rlm_tui" and room_of(m) not in (*ALLOWED, WORKER, "themes")]
    assert unplaced == [], "add these to ARCHITECTURE.md and to ALLOWED"


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_imports_follow_the_room_directions(room):
    bad = []
    for module, path in MODULES.items():
        if room_of(module) != room:
            continue
        for name in imports(path):
            top = name.split(".")[0]
            if top == "rlm_tui" and name != "rlm_tui":
                if not any(name == a or name.startswith(a + ".") for a in ALLOWED[room]):
                    bad.append(f"{module} imports {name}")
            elif top in FORBIDDEN.get(room, ()):
                bad.append(f"{module} imports {name}")
    assert bad == []


def test_the_worker_imports_only_the_standard_library_cloudpickle_and_the_protocol():
    bad = []
    for module, path in MODULES.items():
        if room_of(module) != WORKER:
            continue
        for name in imports(path):
            top = name.split(".")[0]
            ok = (
                top in sys.stdlib_module_names
                or top == "cloudpickle"
                # attached files' formats, imported only when such a file is attached (files.py)
                or top in ("zstandard", "pypdf", "pyarrow")
                or name in ("rlm_tui.sandbox.protocol", "rlm_tui.sandbox.rendering", "rlm_tui.sandbox")
                or name.startswith("rlm_tui.sandbox.worker")
            )
            if not ok:
                bad.append(f"{module} imports {name}")
    assert bad == []


def test_no_two_modules_import_each_other_in_a_circle():
    graph = {m: {n for n in imports(p) if n in MODULES and n != m} for m, p in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    assert circles == []


def test_rlm_help_imports_no_heavy_library():
    import subprocess

    code = (
        "import sys; from rlm_tui.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('textual', 'pydantic', 'litellm', 'anthropic', 'sqlite_utils') if m in sys.modules]\n"
        "print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr
