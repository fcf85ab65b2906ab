"""SessionManager with the real store: create, send, resume after a restart, settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nexus_lsp.config import ProviderSettings, Settings, parse_settings
from nexus_lsp.core.events import MessageAppended
from nexus_lsp.core.messages import Message, ToolCall
from nexus_lsp.errors import SessionBusy, UnknownSession
from nexus_lsp.providers.base import Provider, RawLogger
from nexus_lsp.session.manager import SessionManager
from nexus_lsp.skills import DiskWorkspace
from nexus_lsp.storage import SessionStore
from nexus_lsp.testing.fake_provider import FakeAnswer, FakeProvider

from .conftest import assert_valid_history


class Providers:
    """A provider factory handing out FakeProviders that share one script."""

    def __init__(self, *answers: FakeAnswer) -> None:
        self.answers = list(answers)
        self.made: list[tuple[ProviderSettings, FakeProvider]] = []

    def __call__(self, settings: ProviderSettings, raw: RawLogger | None) -> Provider:
        provider = FakeProvider(self.answers, model=settings.model)
        self.made.append((settings, provider))
        return provider


async def open_manager(root: Path, providers: Providers, **raw: object) -> SessionManager:
    settings, problems = parse_settings(raw or None)
    assert problems == []
    store = await SessionStore.open(root, settings.logging)
    return SessionManager(root, settings, DiskWorkspace(root), store, providers)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "notes.txt").write_text("remember the milk\n", encoding="utf-8")
    (tmp_path / "AGENTS.md").write_text("Always answer in French.\n", encoding="utf-8")
    return tmp_path


async def test_send_without_a_session_creates_one_titled_from_the_prompt(root: Path) -> None:
    providers = Providers(FakeAnswer(text=["Bonjour"]))
    manager = await open_manager(root, providers)
    result = await manager.send(None, "Say hello\nplease")
    assert result.stop_reason == "endTurn" and result.content == "Bonjour"
    (record,) = await manager.list_sessions()
    assert record.session_id == result.session_id and record.title == "Say hello"
    assert record.turn_count == 1 and record.status == "idle"
    system = providers.made[0][1].requests[0][0].content
    assert "Always answer in French." in system and str(root) in system
    await manager.aclose()


async def test_a_session_resumes_after_a_restart_with_its_prompt_and_history(
    root: Path,
) -> None:
    first = Providers(
        FakeAnswer(tool_calls=[ToolCall("c1", "read_file", {"path": "notes.txt"})]),
        FakeAnswer(text=["You must buy milk."]),
    )
    manager = await open_manager(root, first, session={"systemPrompt": "Be brief."})
    session = await manager.new_session(title="Shopping", system_prompt="Only facts.")
    await manager.send(session.id, "What do I need?")
    await manager.aclose()

    (root / "AGENTS.md").write_text("Changed instructions.\n", encoding="utf-8")
    second = Providers(FakeAnswer(text=["Milk."]))
    manager = await open_manager(root, second)
    loaded = await manager.load(session.id)
    assert loaded.repaired is False
    assert [m.role for m in loaded.messages] == ["system", "user", "assistant", "tool", "assistant"]
    result = await manager.send(session.id, "Again?")
    assert result.turn_id == 2
    request = second.made[0][1].requests[0]
    # The prompt the session started with, not today's AGENTS.md.
    assert "Always answer in French." in request[0].content
    assert "Be brief." in request[0].content and "Only facts." in request[0].content
    assert [m.content for m in request[1:]][-1] == "Again?"
    assert_valid_history(request)
    await manager.aclose()


async def test_unknown_and_busy_sessions_are_refused(root: Path) -> None:
    providers = Providers(FakeAnswer(text=["slow"], stall=True))
    manager = await open_manager(root, providers)
    with pytest.raises(UnknownSession):
        await manager.send("20990101-000000-abcdef", "hi")
    session = await manager.new_session()
    turn = asyncio.create_task(manager.send(session.id, "one"))
    await providers.made[0][1].stalled.wait()
    with pytest.raises(SessionBusy):
        await manager.send(session.id, "two")
    with pytest.raises(SessionBusy):
        await manager.delete(session.id)
    assert manager.cancel(session.id) is True
    assert (await turn).stop_reason == "cancelled"
    assert await manager.delete(session.id) is True
    assert await manager.list_sessions() == []
    await manager.aclose()


async def test_every_message_is_stored_when_send_returns(root: Path) -> None:
    manager = await open_manager(root, Providers(FakeAnswer(text=["stored"])))
    result = await manager.send(None, "persist me")
    # A second, independent store sees the rows: they were committed, not buffered.
    other = await SessionStore.open(root, Settings().logging)
    loaded = await other.load_session(result.session_id)
    assert [m.content for m in loaded.messages[1:]] == ["persist me", "stored"]
    await other.aclose()
    await manager.aclose()


async def test_new_provider_settings_apply_from_the_next_turn(root: Path) -> None:
    providers = Providers(FakeAnswer(text=["a"]), FakeAnswer(text=["b"]))
    manager = await open_manager(root, providers)
    session = await manager.new_session(model="model-one")
    await manager.send(session.id, "first")
    updated, _ = parse_settings({"provider": {"baseUrl": "http://127.0.0.1:1/v1"}},
                                base=manager.settings)
    manager.update_settings(updated)
    await manager.send(session.id, "second")
    assert [(s.base_url, s.model) for s, _ in providers.made][-1] == (
        "http://127.0.0.1:1/v1", "model-one"
    )
    assert providers.made[0][1].closed
    await manager.aclose()


async def test_queued_sends_run_in_order_and_a_cancelled_one_stops_waiting(root: Path) -> None:
    from nexus_lsp.core.cancel import CancellationToken, Cancelled

    providers = Providers(FakeAnswer(stall=True), FakeAnswer(text=["second"]))
    manager = await open_manager(root, providers)
    session = await manager.new_session()
    first_token = CancellationToken()
    first = asyncio.ensure_future(manager.send(session.id, "one", cancel_token=first_token))
    await providers.made[0][1].stalled.wait()
    with pytest.raises(SessionBusy):
        await manager.send(session.id, "rejected")
    dropped_token = CancellationToken()
    dropped = asyncio.ensure_future(
        manager.send(session.id, "never", cancel_token=dropped_token, when_busy="queue"))
    second = asyncio.ensure_future(manager.send(session.id, "two", when_busy="queue"))
    await asyncio.sleep(0.05)
    dropped_token.cancel("the request was cancelled")
    with pytest.raises(Cancelled):
        await dropped
    assert not second.done()
    first_token.cancel("user")
    one, two = await first, await second
    assert (one.turn_id, one.stop_reason) == (1, "cancelled")
    assert (two.turn_id, two.content) == (2, "second")
    prompts = [m.content for m in session.history if m.role == "user"]
    assert prompts == ["one", "two"]
    await manager.aclose()


async def test_tool_results_added_on_cancel_reach_the_database_and_the_transcript(
    root: Path,
) -> None:
    """Issue 11 #9: add_cancelled_tools results went to the memory history only."""
    manager = await open_manager(root, Providers(FakeAnswer(text=["hi"])))
    result = await manager.send(None, "hello")
    session = await manager.get(result.session_id)
    call = ToolCall("ui1", "read_file", {"path": "notes.txt"})
    asked = Message.assistant("", (call,))
    # A call the UI knows of (stored like any message), then cancelled from the UI.
    index = session.context.append(asked)
    manager.store.sink(session.id)(MessageAppended(session.turn_count, index, asked))
    written = await session.add_cancelled_tools([call])
    assert written == [index + 1]
    await manager.store.flush()

    other = await SessionStore.open(root, Settings().logging)
    loaded = await other.load_session(session.id)
    await other.aclose()
    assert loaded.repaired is False  # the call has its result: nothing to close
    stored = loaded.messages[index + 1]
    assert stored.role == "tool" and stored.tool_call_id == "ui1"
    assert stored.content == "read_file: cancelled: cancelled by the user"
    transcript = manager.store.transcript_path(session.id).read_text(encoding="utf-8")
    assert "read_file: cancelled: cancelled by the user" in transcript
    await manager.aclose()


@pytest.mark.parametrize("mode", ["default", "plan", "auto"])
async def test_the_system_prompt_names_the_mode_and_that_denials_are_final(
    root: Path, mode: str
) -> None:
    providers = Providers(FakeAnswer(text=["ok"]))
    manager = await open_manager(root, providers, permissions={"mode": mode})
    await manager.send(None, "hi")
    system = providers.made[0][1].requests[0][0].content
    assert f"the session runs in `{mode}` mode" in system
    assert "is the user's decision and is final for that call" in system
    assert "run_command" in system
    await manager.aclose()


async def test_a_session_without_a_way_to_ask_is_denied_and_the_turn_goes_on(
    root: Path,
) -> None:
    providers = Providers(
        FakeAnswer(tool_calls=[ToolCall("c1", "run_command", {"command": "touch x.txt"})]),
        FakeAnswer(text=["understood"]),
    )
    manager = await open_manager(root, providers)
    result = await manager.send(None, "run")
    assert result.stop_reason == "endTurn" and result.content == "understood"
    (record,) = result.tool_calls
    assert record.status == "failed"
    assert record.error == "run_command: denied: no way to ask (set permissions.mode or a rule)"
    assert not (root / "x.txt").exists()
    assert await manager.set_mode(result.session_id, "auto") == "auto"
    providers.answers += [
        FakeAnswer(tool_calls=[ToolCall("c2", "run_command", {"command": "touch x.txt"})]),
        FakeAnswer(text=["done"]),
    ]
    await manager.send(result.session_id, "again")
    assert (root / "x.txt").exists()
    await manager.aclose()


async def test_a_send_right_after_the_turn_ended_waits_for_its_books_not_busy(
    root: Path,
) -> None:
    """A client may send the next prompt as soon as it sees turnEnd, while the turn
    before still flushes and gives back its lease: that send is served, not refused."""
    manager = await open_manager(
        root, Providers(FakeAnswer(text=["one"]), FakeAnswer(text=["two"]), FakeAnswer(text=["3"]))
    )
    first = await manager.send(None, "first")
    follow_ups: list[asyncio.Future[object]] = []

    def sink(event: object) -> None:
        if type(event).__name__ == "TurnEnded" and not follow_ups:
            follow_ups.append(asyncio.ensure_future(manager.send(first.session_id, "next")))

    await manager.send(first.session_id, "again", sink=sink)
    (follow_up,) = follow_ups
    result = await follow_up
    assert getattr(result, "stop_reason", None) == "endTurn"
    await manager.aclose()
