"""Protocol v2 §4 in the session core: usage, compaction, steering, diagnostics."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.events import (
    CompactionEnded,
    CompactionStarted,
    ContentDelta,
    ContextTruncated,
    MessageAppended,
    UsageReported,
)
from nexus_lsp.core.messages import SUMMARY_NAME, Message, ToolCall, Usage
from nexus_lsp.errors import ProviderError
from nexus_lsp.session.compaction import COMPACTION_MARKER
from nexus_lsp.session.context import estimate_tokens
from nexus_lsp.session.diagnostics import DIAGNOSTICS_HEADING, DiagnosticsWatch
from nexus_lsp.testing import script as scripted
from nexus_lsp.testing.fake_provider import FakeAnswer

from .conftest import SessionFactory, WaitSkill, assert_valid_history


def old_history(exchanges: int, size: int = 400) -> list[Message]:
    out: list[Message] = []
    for n in range(exchanges):
        out += [Message.user(f"request {n}: " + "u" * size), Message.assistant("a" * size)]
    return out


def test_the_marker_is_spelt_alike_in_the_scripted_server() -> None:
    assert scripted.COMPACTION_MARKER == COMPACTION_MARKER


async def test_usage_after_every_model_call_reported_or_estimated(
    make_session: SessionFactory,
) -> None:
    session, _, events = make_session(
        FakeAnswer(text=["x"], tool_calls=[ToolCall("c1", "read_file", {"path": "a.txt"})],
                   usage=Usage(120, 40)),
        FakeAnswer(text=["done"]),
        context_tokens=5_000,
    )
    await session.send("go")
    usage = [e for e in events if isinstance(e, UsageReported)]
    assert len(usage) == 2
    assert (usage[0].used_tokens, usage[0].input_tokens, usage[0].output_tokens) == (120, 120, 40)
    assert not usage[0].estimated and usage[0].context_tokens == 5_000
    assert usage[1].estimated and usage[1].used_tokens > 0


async def test_compaction_summarises_the_oldest_exchanges_before_the_model_call(
    make_session: SessionFactory,
) -> None:
    session, provider, events = make_session(
        FakeAnswer(text=["the summary"]), FakeAnswer(text=["answer"]),
        context_tokens=1_000, compact_at=0.5, keep_recent_exchanges=1,
    )
    for message in old_history(4):
        session.context.append(message)
    result = await session.send("now this")
    assert result.stop_reason == "endTurn"
    summary_request, request = provider.requests
    assert summary_request[0].content.startswith(COMPACTION_MARKER)
    assert "request 0" in summary_request[1].content
    # the system prompt unchanged, the summary, then only the recent exchange
    assert request[0] == Message.system("sys")
    assert request[1].role == "user" and "the summary" in request[1].content
    assert "now this" in request[1].content  # merged with the prompt that follows
    assert not any("request 0" in m.content for m in request)
    kinds = [type(e) for e in events]
    start = kinds.index(CompactionStarted)
    assert kinds[start + 1: start + 4] == [MessageAppended, ContextTruncated, CompactionEnded]
    end = next(e for e in events if isinstance(e, CompactionEnded))
    assert end.summary == "the summary" and end.fallback is None
    assert end.tokens_after < end.tokens_before
    marker = session.history[10]  # appended after the prompt in flight
    assert marker.role == "system" and marker.name == SUMMARY_NAME
    assert end.indexes == tuple(range(1, 9))
    assert len(session.history) == 1 + 8 + 1 + 1 + 1  # originals kept
    assert_valid_history(session.context.request_messages())


async def test_a_failed_summary_falls_back_to_truncation_and_says_so(
    make_session: SessionFactory,
) -> None:
    session, provider, events = make_session(
        FakeAnswer(error=ProviderError("boom")), FakeAnswer(text=["answer"]),
        context_tokens=1_000, compact_at=0.5, keep_recent_exchanges=1,
    )
    for message in old_history(4):
        session.context.append(message)
    result = await session.send("now")
    assert result.stop_reason == "endTurn"
    end = next(e for e in events if isinstance(e, CompactionEnded))
    assert end.summary is None and end.fallback is not None and "truncated" in end.fallback
    assert not any(m.name == SUMMARY_NAME for m in session.history)
    assert_valid_history(provider.requests[-1])


async def test_compaction_cancelled_mid_summary_truncates_and_ends_the_turn_cleanly(
    make_session: SessionFactory,
) -> None:
    session, provider, events = make_session(
        FakeAnswer(stall=True), FakeAnswer(text=["summary 2"]), FakeAnswer(text=["next"]),
        context_tokens=1_000, compact_at=0.5, keep_recent_exchanges=1,
    )
    for message in old_history(4):
        session.context.append(message)
    token = CancellationToken()
    turn = asyncio.ensure_future(session.send("now", cancel_token=token))
    await provider.stalled.wait()
    token.cancel("user")
    result = await turn
    assert result.stop_reason == "cancelled"
    end = next(e for e in events if isinstance(e, CompactionEnded))
    assert end.summary is None and end.fallback and "cancelled" in end.fallback
    assert session.context.out_of_context  # truncated instead
    assert (await session.send("again")).content == "next"
    assert_valid_history(provider.requests[-1])


async def test_forced_compaction_between_turns(make_session: SessionFactory) -> None:
    session, provider, events = make_session(
        FakeAnswer(text=["short summary"]), keep_recent_exchanges=1,
    )
    for message in old_history(3, size=20):
        session.context.append(message)
    outcome = await session.compact()
    assert outcome.summary == "short summary"
    assert session.context.summary_in_force() == "short summary"
    assert [type(e) for e in events][0] is CompactionStarted


async def test_a_steered_prompt_joins_the_running_turn_before_its_next_model_call(
    make_session: SessionFactory, wait_skill: WaitSkill
) -> None:
    session, provider, _ = make_session(
        FakeAnswer(tool_calls=[ToolCall("w1", "wait", {"name": "one"})]),
        FakeAnswer(text=["done"]),
    )
    turn = asyncio.ensure_future(session.send("start"))
    await wait_skill.all_started.wait()
    assert session.steer("also check b.txt") == 1
    wait_skill.release.set()
    result = await turn
    assert result.stop_reason == "endTurn" and result.turn_id == 1
    second = provider.requests[1]
    assert second[-1] == Message.user("also check b.txt")
    assert second[-2].role == "tool"
    assert session.steer("late") is None  # no turn runs: the caller queues it


async def test_a_steer_arriving_during_the_last_answer_extends_the_turn(
    make_session: SessionFactory,
) -> None:
    session, provider, _ = make_session(
        FakeAnswer(text=["a", "b"], delay=0.05), FakeAnswer(text=["ok"]),
    )
    streaming = asyncio.Event()
    session.add_sink(lambda e: streaming.set() if isinstance(e, ContentDelta) else None)
    turn = asyncio.ensure_future(session.send("start"))
    await streaming.wait()
    assert session.steer("and then this") == 1
    result = await turn
    assert result.content == "ok"
    assert provider.requests[1][-1] == Message.user("and then this")


class Source:
    """Diagnostics as an editor would give them, from a dict the test changes."""

    def __init__(self) -> None:
        self.by_path: dict[str, list[dict[str, Any]]] = {}
        self.asked: list[list[str]] = []

    async def diagnostics(self, paths: Sequence[str]) -> dict[str, list[Mapping[str, Any]]]:
        self.asked.append(list(paths))
        return {p: list(self.by_path.get(p, [])) for p in paths}


def diag(line: int, message: str, severity: int = 1) -> dict[str, Any]:
    return {"range": {"start": {"line": line, "character": 0},
                      "end": {"line": line, "character": 1}},
            "severity": severity, "message": message, "source": "lint"}


async def test_new_diagnostics_after_an_edit_reach_the_model_and_old_ones_do_not(
    make_session: SessionFactory, workspace: Any
) -> None:
    source = Source()
    source.by_path["a.txt"] = [diag(0, "old warning", 2)]
    edit = ToolCall("e1", "edit_file", {"path": "a.txt", "oldText": "beta", "newText": "BETA"})
    session, provider, _ = make_session(FakeAnswer(tool_calls=[edit]), FakeAnswer(text=["ok"]))
    registry = session.registry
    assert registry is not None

    original = source.diagnostics

    async def after_edit(paths: Sequence[str]) -> dict[str, list[Mapping[str, Any]]]:
        if "BETA" in (Path(workspace.root) / "a.txt").read_text():
            source.by_path["a.txt"] = [diag(3, "old warning", 2), diag(1, "syntax error")]
        return await original(paths)

    source.diagnostics = after_edit  # type: ignore[method-assign]
    session.diagnostics = DiagnosticsWatch(
        source, delay_ms=lambda: 500, is_read_only=registry.is_read_only,
        normalise=lambda p: p,
    )
    await session.send("edit it")
    tool_message = provider.requests[1][-1]
    assert tool_message.role == "tool"
    assert DIAGNOSTICS_HEADING in tool_message.content
    assert "a.txt:2:1: error: syntax error [lint]" in tool_message.content
    assert "old warning" not in tool_message.content
    assert source.asked[0] == ["a.txt"]  # asked before the batch too


async def test_reported_usage_counts_from_where_the_history_was_not_from_the_request_size(
    make_session: SessionFactory,
) -> None:
    """After truncation the request is shorter than the history: the provider's count
    covers the history up to the request, not the first len(request) messages."""
    history = old_history(10, size=40)
    session, _, _ = make_session(FakeAnswer(text=["fine"], usage=Usage(100, 5)))
    for message in history:
        session.context.append(message)
    session.context.exclude(range(1, 17))  # the first 8 exchanges out of context
    await session.send("next")
    answer = session.history[-1]
    assert session.context.tokens_in_context() == 100 + estimate_tokens(answer)


async def test_a_steer_the_turn_ends_without_is_left_over_for_the_next_turn(
    make_session: SessionFactory, wait_skill: WaitSkill
) -> None:
    session, _, _ = make_session(FakeAnswer(tool_calls=[ToolCall("w1", "wait", {"name": "x"})]))
    token = CancellationToken()
    turn = asyncio.ensure_future(session.send("start", cancel_token=token))
    await wait_skill.all_started.wait()
    assert session.steer("then this") == 1
    token.cancel("user")
    assert (await turn).stop_reason == "cancelled"
    assert session.take_leftover() == ["then this"] and session.take_leftover() == []
