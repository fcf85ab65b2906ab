"""Fixtures of the server's end-to-end tests (pytest-lsp over stdio, scripted model).

``editor`` is a :class:`~lsp_support.TestEditor` connected to a fresh ``nexus-lsp``
process, initialized with VS Code's or Neovim's capabilities (``editor_name``), a
workspace folder and settings pointing at ``model``, a scripted model server running
in the test's event loop. Tests push the model's responses with ``model.push``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import TestEditor, connected, settings


@pytest_asyncio.fixture
async def model() -> AsyncIterator[ScriptedModelServer]:
    async with ScriptedModelServer() as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def greet(name):\n    return 'hi ' + name\n")
    (root / "README.md").write_text("# Demo\n")
    return root


@pytest_asyncio.fixture(params=["visual-studio-code", "neovim"])
async def editor(
    request: pytest.FixtureRequest, model: ScriptedModelServer, workspace: Path
) -> AsyncIterator[TestEditor]:
    """A started server with VS Code's, then Neovim's, capabilities."""
    async with connected(request.param, workspace, settings(model.openai_base_url)) as client:
        yield client


@pytest_asyncio.fixture
async def vscode(model: ScriptedModelServer, workspace: Path) -> AsyncIterator[TestEditor]:
    """Only VS Code's capabilities: for the flows that need not run twice."""
    options = settings(model.openai_base_url)
    async with connected("visual-studio-code", workspace, options) as client:
        yield client
