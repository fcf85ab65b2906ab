"""Sends one prompt through a SessionManager whose model never answers (run by
test_prompt_durability.py, which kills it with SIGKILL).

Usage, from the repository root:
``python -m tests.unit.session.prompt_child <workspace> <prompt>``.
Prints ``requested <session id>`` once the model request is under way. The
store's periodic flush is set to an hour, so only a commit made for the prompt
itself can have stored it by then.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from nexus_lsp.config import ProviderSettings, Settings
from nexus_lsp.providers.base import Provider, RawLogger
from nexus_lsp.session.manager import SessionManager
from nexus_lsp.skills import DiskWorkspace
from nexus_lsp.storage import SessionStore
from nexus_lsp.testing.fake_provider import FakeAnswer, FakeProvider


async def main(root: Path, prompt: str) -> None:
    provider = FakeProvider([FakeAnswer(stall=True)])

    def factory(settings: ProviderSettings, raw: RawLogger | None) -> Provider:
        return provider

    settings = Settings()
    store = await SessionStore.open(root, settings.logging, flush_interval=3600)
    manager = SessionManager(root, settings, DiskWorkspace(root), store, factory)
    session = await manager.new_session(title="durable")
    turn = asyncio.create_task(manager.send(session.id, prompt))
    await provider.stalled.wait()
    print(f"requested {session.id}", flush=True)
    await turn  # never ends: the parent kills this process


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
