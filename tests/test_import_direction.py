"""Imports point the way DESIGN.md section 1 says; every import counts, lazy ones included."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rlm_tui"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(sub: str) -> list[Path]:
    base = PACKAGE / sub
    return sorted(base.rglob("*.py")) if base.is_dir() else [base]


def _offenders(
    sub: str, allowed_internal: tuple[str, ...], forbidden_external: tuple[str, ...] = ()
) -> list[str]:
    bad = []
    for path in _files(sub):
        for name in _imports(path):
            top = name.split(".")[0]
            internal_ok = name == "rlm_tui" or any(
                name == a or name.startswith(a + ".") for a in allowed_internal
            )
            if top == "rlm_tui" and not internal_ok:
                bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
            if top in forbidden_external:
                bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
    return bad


def test_worker_imports_only_the_standard_library_cloudpickle_and_the_protocol():
    bad = []
    for path in _files("sandbox/worker"):
        for name in _imports(path):
            top = name.split(".")[0]
            ok = (
                top in sys.stdlib_module_names
                or top == "cloudpickle"
                or name in ("rlm_tui.sandbox.protocol", "rlm_tui.sandbox.rendering", "rlm_tui.sandbox")
                or name.startswith("rlm_tui.sandbox.worker")
            )
            if not ok:
                bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert bad == []


def test_engine_knows_no_ui_store_or_concrete_clients():
    assert (
        _offenders(
            "engine",
            ("rlm_tui.engine", "rlm_tui.sandbox", "rlm_tui.events", "rlm_tui.errors", "rlm_tui.llm.base"),
            ("textual", "sqlite3", "sqlite_utils", "anthropic", "litellm"),
        )
        == []
    )


def test_sandbox_host_side_knows_nothing_above_it():
    assert _offenders("sandbox", ("rlm_tui.sandbox", "rlm_tui.errors"), ("textual", "sqlite3", "sqlite_utils")) == []


def test_events_and_llm_stand_alone():
    assert _offenders("events.py", ()) == []
    assert _offenders("llm", ("rlm_tui.llm", "rlm_tui.errors"), ("textual", "sqlite3", "sqlite_utils")) == []
