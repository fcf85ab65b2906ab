"""Quick measurement of the session store (not the benchmark suite proper).

Run: ``.venv/bin/python bench/store_flush.py``. Prints, for a temporary workspace:
the time to record and flush one typical turn, recording then flushing 10,000 events,
a flush with retention pruning on a session holding 50,000 events, and
``list_sessions``/``load_session`` on 200 sessions and a 2,000-message session.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from nexus_lsp.config import LoggingSettings
from nexus_lsp.core.events import (
    ContentDelta,
    EventSink,
    MessageAppended,
    SessionEvent,
    ToolCallRecord,
    TurnEnded,
    TurnResult,
    TurnStarted,
)
from nexus_lsp.core.messages import Message, ToolCall, ToolResult
from nexus_lsp.storage import SessionStore


def turn_events(turn: int, index: int) -> list[SessionEvent]:
    call = ToolCall(f"c{turn}", "read_file", {"path": "src/module.py"})
    events: list[SessionEvent] = [TurnStarted(turn, "explain this"),
                            MessageAppended(turn, index, Message.user("explain this"))]
    events += [ContentDelta(turn, "word ") for _ in range(300)]
    events.append(MessageAppended(turn, index + 1, Message.assistant("word " * 300, (call,))))
    result = ToolResult(call.id, call.name, "x = 1\n" * 2000)
    events.append(MessageAppended(turn, index + 2, result.to_message()))
    events += [ContentDelta(turn, "more ") for _ in range(300)]
    events.append(MessageAppended(turn, index + 3, Message.assistant("more " * 300)))
    records = (ToolCallRecord(call, "completed"),)
    events.append(TurnEnded(turn, TurnResult("s", turn, "endTurn", "more", records)))
    return events


def report(label: str, times: list[float]) -> None:
    print(f"{label:<62} {statistics.median(times) * 1000:9.2f} ms (median of {len(times)})")


async def timed(label: str, work: Callable[[], Awaitable[object]], repeat: int = 1) -> None:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await work()
        times.append(time.perf_counter() - start)
    report(label, times)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = LoggingSettings()
        async with await SessionStore.open(root, settings, flush_interval=3600) as store:
            await store.create_session("s", title="bench", model="m", system_prompt="sys")
            sink = store.sink("s")
            state = {"turn": 0, "index": 1}

            async def one_turn() -> None:
                state["turn"] += 1
                for event in turn_events(state["turn"], state["index"]):
                    sink(event)
                state["index"] += 4
                await store.flush()

            await timed("record + flush one turn (607 events, 4 messages)", one_turn, 50)

            await store.create_session("many", title="bench", model="m", system_prompt="sys")
            many = store.sink("many")

            async def record_ten_thousand() -> None:
                for n in range(10_000):
                    many(TurnStarted(n, "p"))  # a row + a context.md and a verbose.md entry

            recording, flushing = [], []
            for _ in range(5):
                start = time.perf_counter()
                await record_ten_thousand()
                recording.append(time.perf_counter() - start)
                start = time.perf_counter()
                await store.flush()
                flushing.append(time.perf_counter() - start)
            report("record 10,000 turnStarted events (row + 2 file appends each)", recording)
            report("flush those 10,000 events (one transaction)", flushing)

            await timed("flush 1 event, session holding 50,000 events (pruning)",
                        lambda: _one_event(store, many), 20)

            for n in range(200):
                await store.create_session(f"x{n}", title="t", model="m", system_prompt="p")
            await timed("list_sessions (203 sessions)", store.list_sessions, 20)
            for _ in range(500 - state["turn"]):
                await one_turn()
            await timed("load_session (2,000 messages)", lambda: store.load_session("s"), 10)


async def _one_event(store: SessionStore, sink: EventSink) -> None:
    sink(TurnStarted(0, "p"))
    await store.flush()


if __name__ == "__main__":
    asyncio.run(main())
