"""Two processes on one workspace (two editor windows on one folder; issue 11 #4).

A turn running in one process owns its session (a lease in nexus.db): the other
lists it ``running``, refuses to send to it, load (repair) it or delete it with
``SessionBusy``, and never writes over its messages. A holder killed with
SIGKILL releases it at once.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from nexus_lsp.config import LoggingSettings, ProviderSettings, Settings
from nexus_lsp.errors import SessionBusy
from nexus_lsp.providers.base import Provider, RawLogger
from nexus_lsp.session.manager import SessionManager
from nexus_lsp.skills import DiskWorkspace
from nexus_lsp.storage import SessionStore
from nexus_lsp.testing.fake_provider import FakeAnswer, FakeProvider

from .conftest import assert_valid_history

REPO = Path(__file__).resolve().parents[3]
CHILD = "tests.unit.session.turn_child"


async def open_manager(root: Path, *answers: FakeAnswer) -> SessionManager:
    script = list(answers)

    def factory(settings: ProviderSettings, raw: RawLogger | None) -> Provider:
        return FakeProvider(script, model=settings.model)

    settings = Settings()
    store = await SessionStore.open(root, settings.logging)
    return SessionManager(root, settings, DiskWorkspace(root), store, factory)


async def start_turn_elsewhere(root: Path, session_id: str,
                               prompt: str) -> asyncio.subprocess.Process:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", CHILD, str(root), session_id, prompt, cwd=REPO,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    line = await child.stdout.readline()
    if line != b"running\n":
        child.kill()
        _, err = await child.communicate()
        raise AssertionError(f"the other process did not start its turn:\n{err.decode()}")
    return child


async def test_a_turn_running_in_another_process_is_left_alone(tmp_path: Path) -> None:
    here = await open_manager(tmp_path, FakeAnswer(text=["one"]), FakeAnswer(text=["two"]))
    first = await here.send(None, "first")
    session_id = first.session_id  # live here, idle

    other = await start_turn_elsewhere(tmp_path, session_id, "from the other window")
    try:
        (listed,) = await here.list_sessions()
        assert listed.status == "running"
        with pytest.raises(SessionBusy) as busy:
            await here.send(session_id, "from this window")
        assert "another nexus-lsp process" in str(busy.value)
        with pytest.raises(SessionBusy):
            await here.delete(session_id)
        async with await SessionStore.open(tmp_path, LoggingSettings()) as third:
            with pytest.raises(SessionBusy):
                await third.load_session(session_id)  # no "repair" of a live turn
    finally:
        out, err = await other.communicate(b"cancel\n")
    assert out.decode().split() == ["ended", "cancelled"], err.decode()

    # Its turn is over: this process may send again, on top of what the other wrote.
    result = await here.send(session_id, "from this window")
    assert result.stop_reason == "endTurn" and result.content == "two"
    await here.aclose()
    async with await SessionStore.open(tmp_path, LoggingSettings()) as store:
        loaded = await store.load_session(session_id)
    assert not loaded.repaired
    assert [(m.role, m.content) for m in loaded.messages[1:]] == [
        ("user", "first"), ("assistant", "one"),
        ("user", "from the other window"), ("assistant", "partial"),
        ("user", "from this window"), ("assistant", "two"),
    ]
    assert_valid_history(loaded.messages)


async def test_a_holder_killed_with_sigkill_does_not_block_the_session(tmp_path: Path) -> None:
    here = await open_manager(tmp_path, FakeAnswer(text=["one"]), FakeAnswer(text=["two"]))
    session_id = (await here.send(None, "first")).session_id
    other = await start_turn_elsewhere(tmp_path, session_id, "from the other window")
    other.kill()
    await other.wait()
    assert other.returncode == -signal.SIGKILL

    (listed,) = await here.list_sessions()
    assert listed.status == "interrupted"
    result = await here.send(session_id, "again")  # taken over, history reloaded
    assert result.content == "two"
    history = (await here.load(session_id)).messages
    # The killed turn's prompt was committed before its model request (#7).
    assert [m.content for m in history[1:]] == ["first", "one", "from the other window",
                                                "again", "two"]
    assert_valid_history(history)
    await here.aclose()
