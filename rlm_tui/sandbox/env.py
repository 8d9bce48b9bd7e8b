"""The environment a worker process starts with: an allowlist, never the user's secrets.

Sub-calls travel to the host over the channel, so the worker needs no credentials at all. Only
the variables below pass, and even those are dropped if their name looks like a secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

ALLOWED = frozenset({"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME", "PYTHONPATH"})
SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL", "AUTH")


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def worker_env(base: Mapping[str, str] | None = None, home: str | None = None) -> dict[str, str]:
    base = os.environ if base is None else base
    env = {k: v for k, v in base.items() if (k in ALLOWED or k.startswith("LC_")) and not is_secret_name(k)}
    env.update(PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8", PYTHONDONTWRITEBYTECODE="1")
    env.pop("TMPDIR", None)  # the host's temporary folder may be hidden: /tmp is always there
    if home:  # the user's home is not the worker's (under bubblewrap it is not even in view)
        env["HOME"] = home
    return env
