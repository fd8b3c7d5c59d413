"""Shared fixtures: the repository root and the public data under ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """../shared/data next to the repository (or $S1FLOW_SHARED_DATA), if present."""
    env = os.environ.get("S1FLOW_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for c in candidates:
        if (c / "SOURCES.md").is_file():
            return c.resolve()
    return None


@pytest.fixture
def shared_data() -> Path:
    """The public test data directory; the test is skipped when it is absent."""
    d = shared_data_dir()
    if d is None:
        pytest.skip("public data not found at ../shared/data (set S1FLOW_SHARED_DATA to its location)")
    return d


@pytest.fixture
def repo() -> Path:
    return REPO
