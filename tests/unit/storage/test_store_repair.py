"""Loading an interrupted session: open tool calls closed, positions kept contiguous."""

from __future__ import annotations

from pathlib import Path

from nexus_lsp.config import LoggingSettings
from nexus_lsp.core.events import MessageAppended
from nexus_lsp.core.messages import Message, ToolCall
from nexus_lsp.storage import SessionStore
from nexus_lsp.storage.records import StoredMessage
from nexus_lsp.storage.repair import repair_history

from .storage_helpers import (
    assert_valid_history,
    batch,
    execute,
    full_turn,
    model_answer,
    query,
)

AT = "2025-01-01T00:00:00.000000+00:00"
C1 = ToolCall("c1", "read_file", {"path": "a"})
C2 = ToolCall("c2", "search_text", {"pattern": "b"})
INTERRUPTED = "search_text: interrupted: the session ended before this tool call finished"


def rows(*messages: Message, ords: list[int] | None = None) -> list[StoredMessage]:
    positions = ords if ords is not None else list(range(len(messages)))
    return [StoredMessage(o, 1, m, True, AT) for o, m in zip(positions, messages, strict=True)]


def test_open_calls_at_the_end_get_interrupted_results_at_the_next_positions() -> None:
    history = rows(Message.system("s"), Message.user("u"), Message.assistant("", (C1, C2)),
                   Message(role="tool", content="a", tool_call_id="c1", name="read_file"))
    repair = repair_history(history, "s", AT)
    assert repair.changed and not repair.rewrite
    (added,) = repair.added
    assert added.ord == 4 and added.turn == 1
    assert added.message == Message(role="tool", content=INTERRUPTED, tool_call_id="c2",
                                    name="search_text", is_error=True)
    assert [r.ord for r in repair.messages] == [0, 1, 2, 3, 4]
    assert_valid_history([r.message for r in repair.messages])
    assert repair.problems == ["tool call 'c2' (search_text) had no result"]


def test_a_complete_history_is_left_alone() -> None:
    history = rows(Message.system("s"), Message.user("u"), Message.assistant("", (C1,)),
                   Message(role="tool", content="a", tool_call_id="c1", name="read_file"),
                   Message.assistant("done"))
    repair = repair_history(history, "s", AT)
    assert not repair.changed and repair.messages == history and repair.problems == []


def test_open_calls_in_the_middle_renumber_the_history() -> None:
    history = rows(Message.system("s"), Message.user("u"), Message.assistant("", (C2,)),
                   Message.user("next"), Message.assistant("ok"))
    repair = repair_history(history, "s", AT)
    assert repair.rewrite
    assert [r.message.role for r in repair.messages] == [
        "system", "user", "assistant", "tool", "user", "assistant"]
    assert [r.ord for r in repair.messages] == list(range(6))
    assert repair.messages[3].message.content == INTERRUPTED


def test_gaps_and_a_lost_system_prompt_are_fixed() -> None:
    gap = repair_history(rows(Message.system("s"), Message.user("u"), Message.user("v"),
                              ords=[0, 1, 5]), "s", AT)
    assert gap.rewrite and [r.ord for r in gap.messages] == [0, 1, 2] and not gap.added
    lost = repair_history(rows(Message.user("u"), ords=[1]), "the prompt", AT)
    assert [r.message for r in lost.added] == [Message.system("the prompt")]
    assert [r.ord for r in lost.messages] == [0, 1] and not lost.rewrite


async def test_an_interrupted_session_loads_repaired_and_stays_repaired(root: Path) -> None:
    store = await SessionStore.open(root, LoggingSettings())
    await store.create_session("s", title="t", model="m", system_prompt="sys")
    sink = store.sink("s")
    events, index = full_turn(1, 1, "first")
    events += full_turn(2, index, "second")[0][:2]  # TurnStarted, user message
    events += model_answer(2, index + 1, "", [C1, C2])
    events += batch(2, index + 2, [C1, C2], ["a", "b"])[:-1]  # the last result is lost
    for event in events:
        sink(event)
    await store.aclose()  # like a crash after the last flush: no TurnEnded

    store = await SessionStore.open(root, LoggingSettings())
    loaded = await store.load_session("s")
    assert loaded.repaired is True and loaded.record.status == "idle"
    assert_valid_history(loaded.messages)
    assert loaded.messages[-1].content == INTERRUPTED and loaded.messages[-1].is_error
    assert len(loaded.messages) == index + 4
    db = store.db_path
    assert query(db, "SELECT ord, is_error, turn FROM messages WHERE tool_call_id = 'c2'") == [
        (index + 3, 1, 2)]
    assert query(db, "SELECT status FROM sessions") == [("idle",)]
    assert query(db, "SELECT count(*) FROM events WHERE type = 'sessionRepaired'") == [(1,)]
    context = store.transcript_path("s").read_text(encoding="utf-8")
    assert "session resumed; turn 2 was interrupted; 1 tool call(s) closed" in context
    assert INTERRUPTED in context
    again = await store.load_session("s")
    assert again.repaired is False and again.messages == loaded.messages
    await store.aclose()


async def test_a_gap_is_renumbered_in_the_database(root: Path) -> None:
    async with await SessionStore.open(root, LoggingSettings()) as store:
        await store.create_session("s", title="t", model="m", system_prompt="sys")
        sink = store.sink("s")
        first, index = full_turn(1, 1, "one")
        second, index = full_turn(2, index, "two")
        for event in first + second:
            sink(event)
        await store.flush()
    # A row lost by hand: not something the store ever does itself.
    execute(root / ".nexus" / "nexus.db", "DELETE FROM messages WHERE ord = 2")
    async with await SessionStore.open(root, LoggingSettings()) as store:
        loaded = await store.load_session("s")
        assert loaded.repaired is True
        assert [m.content for m in loaded.messages] == ["sys", "one", "two", "done"]
        store.sink("s")(MessageAppended(3, len(loaded.messages), Message.user("three")))
        await store.flush()
        ords = query(store.db_path, "SELECT ord, content FROM messages ORDER BY ord")
    assert ords == [(0, "sys"), (1, "one"), (2, "two"), (3, "done"), (4, "three")]


async def test_a_session_whose_turn_runs_here_is_not_repaired(store: SessionStore) -> None:
    await store.create_session("s", title="t", model="m", system_prompt="sys")
    sink = store.sink("s")
    events, _ = full_turn(1, 1, "q", calls=[C1])
    asking = next(i for i, e in enumerate(events)
                  if isinstance(e, MessageAppended) and e.message.tool_calls)
    for event in events[: asking + 1]:  # up to the assistant message asking for C1
        sink(event)
    loaded = await store.load_session("s")
    assert loaded.repaired is False and loaded.record.status == "running"
    assert loaded.messages[-1].tool_calls == (C1,)
