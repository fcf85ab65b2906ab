"""Session events → nexus/session/update and $/progress (TurnReporter, fake channel)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.events import (
    BatchEnded,
    BatchProgress,
    BatchStarted,
    ContentDelta,
    MessageAppended,
    ReasoningChanged,
    SessionEvent,
    ToolCallRequested,
    ToolCallStatus,
    ToolOutput,
    TurnEnded,
    TurnResult,
    TurnStarted,
)
from nexus_lsp.core.messages import Message, ToolCall, ToolResult, Usage
from nexus_lsp.lsp import updates
from nexus_lsp.lsp.updates import SeqCounter, TurnReporter


class FakeChannel:
    def __init__(self, progress: bool = True, fail_create: bool = False) -> None:
        self.progress_supported = progress
        self.fail_create = fail_create
        self.updates: list[dict[str, Any]] = []
        self.progress: list[tuple[Any, str, dict[str, Any]]] = []
        self.cancel_callbacks: dict[Any, Callable[[], None]] = {}

    def notify_update(self, params: dict[str, Any]) -> None:
        self.updates.append(params)

    async def create_progress(self, token: Any) -> None:
        if self.fail_create:
            raise RuntimeError("client refused")
        self.progress.append((token, "create", {}))

    def begin_progress(self, token: Any, title: str, message: str | None) -> None:
        self.progress.append((token, "begin", {"title": title, "message": message}))

    def report_progress(self, token: Any, message: str, percentage: int) -> None:
        self.progress.append((token, "report", {"message": message, "percentage": percentage}))

    def end_progress(self, token: Any, message: str) -> None:
        self.progress.append((token, "end", {"message": message}))

    def on_progress_cancel(self, token: Any, callback: Callable[[], None]) -> None:
        self.cancel_callbacks[token] = callback

    def kinds(self) -> list[str]:
        return [u["kind"] for u in self.updates]


def reporter(
    channel: FakeChannel,
    seq: SeqCounter | None = None,
    token: CancellationToken | None = None,
    work_done_token: str | None = None,
) -> TurnReporter:
    counter = iter(range(1, 100))
    return TurnReporter(
        channel,
        "s1",
        seq or SeqCounter(),
        token or CancellationToken(),
        new_progress_token=lambda: f"batch-{next(counter)}",
        to_uri=lambda rel: f"file:///w/{rel}",
        work_done_token=work_done_token,
    )


CALL_A = ToolCall("c1", "read_file", {"path": "a.py"})
CALL_B = ToolCall("c2", "edit_file", {"path": "b.py", "oldText": "x", "newText": "y"})


def ended(turn: int, stop: str = "endTurn", usage: Usage | None = None) -> TurnEnded:
    return TurnEnded(turn, TurnResult("s1", turn, stop, "", (), usage))  # type: ignore[arg-type]


async def test_a_turn_in_order_with_seq_and_one_turn_end() -> None:
    channel = FakeChannel()
    sink = reporter(channel)
    events: list[SessionEvent] = [
        TurnStarted(1, "fix it"),
        MessageAppended(1, 1, Message.user("fix it")),
        ReasoningChanged(1, True),
        ReasoningChanged(1, True, "think"),
        ReasoningChanged(1, False),
        ContentDelta(1, "Let me "),
        ContentDelta(1, "look."),
        ToolCallRequested(1, CALL_A),
        BatchStarted(1, 0, (CALL_A,), parallel=True),
        ToolCallStatus(1, CALL_A, "running"),
        ToolCallStatus(1, CALL_A, "completed", output="x = 1", locations=("a.py",)),
        BatchProgress(1, 0, ToolResult("c1", "read_file", "x = 1"), 1, 1),
        BatchEnded(1, 0, "completed"),
        ContentDelta(1, "Done."),
        ended(1, usage=Usage(10, None)),
    ]
    for event in events:
        await sink(event)
    sink.close()
    assert channel.kinds() == [
        "turnStart", "reasoning", "reasoning", "reasoning", "content", "toolCall",
        "toolCallUpdate", "toolCallUpdate", "content", "turnEnd",
    ]
    assert [u["seq"] for u in channel.updates] == list(range(1, 11))
    assert all(u["sessionId"] == "s1" and u["turnId"] == 1 for u in channel.updates)
    assert channel.updates[0]["prompt"] == "fix it"
    assert channel.updates[4]["text"] == "Let me look."
    assert channel.updates[5] == {
        "sessionId": "s1", "turnId": 1, "seq": 6, "kind": "toolCall", "toolCallId": "c1",
        "name": "read_file", "arguments": {"path": "a.py"}, "status": "pending",
    }
    done = channel.updates[7]
    assert done["status"] == "completed" and done["output"] == "x = 1"
    assert done["locations"] == [{"uri": "file:///w/a.py"}]
    assert channel.updates[-1]["stopReason"] == "endTurn"
    assert channel.updates[-1]["usage"] == {"inputTokens": 10}


async def test_seq_continues_across_turns_of_a_session() -> None:
    channel = FakeChannel()
    seq = SeqCounter()
    for turn in (1, 2):
        sink = reporter(channel, seq)
        await sink(TurnStarted(turn, "hi"))
        await sink(ended(turn))
        sink.close()
    assert [u["seq"] for u in channel.updates] == [1, 2, 3, 4]
    assert [u["turnId"] for u in channel.updates] == [1, 1, 2, 2]


async def test_content_deltas_coalesce_and_concatenate_exactly() -> None:
    channel = FakeChannel()
    sink = reporter(channel)
    await sink(TurnStarted(1, "p"))
    pieces = ["é", "😀", " ", "", "line\n", "\r\n", "end"] * 50
    for piece in pieces:
        await sink(ContentDelta(1, piece))
    await sink(ended(1))
    texts = [u["text"] for u in channel.updates if u["kind"] == "content"]
    assert "".join(texts) == "".join(pieces)
    assert len(texts) < len(pieces)


async def test_the_first_delta_goes_out_at_once_and_the_next_ones_coalesce(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(updates, "_clock", lambda: 100.0)  # all within one window
    channel = FakeChannel()
    sink = reporter(channel)
    await sink(TurnStarted(1, "p"))
    await sink(ContentDelta(1, "Hel"))
    assert channel.updates[-1]["text"] == "Hel"  # no wait for the window
    await sink(ContentDelta(1, "lo, "))
    await sink(ContentDelta(1, "world"))
    assert len(channel.updates) == 2  # held: within the window of the first
    await sink(ended(1))
    assert [u.get("text") for u in channel.updates[1:]] == ["Hel", "lo, world", None]


async def test_pending_content_is_sent_after_the_coalescing_delay() -> None:
    channel = FakeChannel()
    sink = reporter(channel)
    await sink(TurnStarted(1, "p"))
    await sink(ContentDelta(1, "hello"))
    for _ in range(200):  # the timer flushes without another event
        if len(channel.updates) == 2:
            break
        await asyncio.sleep(0.005)
    assert channel.updates[-1]["text"] == "hello"


async def test_a_turn_without_turn_ended_gets_a_synthetic_error_end() -> None:
    channel = FakeChannel()
    sink = reporter(channel)
    await sink(TurnStarted(3, "p"))
    await sink(ContentDelta(3, "partial"))
    sink.close()
    sink.close()
    assert channel.kinds() == ["turnStart", "content", "turnEnd"]
    assert channel.updates[-1]["stopReason"] == "error"


async def test_batch_progress_begin_report_end() -> None:
    channel = FakeChannel()
    sink = reporter(channel)
    await sink(TurnStarted(1, "p"))
    await sink(BatchStarted(1, 0, (CALL_A, CALL_B), parallel=False))
    await sink(BatchProgress(1, 0, ToolResult("c1", "read_file", "ok"), 1, 2))
    failed = ToolResult("c2", "edit_file", error="edit_file: failed: no", status="failed")
    await sink(BatchProgress(1, 0, failed, 2, 2))
    await sink(BatchEnded(1, 0, "halted", halted_at="edit_file"))
    steps = [(kind, value) for _token, kind, value in channel.progress]
    assert [k for k, _ in steps] == ["create", "begin", "report", "report", "end"]
    assert {t for t, _k, _v in channel.progress} == {"batch-1"}
    begin = steps[1][1]
    assert "batch 1" in begin["title"] and "2 tools" in begin["title"]
    assert begin["message"] == "read_file, edit_file"
    assert steps[2][1] == {"message": "read_file: completed (1/2)", "percentage": 50}
    assert steps[3][1] == {"message": "edit_file: failed (2/2)", "percentage": 100}
    assert steps[4][1] == {"message": "halted at edit_file"}


async def test_progress_cancel_cancels_the_turn() -> None:
    channel = FakeChannel()
    token = CancellationToken()
    sink = reporter(channel, token=token)
    await sink(TurnStarted(1, "p"))
    await sink(BatchStarted(1, 0, (CALL_A,), parallel=True))
    channel.cancel_callbacks["batch-1"]()
    assert token.cancelled
    await sink(BatchEnded(1, 0, "cancelled"))
    assert channel.progress[-1][1:] == ("end", {"message": "cancelled"})


async def test_no_batch_progress_without_client_support_or_when_create_fails() -> None:
    for channel in (FakeChannel(progress=False), FakeChannel(fail_create=True)):
        sink = reporter(channel)
        await sink(TurnStarted(1, "p"))
        await sink(BatchStarted(1, 0, (CALL_A,), parallel=True))
        await sink(BatchProgress(1, 0, ToolResult("c1", "read_file", "ok"), 1, 1))
        await sink(BatchEnded(1, 0, "completed"))
        await sink(ended(1))
        assert channel.progress == []
        assert channel.kinds() == ["turnStart", "turnEnd"]


async def test_close_ends_a_batch_left_open() -> None:
    channel = FakeChannel()
    sink = reporter(channel)
    await sink(TurnStarted(1, "p"))
    await sink(BatchStarted(1, 0, (CALL_A,), parallel=True))
    sink.close()
    assert channel.progress[-1][1:] == ("end", {"message": "cancelled"})


async def test_work_done_token_reports_the_whole_turn() -> None:
    channel = FakeChannel(progress=False)
    token = CancellationToken()
    sink = reporter(channel, token=token, work_done_token="client-token")
    await sink(TurnStarted(1, "explain   this\nplease"))
    await sink(ended(1, stop="cancelled"))
    assert [(t, k) for t, k, _ in channel.progress] == [
        ("client-token", "begin"), ("client-token", "end"),
    ]
    assert channel.progress[0][2]["message"] == "explain this please"
    assert channel.progress[1][2] == {"message": "cancelled"}
    channel.cancel_callbacks["client-token"]()
    assert token.cancelled


@pytest.mark.parametrize("usage", [None, Usage(None, None)])
async def test_turn_end_without_usage_has_no_usage_key(usage: Usage | None) -> None:
    channel = FakeChannel()
    sink = reporter(channel)
    await sink(TurnStarted(1, "p"))
    await sink(ended(1, usage=usage))
    assert "usage" not in channel.updates[-1]


async def test_before_batch_runs_before_the_batch_is_reported() -> None:
    channel = FakeChannel()
    order: list[str] = []

    async def flush() -> None:
        order.append(f"flush after {len(channel.progress)} progress steps")

    counter = iter(range(1, 9))
    sink = TurnReporter(
        channel, "s1", SeqCounter(), CancellationToken(),
        new_progress_token=lambda: f"b{next(counter)}", to_uri=str, before_batch=flush,
    )
    await sink(TurnStarted(1, "p"))
    await sink(BatchStarted(1, 0, (CALL_A,), parallel=True))
    assert order == ["flush after 0 progress steps"]
    assert [k for _t, k, _v in channel.progress] == ["create", "begin"]


RUN = ToolCall("c9", "run_command", {"command": "make"})


async def test_tool_output_coalesces_per_call_and_the_final_update_has_the_details(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(updates, "_clock", lambda: 100.0)  # all within one window
    channel = FakeChannel()
    sink = reporter(channel)
    await sink(TurnStarted(1, "p"))
    await sink(ToolCallRequested(1, RUN, "execute"))
    await sink(ToolCallStatus(1, RUN, "running"))
    pieces = [f"line {n}\n" for n in range(200)]
    for piece in pieces:
        await sink(ToolOutput(1, RUN, piece))
    details = {"exitCode": 2, "signal": None, "durationMs": 7, "truncated": False}
    await sink(ToolCallStatus(1, RUN, "completed", output="$ make", details=details))
    await sink(ended(1))
    (call,) = [u for u in channel.updates if u["kind"] == "toolCall"]
    assert call["toolKind"] == "execute"
    chunks = [u for u in channel.updates if u["kind"] == "toolCallUpdate" and "output" in u
              and u["status"] == "running"]
    assert "".join(u["output"] for u in chunks) == "".join(pieces)
    assert len(chunks) == 2  # the first at once, the rest held within the window
    assert all(u["toolCallId"] == "c9" and u["name"] == "run_command" for u in chunks)
    final = channel.updates[-2]
    assert final["status"] == "completed" and final["exitCode"] == 2
    assert final["durationMs"] == 7 and final["signal"] is None


async def test_tool_call_without_a_kind_has_no_tool_kind() -> None:
    channel = FakeChannel()
    sink = reporter(channel)
    await sink(TurnStarted(1, "p"))
    await sink(ToolCallRequested(1, ToolCall("c1", "nope", {})))
    assert "toolKind" not in channel.updates[-1]
