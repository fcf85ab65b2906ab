"""Fixtures for the store tests: a workspace folder and an open store on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nexus_lsp.config import LoggingSettings
from nexus_lsp.storage import SessionStore


@pytest.fixture
def root(tmp_path: Path) -> Path:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return workspace


@pytest.fixture
async def store(root: Path) -> AsyncIterator[SessionStore]:
    opened = await SessionStore.open(root, LoggingSettings())
    try:
        yield opened
    finally:
        await opened.aclose()
