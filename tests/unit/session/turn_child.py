"""Another nexus-lsp process on the same workspace (run by test_two_processes.py).

Usage, from the repository root:
``python -m tests.unit.session.turn_child <workspace> <session id> <prompt>``.
Sends ``prompt`` to the session with a model that streams ``partial`` and then
never finishes; prints ``running`` once the model request is under way. A line
on stdin cancels the turn; it then prints ``ended <stop reason>`` and exits.
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


async def main(root: Path, session_id: str, prompt: str) -> None:
    provider = FakeProvider([FakeAnswer(text=["partial"], stall=True)])

    def factory(settings: ProviderSettings, raw: RawLogger | None) -> Provider:
        return provider

    settings = Settings()
    store = await SessionStore.open(root, settings.logging)
    manager = SessionManager(root, settings, DiskWorkspace(root), store, factory)
    turn = asyncio.create_task(manager.send(session_id, prompt))
    await provider.stalled.wait()
    print("running", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    manager.cancel(session_id)
    result = await turn
    print(f"ended {result.stop_reason}", flush=True)
    await manager.aclose()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
