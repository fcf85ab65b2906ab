"""The turn loop: modes, stop reasons, events, busy sessions, callbacks and sinks."""

from __future__ import annotations

import asyncio
import logging

import pytest

from nexus_lsp.core.events import (
    BatchEnded,
    BatchStarted,
    ContentDelta,
    MessageAppended,
    ReasoningChanged,
    ToolCallRequested,
    ToolCallStatus,
    TurnEnded,
    TurnStarted,
)
from nexus_lsp.core.messages import ToolCall, Usage
from nexus_lsp.errors import (
    ProviderAuthError,
    ProviderRateLimitedError,
    SessionBusy,
    ToolsUnavailable,
)
from nexus_lsp.testing.fake_provider import FakeAnswer

from .conftest import SessionFactory, assert_valid_history


def read(call_id: str, path: str = "a.txt") -> ToolCall:
    return ToolCall(call_id, "read_file", {"path": path})


async def test_a_plain_answer_streams_and_ends_the_turn(make_session: SessionFactory) -> None:
    session, provider, events = make_session(
        FakeAnswer(text=["Hel", "lo"], usage=Usage(10, 2)), tools=False
    )
    result = await session.send("hi")
    assert (result.stop_reason, result.content, result.turn_id) == ("endTurn", "Hello", 1)
    assert result.usage == Usage(10, 2)
    assert [e.text for e in events if isinstance(e, ContentDelta)] == ["Hel", "lo"]
    assert isinstance(events[0], TurnStarted) and isinstance(events[-1], TurnEnded)
    assert [m.role for m in session.history] == ["system", "user", "assistant"]
    assert provider.tools_seen == [[]]


async def test_the_tool_loop_runs_tools_and_feeds_results_back(
    make_session: SessionFactory,
) -> None:
    session, provider, events = make_session(
        FakeAnswer(text=["Reading."], tool_calls=[read("c1")]),
        FakeAnswer(text=["It says alpha."]),
    )
    result = await session.send("what is in a.txt?")
    assert result.stop_reason == "endTurn"
    assert result.content == "It says alpha."
    assert [(r.call.id, r.status) for r in result.tool_calls] == [("c1", "completed")]
    second_request = provider.requests[1]
    assert second_request[-1].role == "tool"
    assert "alpha\nbeta" in second_request[-1].content
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("ToolCallRequested") < kinds.index("BatchStarted") < kinds.index(
        "BatchEnded"
    )
    statuses = [e.status for e in events if isinstance(e, ToolCallStatus)]
    assert statuses == ["running", "completed"]
    appended = [e.index for e in events if isinstance(e, MessageAppended)]
    assert appended == [1, 2, 3, 4]  # user, assistant, tool, assistant
    assert_valid_history(session.history)


async def test_reasoning_is_reported_as_started_deltas_and_ended(
    make_session: SessionFactory,
) -> None:
    session, _, events = make_session(
        FakeAnswer(reasoning=["think", "ing"], text=["ok"]), tools=False
    )
    calls: list[bool] = []
    session.callbacks.on_reasoning = calls.append
    await session.send("hi")
    reasoning = [(e.active, e.text) for e in events if isinstance(e, ReasoningChanged)]
    assert reasoning == [(True, None), (True, "think"), (True, "ing"), (False, None)]
    assert calls == [True, False]


async def test_max_iterations_is_a_setting_not_a_constant(make_session: SessionFactory) -> None:
    answers = [FakeAnswer(tool_calls=[read(f"c{i}")]) for i in range(5)]
    session, provider, _ = make_session(*answers, max_iterations=3)
    result = await session.send("loop forever")
    assert result.stop_reason == "maxIterations"
    assert len(provider.requests) == 3
    assert_valid_history(session.history)


async def test_a_stream_without_completion_ends_the_turn_with_an_error(
    make_session: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    session, _, _ = make_session(FakeAnswer(text=["par", "tial"], incomplete=True), tools=False)
    with caplog.at_level(logging.ERROR):
        result = await session.send("hi")
    assert result.stop_reason == "error"
    assert result.error is not None and result.error.code == "providerProtocol"
    assert "ended without completing" in caplog.text
    assert session.history[-1].content == "partial"


@pytest.mark.parametrize(
    ("error", "code"),
    [(ProviderAuthError("bad key", status=401), "providerAuth"),
     (ProviderRateLimitedError("slow down"), "providerRateLimited")],
)
async def test_provider_errors_become_error_stop_reasons(
    make_session: SessionFactory, error: Exception, code: str
) -> None:
    session, _, events = make_session(FakeAnswer(error=error), tools=False)  # type: ignore[arg-type]
    result = await session.send("hi")
    assert result.stop_reason == "error"
    assert result.error is not None and result.error.code == code
    assert isinstance(events[-1], TurnEnded)


async def test_a_second_send_while_a_turn_runs_fails_at_once(
    make_session: SessionFactory,
) -> None:
    session, provider, _ = make_session(FakeAnswer(stall=True), FakeAnswer(text=["ok"]))
    first = asyncio.create_task(session.send("one"))
    await provider.stalled.wait()
    with pytest.raises(SessionBusy):
        await session.send("two")
    session.cancel()
    assert (await first).stop_reason == "cancelled"
    assert (await session.send("three")).stop_reason == "endTurn"


async def test_use_tools_without_a_registry_fails_at_once(make_session: SessionFactory) -> None:
    session, provider, _ = make_session(FakeAnswer(text=["x"]), tools=False)
    with pytest.raises(ToolsUnavailable):
        await session.send("hi", use_tools=True)
    assert provider.requests == []
    assert not session.running


async def test_single_turn_mode_keeps_no_history(make_session: SessionFactory) -> None:
    session, provider, events = make_session(
        FakeAnswer(text=["one"]), FakeAnswer(text=["two"]), tools=False
    )
    await session.send("first", use_context=False)
    await session.send("second", use_context=False)
    assert [m.content for m in provider.requests[1]] == ["sys", "second"]
    assert len(session.history) == 1
    assert not any(isinstance(e, MessageAppended) for e in events)


async def test_multi_turn_without_tools_offers_none(make_session: SessionFactory) -> None:
    session, provider, _ = make_session(FakeAnswer(text=["a"]), FakeAnswer(text=["b"]))
    await session.send("first", use_tools=False)
    await session.send("second", use_tools=False)
    assert provider.tools_seen == [[], []]
    assert [m.content for m in provider.requests[1]] == ["sys", "first", "a", "second"]


async def test_raising_callbacks_and_sinks_never_break_the_turn(
    make_session: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    session, _, _ = make_session(
        FakeAnswer(reasoning=["r"], text=["t"], tool_calls=[read("c1")]), FakeAnswer(text=["done"])
    )

    def boom(*_: object) -> None:
        raise RuntimeError("callback bug")

    async def async_boom(_: object) -> None:
        raise RuntimeError("sink bug")

    cb = session.callbacks
    cb.on_tool_call = cb.on_tool_active = cb.on_batch_progress = boom
    cb.on_reasoning = cb.on_batch_start = cb.on_batch_halt = cb.on_batch_complete = boom
    session.add_sink(boom)
    session.add_sink(async_boom)
    with caplog.at_level(logging.ERROR):
        result = await session.send("go")
    assert result.stop_reason == "endTurn" and result.content == "done"
    assert "callback bug" in caplog.text and "sink bug" in caplog.text


async def test_callbacks_can_be_replaced_after_construction(
    make_session: SessionFactory,
) -> None:
    session, _, _ = make_session(
        FakeAnswer(tool_calls=[
            read("c1"),
            ToolCall("c2", "edit_file", {"path": "nope", "oldText": "a", "newText": "b"}),
        ]),
        FakeAnswer(text=["done"]),
    )
    seen: list[tuple[str, ...]] = []
    session.callbacks.on_tool_call = lambda name, cid: seen.append(("call", name, cid))
    session.callbacks.on_batch_start = lambda calls: seen.append(("start", str(len(calls))))
    session.callbacks.on_tool_active = lambda name, cid: seen.append(("active", cid))
    session.callbacks.on_batch_progress = lambda n, cid, ok, err: seen.append(
        ("progress", cid, str(ok), str(err))
    )
    session.callbacks.on_batch_halt = lambda: seen.append(("halt",))
    session.callbacks.on_batch_complete = lambda: seen.append(("complete",))
    with pytest.warns(DeprecationWarning):
        session.callbacks.on_tool_complete = lambda n, cid, ok, err: seen.append(("legacy", cid))
    await session.send("go")
    # A write makes the batch sequential; edit_file on 'nope' fails and halts it.
    assert seen[:4] == [("call", "read_file", "c1"), ("call", "edit_file", "c2"),
                        ("start", "2"), ("active", "c1")]
    assert ("progress", "c1", "True", "None") in seen
    failed = [s for s in seen if s[0] == "progress" and s[1] == "c2"][0]
    assert failed[2] == "False" and "no such file" in failed[3]
    assert ("legacy", "c2") in seen
    assert seen[-2:] == [("halt",), ("complete",)]


async def test_events_follow_the_documented_order(make_session: SessionFactory) -> None:
    session, _, events = make_session(
        FakeAnswer(text=["x"], tool_calls=[read("c1")]), FakeAnswer(text=["y"])
    )
    await session.send("go")
    kinds = [e.type for e in events]
    assert kinds == [
        "turnStarted", "messageAppended", "content", "messageAppended", "usage", "toolCall",
        "batchStarted", "toolCallUpdate", "toolCallUpdate", "batchProgress", "batchEnded",
        "messageAppended", "content", "messageAppended", "usage", "turnEnded",
    ]
    assert isinstance(events[5], ToolCallRequested)
    assert events[5].call.arguments == {"path": "a.txt"}
    assert isinstance(events[6], BatchStarted) and isinstance(events[10], BatchEnded)


def test_repr_says_what_a_session_is(make_session: SessionFactory) -> None:
    session, _, _ = make_session(tools=False)
    assert session.id in repr(session) and "idle" in repr(session)
