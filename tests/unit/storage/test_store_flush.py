"""A flush costs one round trip to the database thread and one write per transcript file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

import pytest

from nexus_lsp.config import LoggingSettings
from nexus_lsp.core.messages import ToolCall
from nexus_lsp.storage import SessionStore, transcript

from .storage_helpers import full_turn, query


class CountingQueue:
    """Stands in for aiosqlite's queue to its thread: counts what is sent there."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self.sent = 0

    def put_nowait(self, item: Any) -> None:
        self.sent += 1
        self.queue.put_nowait(item)


async def test_a_flush_is_one_round_trip_to_the_database_thread(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with await SessionStore.open(root, LoggingSettings(), flush_interval=3600) as store:
        await store.create_session("s", title="t", model="m", system_prompt="p")
        sink = store.sink("s")
        call = ToolCall("c1", "read_file", {"path": "a"})
        events, index = full_turn(1, 1, "q", calls=[call], reasoning="hmm")
        connection = store._db._db  # aiosqlite's connection
        counting = CountingQueue(connection._tx)
        monkeypatch.setattr(connection, "_tx", counting)
        for event in events:  # messages, events and the session row: several tables
            sink(event)
        await store.flush()
        assert counting.sent == 1
        monkeypatch.undo()
        assert query(store.db_path, "SELECT count(*) FROM messages")[0][0] == index
        assert query(store.db_path, "SELECT count(*) FROM events")[0][0] > 5


class CountingFile:
    def __init__(self, handle: TextIO, writes: list[str]) -> None:
        self.handle = handle
        self.writes = writes

    def write(self, text: str) -> int:
        self.writes.append(text)
        return self.handle.write(text)

    def flush(self) -> None:
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


async def test_transcripts_are_written_once_per_flush(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: dict[str, list[str]] = {}
    real_open = transcript.open_private

    def counting_open(path: Path) -> Any:
        return CountingFile(real_open(path), writes.setdefault(path.name, []))

    monkeypatch.setattr(transcript, "open_private", counting_open)
    async with await SessionStore.open(root, LoggingSettings(), flush_interval=3600) as store:
        await store.create_session("s", title="t", model="m", system_prompt="p")
        sink, raw = store.sink("s"), store.raw_logger("s")
        events, _ = full_turn(1, 1, "q", calls=[ToolCall("c1", "read_file", {"path": "a"})],
                              reasoning="let me see")
        for texts in writes.values():  # the header of create_session
            texts.clear()
        for event in events[:-1]:  # the turn is still running
            sink(event)
        for n in range(20):
            raw("chunks", [{"delta": f"piece {n}"}])
        assert not any(writes.values())  # queued until the flush
        await store.flush()
        assert {name: len(texts) for name, texts in writes.items()} == {
            "context.md": 1, "verbose.md": 1, "raw.jsonl": 1}
        assert "Tool result `read_file`" in writes["context.md"][0]
        assert writes["raw.jsonl"][0].count("\n") == 20
        sink(events[-1])  # the turn ends: its entries are written at once
        assert len(writes["context.md"]) == 2
