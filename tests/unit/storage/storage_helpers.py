"""Helpers for the store tests: turns built by hand as session events, history checks.

Also imported by ``crash_child.py`` (the script the kill -9 test runs), so it only
depends on the package, not on pytest.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nexus_lsp.core.events import (
    BatchEnded,
    BatchProgress,
    BatchStarted,
    ContentDelta,
    MessageAppended,
    ReasoningChanged,
    SessionEvent,
    ToolCallRecord,
    ToolCallRequested,
    ToolCallStatus,
    TurnEnded,
    TurnResult,
    TurnStarted,
)
from nexus_lsp.core.messages import Message, ToolCall, ToolResult


def chunks(text: str, size: int = 5) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def model_answer(turn: int, index: int, text: str,
                 calls: Sequence[ToolCall] = ()) -> list[SessionEvent]:
    """One model stream: deltas, requested calls, then the assistant message."""
    events: list[SessionEvent] = [ContentDelta(turn, part) for part in chunks(text)]
    events += [ToolCallRequested(turn, call) for call in calls]
    events.append(MessageAppended(turn, index, Message.assistant(text, tuple(calls))))
    return events


def batch(turn: int, index: int, calls: Sequence[ToolCall],
          outputs: Sequence[str]) -> list[SessionEvent]:
    """A tool batch and its results, which take positions ``index``, ``index + 1``, ..."""
    events: list[SessionEvent] = [BatchStarted(turn, 0, tuple(calls), parallel=False)]
    results = [ToolResult(call.id, call.name, output) for call, output in zip(calls, outputs,
                                                                            strict=True)]
    for done, (call, result) in enumerate(zip(calls, results, strict=True), start=1):
        events.append(ToolCallStatus(turn, call, "running"))
        events.append(ToolCallStatus(turn, call, "completed", output=result.output))
        events.append(BatchProgress(turn, 0, result, done, len(calls)))
    events.append(BatchEnded(turn, 0, "completed"))
    events += [MessageAppended(turn, index + i, r.to_message()) for i, r in enumerate(results)]
    return events


def full_turn(turn: int, index: int, prompt: str, *, answer: str = "done",
              calls: Sequence[ToolCall] = (), outputs: Sequence[str] = (),
              reasoning: str = "") -> tuple[list[SessionEvent], int]:
    """Every event of a finished turn starting at history position ``index``.

    Returns the events and the position the next message takes.
    """
    events: list[SessionEvent] = [TurnStarted(turn, prompt),
                                  MessageAppended(turn, index, Message.user(prompt))]
    index += 1
    if reasoning:
        events.append(ReasoningChanged(turn, True))
        events += [ReasoningChanged(turn, True, part) for part in chunks(reasoning)]
        events.append(ReasoningChanged(turn, False))
    if calls:
        events += model_answer(turn, index, "", calls)
        index += 1
        events += batch(turn, index, calls, outputs or ["ok"] * len(calls))
        index += len(calls)
    events += model_answer(turn, index, answer)
    index += 1
    records = tuple(ToolCallRecord(call, "completed") for call in calls)
    events.append(TurnEnded(turn, TurnResult("s", turn, "endTurn", answer, records)))
    return events, index


def assert_valid_history(messages: Sequence[Message]) -> None:
    """System prompt first; every tool call has exactly one result, right after it."""
    assert messages and messages[0].role == "system"
    i = 1
    while i < len(messages):
        message = messages[i]
        assert message.role != "system", f"a second system message at {i}"
        assert message.role != "tool", f"a tool result without its call at {i}"
        i += 1
        if message.role != "assistant" or not message.tool_calls:
            continue
        wanted = [call.id for call in message.tool_calls]
        got: list[str] = []
        while i < len(messages) and messages[i].role == "tool":
            got.append(messages[i].tool_call_id or "")
            i += 1
        assert sorted(got) == sorted(wanted), f"calls {wanted} answered by {got}"


def query(path: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows from a separate plain sqlite3 connection (what another reader sees)."""
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
        return list(db.execute(sql, tuple(params)).fetchall())


def execute(path: Path, sql: str, params: Sequence[Any] = ()) -> None:
    """One committed statement from a separate connection (e.g. damage done by hand)."""
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db, db:
        db.execute(sql, tuple(params))
