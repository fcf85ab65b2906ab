"""Writes turns through a SessionStore until killed (run by test_store_crash.py).

Usage, from the repository root:
``python -m tests.unit.storage.crash_child <workspace> <session id> <seed>``.
Resumes the session when it exists (so every run also exercises load + repair),
then loops over turns with tool calls and large outputs. After each flush it
prints ``flushed N``: every message at a position below N is committed.
``flushed N open`` means tool calls are waiting for their results (the tools
"run" for a moment before they arrive).
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from nexus_lsp.config import LoggingSettings
from nexus_lsp.core.events import (
    ContentDelta,
    MessageAppended,
    ToolCallRecord,
    TurnEnded,
    TurnResult,
    TurnStarted,
)
from nexus_lsp.core.messages import Message, ToolCall
from nexus_lsp.errors import UnknownSession
from nexus_lsp.storage import SessionStore

from .storage_helpers import batch, chunks, model_answer


def say(index: int, note: str = "") -> None:
    print(f"flushed {index} {note}".rstrip(), flush=True)


async def main(root: Path, session_id: str, seed: int) -> None:
    rng = random.Random(seed)
    store = await SessionStore.open(root, LoggingSettings(), flush_interval=0.005)
    try:
        loaded = await store.load_session(session_id)
        index, turn = len(loaded.messages), loaded.record.turn_count
    except UnknownSession:
        await store.create_session(session_id, title="crash", model="m", system_prompt="sys")
        index, turn = 1, 0
    sink = store.sink(session_id)
    say(index)
    while True:
        turn += 1
        prompt = f"turn {turn} of run {seed}"
        sink(TurnStarted(turn, prompt))
        sink(MessageAppended(turn, index, Message.user(prompt)))
        index += 1
        calls = [ToolCall(f"r{seed}t{turn}c{k}", "read_file", {"path": f"f{k}.txt"})
                 for k in range(rng.randint(1, 3))]
        for event in model_answer(turn, index, "let me look", calls):
            sink(event)
        index += 1
        await store.flush()
        say(index, "open")
        await asyncio.sleep(0.05)  # the tools run
        outputs = [rng.choice("abc") * rng.randint(100, 60_000) for _ in calls]
        for event in batch(turn, index, calls, outputs):
            sink(event)
            await asyncio.sleep(0)
        index += len(calls)
        await store.flush()
        say(index)
        answer = "answer " * rng.randint(10, 5_000)
        for part in chunks(answer, 40):
            sink(ContentDelta(turn, part))
        sink(MessageAppended(turn, index, Message.assistant(answer)))
        index += 1
        records = tuple(ToolCallRecord(call, "completed") for call in calls)
        sink(TurnEnded(turn, TurnResult(session_id, turn, "endTurn", answer, records)))
        await store.flush()
        say(index)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
