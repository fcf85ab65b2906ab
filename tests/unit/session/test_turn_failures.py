"""No failure poisons a session: an unexpected exception ends the turn with stop
reason ``error`` and a valid history, and the next turn works. Answers cut by an
error are marked ``interrupted``, not ``cancelled``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.events import TurnEnded
from nexus_lsp.core.messages import Message, ToolCall, ToolDefinition
from nexus_lsp.core.stream import StreamEvent, TextDelta
from nexus_lsp.errors import ProviderUnavailableError
from nexus_lsp.testing.fake_provider import FakeAnswer, FakeProvider

from .conftest import SessionFactory, assert_valid_history


def explode_once(provider: FakeProvider, exc: Exception, *, text: str = "") -> None:
    """The provider's next stream sends ``text`` then raises ``exc`` (not a ProviderError)."""
    real = provider.stream
    armed = [True]

    async def stream(
        messages: Sequence[Message], tools: Sequence[ToolDefinition], token: CancellationToken
    ) -> AsyncIterator[StreamEvent]:
        if armed:
            armed.clear()
            if text:
                yield TextDelta(text)
            raise exc
        async for event in real(messages, tools, token):
            yield event

    provider.stream = stream  # type: ignore[method-assign]


async def test_an_unexpected_failure_in_the_stream_ends_the_turn_not_the_session(
    make_session: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    session, provider, events = make_session(FakeAnswer(text=["works"]), tools=False)
    surrogate = UnicodeEncodeError("utf-8", "caf\udce9", 3, 4, "surrogates not allowed")
    explode_once(provider, surrogate, text="part")
    result = await session.send("first")
    assert result.stop_reason == "error"
    assert result.error is not None and result.error.code == "internal"
    assert result.error.message.startswith("the turn failed: UnicodeEncodeError: ")
    assert isinstance(events[-1], TurnEnded) and events[-1].result == result
    assert "failed unexpectedly" in caplog.text
    assert session.history[-1] == Message(role="assistant", content="part", interrupted=True)
    assert not session.running
    second = await session.send("second")
    assert second.stop_reason == "endTurn" and second.content == "works"
    assert [m.content for m in provider.requests[-1]] == ["sys", "first", "part", "second"]


async def test_an_unexpected_failure_while_tools_run_answers_every_call(
    make_session: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = (ToolCall("r1", "read_file", {"path": "a.txt"}),
             ToolCall("r2", "read_file", {"path": "a.txt"}))
    session, provider, _ = make_session(
        FakeAnswer(tool_calls=calls), FakeAnswer(text=["after"])
    )
    assert session.registry is not None

    async def broken_run(call: ToolCall, token: CancellationToken, report: Any) -> Any:
        raise RuntimeError("registry bug")

    monkeypatch.setattr(session.registry, "run", broken_run)
    result = await session.send("read")
    assert result.stop_reason == "error"
    assert result.error is not None
    assert result.error.message == "the turn failed: RuntimeError: registry bug"
    assert [(r.call.id, r.status) for r in result.tool_calls] == [
        ("r1", "cancelled"), ("r2", "cancelled")]
    assert_valid_history(session.history)
    assert session.history[-1].content == (
        "read_file: interrupted: the turn failed before this tool call finished")
    monkeypatch.undo()
    second = await session.send("again")
    assert second.stop_reason == "endTurn" and second.content == "after"


async def test_an_answer_cut_by_a_provider_error_is_interrupted_not_cancelled(
    make_session: SessionFactory,
) -> None:
    session, _, _ = make_session(
        FakeAnswer(text=["half an", " answer"], error=ProviderUnavailableError("gone")),
        FakeAnswer(text=["par"], incomplete=True),
        tools=False,
    )
    result = await session.send("one")
    assert result.stop_reason == "error"
    cut = session.history[-1]
    assert (cut.content, cut.interrupted, cut.cancelled) == ("half an answer", True, False)
    await session.send("two")
    cut = session.history[-1]
    assert (cut.content, cut.interrupted, cut.cancelled) == ("par", True, False)


async def test_an_answer_cut_by_a_cancel_stays_cancelled(make_session: SessionFactory) -> None:
    session, _, _ = make_session(FakeAnswer(text=["so far"], stall=True), tools=False)
    token = CancellationToken()
    token.cancel("stop")
    result = await session.send("one", cancel_token=token)
    assert result.stop_reason == "cancelled"
    cut = session.history[-1]
    assert (cut.role, cut.interrupted, cut.cancelled) == ("assistant", False, True)
