"""How a final answer's value becomes text: strings as they are, containers as JSON.

Shared by the worker (FINAL in code) and the engine (FINAL written as text), so both agree.
Standard library only: the worker imports it.
"""

from __future__ import annotations

import json
from typing import Any


def render_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        try:
            return json.dumps(value, indent=2, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return str(value)
    return str(value)
