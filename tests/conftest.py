"""Shared fixtures. Real parts only: real worker processes, real files."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
TRAJECTORIES = SHARED / "fixtures" / "trajectories"


@pytest.fixture
def trajectories() -> Path:
    if not TRAJECTORIES.is_dir():
        pytest.skip(f"the shared trajectory fixtures are not present at {TRAJECTORIES}")
    return TRAJECTORIES
