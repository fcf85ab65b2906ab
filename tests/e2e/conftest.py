"""Fixtures of the server's end-to-end tests (pytest-lsp over stdio, scripted model).

``editor`` is a :class:`~lsp_support.TestEditor` connected to a fresh ``nexus-lsp``
process, initialized with VS Code's or Neovim's capabilities (``editor_name``), a
workspace folder and settings pointing at ``model``, a scripted model server running
in the test's event loop. Tests push the model's responses with ``model.push``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
import pytest_lsp
from lsprotocol import types

from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import CONFIG, TestEditor, settings, uri


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


def initialize_params(
    capabilities: types.ClientCapabilities, root: Path, options: object
) -> types.InitializeParams:
    return types.InitializeParams(
        capabilities=capabilities,
        root_uri=uri(root),
        workspace_folders=[types.WorkspaceFolder(uri=uri(root), name=root.name)],
        initialization_options=options,
    )


async def start(
    client: TestEditor, capabilities: types.ClientCapabilities, root: Path, options: object
) -> types.InitializeResult:
    result = await client.initialize_session(initialize_params(capabilities, root, options))
    encoding = result.capabilities.position_encoding
    client.encoding = str(getattr(encoding, "value", encoding) or "utf-16")
    return result


@asynccontextmanager
async def connected(
    editor_name: str, root: Path, options: object
) -> AsyncIterator[TestEditor]:
    """A fresh server process with a test editor initialized as ``editor_name``."""
    client = await CONFIG.start()
    assert isinstance(client, TestEditor)
    try:
        await start(client, pytest_lsp.client_capabilities(editor_name), root, options)
        yield client
        await client.shutdown_session()
    finally:
        await client.stop()


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
