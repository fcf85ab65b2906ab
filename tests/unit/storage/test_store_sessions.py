"""SessionStore: sessions, rows written from events, flushing, status, deletion, files."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
from pathlib import Path

import pytest

from nexus_lsp.config import LoggingSettings
from nexus_lsp.core.events import (
    ContentDelta,
    ContextTruncated,
    MessageAppended,
    TurnEnded,
    TurnResult,
    TurnStarted,
)
from nexus_lsp.core.messages import Message, ToolCall
from nexus_lsp.errors import StoreError, UnknownSession
from nexus_lsp.storage import SessionStore

from .storage_helpers import assert_valid_history, execute, full_turn, query


async def test_open_creates_a_private_nexus_folder(root: Path, store: SessionStore) -> None:
    nexus = root / ".nexus"
    assert stat.S_IMODE(nexus.stat().st_mode) == 0o700
    assert (nexus / ".gitignore").read_text() == "*\n"
    assert stat.S_IMODE((nexus / ".gitignore").stat().st_mode) == 0o600
    assert stat.S_IMODE((nexus / "nexus.db").stat().st_mode) == 0o600
    assert query(nexus / "nexus.db", "PRAGMA journal_mode") == [("wal",)]
    await store.create_session("s1", title="t", model="m", system_prompt="p")
    assert stat.S_IMODE((nexus / "sessions").stat().st_mode) == 0o700
    assert stat.S_IMODE(store.session_dir("s1").stat().st_mode) == 0o700
    assert stat.S_IMODE(store.transcript_path("s1").stat().st_mode) == 0o600


async def test_a_users_own_gitignore_is_left_alone(root: Path) -> None:
    (root / ".nexus").mkdir()
    (root / ".nexus" / ".gitignore").write_text("*.db\n")
    async with await SessionStore.open(root, LoggingSettings()):
        pass
    assert (root / ".nexus" / ".gitignore").read_text() == "*.db\n"


async def test_create_list_load_delete(store: SessionStore) -> None:
    record = await store.create_session("a-1", title="First", model="m1", system_prompt="sys",
                                        settings={"session": {"maxIterations": 3}})
    assert (record.session_id, record.title, record.status, record.turn_count) == (
        "a-1", "First", "idle", 0)
    await store.create_session("b-2", title="Second", model="m2", system_prompt="sys2")
    assert [r.session_id for r in await store.list_sessions()] == ["b-2", "a-1"]

    loaded = await store.load_session("a-1")
    assert loaded.system_prompt == "sys" and loaded.messages == [Message.system("sys")]
    assert loaded.settings == {"session": {"maxIterations": 3}}
    assert loaded.repaired is False and loaded.out_of_context == frozenset()

    folder = store.session_dir("a-1")
    assert folder.is_dir()
    assert await store.delete_session("a-1") is True
    assert not folder.exists()
    assert [r.session_id for r in await store.list_sessions()] == ["b-2"]
    assert await store.delete_session("a-1") is False
    with pytest.raises(UnknownSession):
        await store.load_session("a-1")
    with pytest.raises(UnknownSession):
        store.sink("a-1")


async def test_bad_session_ids_are_refused_clearly(store: SessionStore) -> None:
    with pytest.raises(StoreError, match="invalid session id '../escape'"):
        await store.create_session("../escape", title="", model="m", system_prompt="")
    with pytest.raises(StoreError, match="invalid session id"):
        store.session_dir("a/b")
    with pytest.raises(UnknownSession):
        await store.load_session("../../etc")
    assert await store.delete_session("..") is False
    await store.create_session("dup", title="", model="m", system_prompt="")
    with pytest.raises(StoreError, match="exists already"):
        await store.create_session("dup", title="", model="m", system_prompt="")
    with pytest.raises(StoreError, match="settings of session x: not JSON"):
        await store.create_session("x", title="", model="m", system_prompt="",
                                   settings={"bad": object()})


async def test_events_become_messages_in_order(store: SessionStore) -> None:
    await store.create_session("s", title="t", model="m", system_prompt="sys")
    sink = store.sink("s")
    calls = [ToolCall("c1", "read_file", {"path": "a.txt"}),
             ToolCall("c2", "search_text", {"pattern": "x"})]
    events, index = full_turn(1, 1, "look", answer="found it", calls=calls,
                              outputs=["text of a", "a.txt:1: x"])
    more, index = full_turn(2, index, "thanks", answer="welcome")
    for event in events + more:
        sink(event)
    await store.flush()
    loaded = await store.load_session("s")
    assert [m.role for m in loaded.messages] == [
        "system", "user", "assistant", "tool", "tool", "assistant", "user", "assistant"]
    assert loaded.messages[2].tool_calls == tuple(calls)
    assert loaded.messages[3].content == "text of a" and loaded.messages[3].tool_call_id == "c1"
    assert loaded.messages[5].content == "found it"
    assert loaded.record.turn_count == 2 and loaded.record.status == "idle"
    assert loaded.repaired is False
    assert_valid_history(loaded.messages)
    rows = query(store.db_path, "SELECT ord, turn, token_estimate > 0 FROM messages"
                                " WHERE session_id = 's' ORDER BY ord")
    assert [r[0] for r in rows] == list(range(index))
    assert [r[1] for r in rows] == [0, 1, 1, 1, 1, 1, 2, 2] and all(r[2] for r in rows)


async def test_deltas_are_coalesced_into_one_event_row_per_run(store: SessionStore) -> None:
    await store.create_session("s", title="t", model="m", system_prompt="sys")
    sink = store.sink("s")
    events, _ = full_turn(1, 1, "hi", answer="x" * 500, reasoning="thinking " * 40)
    for event in events:
        sink(event)
    await store.flush()
    rows = query(store.db_path, "SELECT type, data FROM events WHERE session_id = 's'"
                                " ORDER BY id")
    types = [r[0] for r in rows]
    assert types.count("content") == 1 and types.count("reasoning") == 3  # on, text, off
    content = json.loads(next(r[1] for r in rows if r[0] == "content"))
    assert content == {"text": "x" * 500, "deltas": 100}
    texts = [json.loads(r[1]) for r in rows if r[0] == "reasoning"]
    assert texts[1] == {"text": "thinking " * 40, "deltas": 72}
    assert types[0] == "turnStarted" and types[-1] == "turnEnded"


async def test_turn_end_flushes_without_being_asked(root: Path) -> None:
    async with await SessionStore.open(root, LoggingSettings(), flush_interval=60) as store:
        await store.create_session("s", title="t", model="m", system_prompt="sys")
        sink = store.sink("s")
        events, _ = full_turn(1, 1, "hi")
        for event in events[:-1]:
            sink(event)
        await asyncio.sleep(0.05)
        # No TurnEnded yet and a long interval: nothing written.
        assert query(store.db_path, "SELECT count(*) FROM messages") == [(1,)]
        sink(events[-1])
        for _ in range(500):
            if query(store.db_path, "SELECT count(*) FROM messages") == [(3,)]:
                break
            await asyncio.sleep(0.01)
        assert query(store.db_path, "SELECT count(*) FROM messages") == [(3,)]


async def test_the_background_flusher_writes_a_turn_in_flight(root: Path) -> None:
    async with await SessionStore.open(root, LoggingSettings(), flush_interval=0.02) as store:
        await store.create_session("s", title="t", model="m", system_prompt="sys")
        sink = store.sink("s")
        sink(TurnStarted(1, "hi"))
        sink(MessageAppended(1, 1, Message.user("hi")))
        sink(ContentDelta(1, "partial answ"))
        for _ in range(500):
            rows = query(store.db_path, "SELECT data FROM events WHERE type = 'content'")
            if rows:
                break
            await asyncio.sleep(0.01)
        assert [json.loads(r[0])["text"] for r in rows] == ["partial answ"]
        assert query(store.db_path, "SELECT status FROM sessions") == [("running",)]


async def test_status_running_idle_and_interrupted(root: Path) -> None:
    store = await SessionStore.open(root, LoggingSettings())
    await store.create_session("s", title="t", model="m", system_prompt="sys")
    sink = store.sink("s")
    sink(TurnStarted(1, "hi"))
    sink(MessageAppended(1, 1, Message.user("hi")))
    assert [r.status for r in await store.list_sessions()] == ["running"]
    await store.aclose()
    # Another process (or this one, restarted) sees the row still "running".
    store = await SessionStore.open(root, LoggingSettings())
    (record,) = await store.list_sessions()
    assert record.status == "interrupted" and record.turn_count == 1
    loaded = await store.load_session("s")
    assert loaded.repaired is True and loaded.record.status == "idle"
    assert [m.role for m in loaded.messages] == ["system", "user"]
    assert [r.status for r in await store.list_sessions()] == ["idle"]
    sink = store.sink("s")
    sink(TurnStarted(2, "again"))
    sink(TurnEnded(2, TurnResult("s", 2, "endTurn", "")))
    assert [(r.status, r.turn_count) for r in await store.list_sessions()] == [("idle", 2)]
    await store.aclose()


async def test_truncated_context_is_reported_out_of_context(store: SessionStore) -> None:
    await store.create_session("s", title="t", model="m", system_prompt="sys")
    sink = store.sink("s")
    first, index = full_turn(1, 1, "one")
    second, index = full_turn(2, index, "two")
    for event in first + second:
        sink(event)
    sink(ContextTruncated(2, (1, 2)))
    loaded = await store.load_session("s")
    assert loaded.out_of_context == frozenset({1, 2})
    assert len(loaded.messages) == index


async def test_event_retention_keeps_the_newest_events(root: Path) -> None:
    async with await SessionStore.open(root, LoggingSettings(event_retention=5)) as store:
        await store.create_session("s", title="t", model="m", system_prompt="sys")
        await store.create_session("other", title="t", model="m", system_prompt="sys")
        sink = store.sink("s")
        index = 1
        for turn in range(1, 4):
            events, index = full_turn(turn, index, f"prompt {turn}")
            for event in events:
                sink(event)
            await store.flush()
        store.sink("other")(TurnStarted(1, "x"))
        await store.flush()
        rows = query(store.db_path, "SELECT type, turn FROM events WHERE session_id = 's'"
                                    " ORDER BY id")
        assert len(rows) == 5 and rows[-1] == ("turnEnded", 3)
        assert query(store.db_path, "SELECT count(*) FROM events WHERE session_id = 'other'"
                     ) == [(1,)]
        assert len((await store.load_session("s")).messages) == index  # messages all kept


async def test_retention_holds_when_events_vanish_behind_the_stores_back(root: Path) -> None:
    # The store counts each session's events once and then keeps count; rows removed
    # by another connection make its count too high, which must not stop pruning.
    async with await SessionStore.open(root, LoggingSettings(event_retention=5)) as store:
        await store.create_session("s", title="t", model="m", system_prompt="sys")
        sink = store.sink("s")

        async def record(first: int, count: int) -> None:
            for turn in range(first, first + count):
                sink(TurnStarted(turn, f"p{turn}"))
            await store.flush()

        await record(1, 3)
        execute(store.db_path, "DELETE FROM events")  # the store still counts 3
        await record(4, 4)  # counted 7 > 5, but only 4 are there: nothing to prune
        assert query(store.db_path, "SELECT count(*) FROM events") == [(4,)]
        await record(8, 3)  # 7 now: back to the 5 newest
        rows = query(store.db_path, "SELECT turn FROM events ORDER BY id")
        assert rows == [(6,), (7,), (8,), (9,), (10,)]


async def test_delete_drops_buffered_rows_and_later_events(store: SessionStore) -> None:
    await store.create_session("s", title="t", model="m", system_prompt="sys")
    sink = store.sink("s")
    events, _ = full_turn(1, 1, "hi")
    for event in events[:3]:
        sink(event)
    assert await store.delete_session("s") is True
    for event in events[3:]:
        sink(event)  # a session deleted mid-turn: dropped, never raised
    await store.flush()
    assert query(store.db_path, "SELECT count(*) FROM messages") == [(0,)]
    assert query(store.db_path, "SELECT count(*) FROM events") == [(0,)]
    assert not store.session_dir("s").exists()


async def test_a_cancelled_flush_still_commits(store: SessionStore) -> None:
    await store.create_session("s", title="t", model="m", system_prompt="sys")
    sink = store.sink("s")
    events, index = full_turn(1, 1, "hi", answer="y" * 10_000)
    for event in events:
        sink(event)
    task = asyncio.create_task(store.flush())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The connection is usable (no transaction left open) and nothing was lost.
    more, index = full_turn(2, index, "again")
    for event in more:
        sink(event)
    loaded = await store.load_session("s")
    assert len(loaded.messages) == index


async def test_aclose_is_idempotent_and_flushes(root: Path) -> None:
    store = await SessionStore.open(root, LoggingSettings(), flush_interval=60)
    await store.create_session("s", title="t", model="m", system_prompt="sys")
    sink = store.sink("s")
    sink(TurnStarted(1, "hi"))
    sink(MessageAppended(1, 1, Message.user("hi")))
    await asyncio.gather(store.aclose(), store.aclose())
    await store.aclose()
    sink(MessageAppended(1, 2, Message.user("after close")))  # dropped quietly
    await store.flush()  # a no-op once closed
    with pytest.raises(StoreError, match="closed"):
        await store.create_session("t", title="t", model="m", system_prompt="sys")
    assert query(root / ".nexus" / "nexus.db", "SELECT ord FROM messages ORDER BY ord") == [
        (0,), (1,)]


async def test_a_failing_sink_never_raises(store: SessionStore, caplog: pytest.LogCaptureFixture
                                           ) -> None:
    await store.create_session("s", title="t", model="m", system_prompt="sys")
    sink = store.sink("s")

    class Weird:  # not a session event at all
        type = "weird"
        turn_id = 1

    sink(Weird())  # type: ignore[arg-type]
    sink(MessageAppended(1, 1, "not a message"))  # type: ignore[arg-type]
    sink(MessageAppended(1, 1, Message(role="robot", content="x")))  # type: ignore[arg-type]
    sink(MessageAppended(1, 1, Message(role="user", content=None)))  # type: ignore[arg-type]
    assert caplog.text.count("recording a messageAppended event failed") == 3
    await store.flush()  # nothing invalid was buffered: the flush works
    sink(MessageAppended(1, 1, Message.user("fine")))
    assert [m.content for m in (await store.load_session("s")).messages] == ["sys", "fine"]


async def test_a_failed_flush_keeps_its_rows_for_the_next(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create_session("s", title="t", model="m", system_prompt="sys")
    sink = store.sink("s")
    first, index = full_turn(1, 1, "one")
    for event in first:
        sink(event)

    async def disk_full(*args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    with monkeypatch.context() as patch:
        patch.setattr("nexus_lsp.storage.sql.write_batch", disk_full)
        with pytest.raises(StoreError, match="database or disk is full"):
            await store.flush()
    second, index = full_turn(2, index, "two")
    for event in second:
        sink(event)
    loaded = await store.load_session("s")
    assert [m.content for m in loaded.messages] == ["sys", "one", "done", "two", "done"]
    assert query(store.db_path, "SELECT count(*) FROM events WHERE type = 'turnEnded'"
                 ) == [(2,)]


async def test_a_session_deleted_by_another_store_does_not_block_flushes(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with await SessionStore.open(root, LoggingSettings()) as first, \
            await SessionStore.open(root, LoggingSettings()) as second:
        await first.create_session("gone", title="t", model="m", system_prompt="sys")
        await first.create_session("kept", title="t", model="m", system_prompt="sys")
        assert await second.delete_session("gone") is True
        for session_id in ("gone", "kept"):
            events, _ = full_turn(1, 1, f"to {session_id}")
            for event in events:
                first.sink(session_id)(event)
        await first.flush()
        assert "session gone was deleted elsewhere" in caplog.text
        assert [r.session_id for r in await first.list_sessions()] == ["kept"]
        assert len((await first.load_session("kept")).messages) == 3
        with pytest.raises(UnknownSession):
            first.sink("gone")


async def test_a_closed_store_says_so(root: Path) -> None:
    store = await SessionStore.open(root, LoggingSettings())
    await store.create_session("s", title="t", model="m", system_prompt="sys")
    await store.aclose()
    for call in (store.list_sessions(), store.load_session("s"), store.delete_session("s")):
        with pytest.raises(StoreError, match="session store .* is closed"):
            await call
