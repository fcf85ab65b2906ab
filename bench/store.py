"""Store 10k messages + 50k events: the session store against a naive sqlite3 writer.

B, the store: a :class:`~nexus_lsp.storage.SessionStore` on a fresh workspace gets
the events of a long session (:mod:`bench.history`) through its sink, exactly as a
live session feeds it, and is flushed at the end of every turn, as the session
manager does before each ``send`` answer. Transcripts (``context.md``,
``verbose.md``) are written too: they are part of what storing costs.

A, the baseline: the same rows (read back from B's database) inserted one
statement and one commit at a time with the stdlib ``sqlite3`` module, rollback
journal (no WAL, ``synchronous=FULL``), same schema, foreign keys on. Schema
creation is outside both timings. Runs alternate A, B, A, B; B also runs once
more first, untimed, to produce the rows.

B′ (information, no target) feeds the same events without a flush per turn: the
store's own flusher writes whenever 500 rows are buffered (or a second passed),
then one flush at the end. It is the store's throughput when nothing forces a
commit, where B is what a session of 2,000 quick turns costs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from bench.config import ProfileMode, Sizes
from bench.history import EVENTS_PER_TURN, MESSAGES_PER_TURN, SYSTEM_PROMPT, Words, turn_events
from bench.profiling import format_stats, in_process
from bench.stats import Check, MeasureResult, Row, Summary, pair_ratios, ratio_of_medians
from nexus_lsp.config import LoggingSettings
from nexus_lsp.core.events import SessionEvent
from nexus_lsp.storage import SessionStore
from nexus_lsp.storage.records import MESSAGE_COLUMNS
from nexus_lsp.storage.schema import schema_sql

__all__ = ["StoredRows", "run", "store_session"]

SESSION_ID = "bench-store"
TARGET_SPEEDUP = 20.0
_SESSION_COLUMNS = ("id, title, created_at, updated_at, status, model, system_prompt, settings,"
                    " turn_count")
_EVENT_COLUMNS = "session_id, turn, type, data, time"


def build_turns(turns: int, session_id: str = SESSION_ID) -> list[list[SessionEvent]]:
    words = Words()
    return [turn_events(session_id, t, 1 + (t - 1) * MESSAGES_PER_TURN, words)
            for t in range(1, turns + 1)]


async def store_session(root: Path, turns: list[list[SessionEvent]],
                        session_id: str = SESSION_ID, flush_each_turn: bool = True) -> float:
    """Record ``turns`` into a store on ``root``; seconds from create to the last flush."""
    store = await SessionStore.open(root, LoggingSettings())
    try:
        started = time.perf_counter()
        await store.create_session(session_id, title="bench", model="scripted",
                                   system_prompt=SYSTEM_PROMPT)
        sink = store.sink(session_id)
        for events in turns:
            for event in events:
                sink(event)
            if flush_each_turn:
                await store.flush()
            else:  # let the store's flusher write when its buffer is full (or a second passed)
                await asyncio.sleep(0)
        await store.flush()
        return time.perf_counter() - started
    finally:
        await store.aclose()


class StoredRows:
    """The rows a store wrote, to be written again by the baseline."""

    def __init__(self, db_path: Path) -> None:
        with closing(sqlite3.connect(db_path)) as db:
            self.session = db.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions").fetchone()
            self.messages = db.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages ORDER BY session_id, ord").fetchall()
            self.events = db.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events ORDER BY id").fetchall()

    @property
    def count(self) -> int:
        return 1 + len(self.messages) + len(self.events)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def baseline_insert(db_path: Path, rows: StoredRows) -> float:
    """Commit per row, rollback journal; seconds for all rows (schema made before)."""
    db = sqlite3.connect(db_path)
    try:
        db.execute("PRAGMA foreign_keys = ON")
        db.executescript(schema_sql())
        db.commit()
        started = time.perf_counter()
        db.execute(f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES ({_marks(9)})", rows.session)
        db.commit()
        insert_message = f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ({_marks(13)})"
        for row in rows.messages:
            db.execute(insert_message, row)
            db.commit()
        insert_event = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({_marks(5)})"
        for row in rows.events:
            db.execute(insert_event, row)
            db.commit()
        return time.perf_counter() - started
    finally:
        db.close()


def _count(db_path: Path, table: str) -> int:
    with closing(sqlite3.connect(db_path)) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def run(sizes: Sizes, profile: ProfileMode, workdir: Path) -> list[MeasureResult]:
    turns = build_turns(sizes.store_turns)
    messages = sizes.store_turns * MESSAGES_PER_TURN
    events = sizes.store_turns * EVENTS_PER_TURN
    with tempfile.TemporaryDirectory(dir=workdir, prefix="store-") as tmp:
        base = Path(tmp)
        first = base / "rows"
        first.mkdir()
        await store_session(first, turns)
        db_path = first / ".nexus" / "nexus.db"
        rows = StoredRows(db_path)
        counted = (_count(db_path, "messages") - 1, _count(db_path, "events"))  # - system
        if counted != (messages, events):
            raise RuntimeError(f"the store wrote {counted} (messages, events), "
                               f"expected {(messages, events)}")
        store_s: list[float] = []
        baseline_s: list[float] = []
        bulk_s: list[float] = []
        for i in range(sizes.store_pairs):
            baseline_s.append(await asyncio.to_thread(
                baseline_insert, base / f"baseline-{i}.db", rows))
            ws = base / f"store-{i}"
            ws.mkdir()
            store_s.append(await store_session(ws, turns))
            bulk = base / f"bulk-{i}"
            bulk.mkdir()
            bulk_s.append(await store_session(bulk, turns, flush_each_turn=False))
        result = _result(sizes, rows, store_s, baseline_s, bulk_s)
        if profile == "always" or (profile == "missed" and not result.passed):
            stats_file = base / "store.prof"
            again = base / "profiled"
            again.mkdir()
            await in_process(lambda: store_session(again, turns), stats_file)
            result.profile = format_stats(stats_file)
    return [result]


def _result(sizes: Sizes, rows: StoredRows, store_s: list[float], baseline_s: list[float],
            bulk_s: list[float]) -> MeasureResult:
    speedup = ratio_of_medians(baseline_s, store_s)
    paced = ratio_of_medians(baseline_s, bulk_s)
    pairs = pair_ratios(baseline_s, store_s)
    per_row = rows.count
    rows_table = [
        Row("A: baseline, commit per row, no WAL", Summary.of(baseline_s), "s"),
        Row("B: store, sink + flush per turn", Summary.of(store_s), "s"),
        Row("B′: store, flushed when the store decides", Summary.of(bulk_s), "s"),
        Row("A: rows per second", Summary.of([per_row / s for s in baseline_s]), "rows/s"),
        Row("B: rows per second", Summary.of([per_row / s for s in store_s]),
            "rows/s"),
        Row("speed-up A/B, per pair", Summary.of(pairs), "×"),
    ]
    details: dict[str, Any] = {"messages": len(rows.messages) - 1, "events": len(rows.events)}
    return MeasureResult(
        key="store",
        title="Store 10k messages + 50k events",
        method=(__doc__ or "").split("\n\n", 1)[1].strip(),
        rows=rows_table,
        checks=[Check(f"store ≥ {TARGET_SPEEDUP:g}× faster than the baseline (median/median)",
                      f"{speedup:.1f}×", speedup >= TARGET_SPEEDUP),
                Check(f"≥ {TARGET_SPEEDUP:g}× in each of the {len(pairs)} consecutive pairs",
                      f"min {min(pairs):.1f}×", min(pairs) >= TARGET_SPEEDUP)],
        notes=[f"{details['messages']:,} messages (+ the system prompt), "
               f"{details['events']:,} events, {sizes.store_turns:,} turns; "
               f"{per_row:,} rows in all.",
               f"B′ (flushed when the store decides): {paced:.1f}× faster than the baseline."],
    )
