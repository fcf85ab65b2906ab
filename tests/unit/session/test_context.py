"""Context: truncation by whole exchanges, and the repair step before every request."""

from __future__ import annotations

from nexus_lsp.core.messages import Message, ToolCall, ToolResult, Usage
from nexus_lsp.session.context import Context, repair

from .conftest import assert_valid_history


def exchange(n: int, size: int) -> list[Message]:
    call = ToolCall(f"c{n}", "read_file", {"path": "a"})
    return [
        Message.user(f"question {n} " + "x" * size),
        Message.assistant("looking", (call,)),
        ToolResult(call.id, call.name, output="y" * size).to_message(),
        Message.assistant(f"answer {n}"),
    ]


def test_truncation_drops_whole_exchanges_oldest_first() -> None:
    history = [m for n in range(6) for m in exchange(n, 400)]
    context = Context("sys", budget_tokens=1_000, history=history)
    dropped = context.truncate()
    assert dropped, "over budget: something must go"
    assert dropped == tuple(range(1, 1 + len(dropped)))  # oldest first, contiguous
    assert len(dropped) % 4 == 0  # whole exchanges: a call is never parted from its result
    request = context.request_messages()
    assert request[0].content == "sys" and request[1].role == "user"
    assert request[-1].content == "answer 5"  # the latest exchange always stays
    assert_valid_history(request)
    assert context.out_of_context == frozenset(dropped)


def test_the_latest_exchange_stays_even_when_alone_over_budget() -> None:
    context = Context("sys", budget_tokens=1_000, history=exchange(0, 10_000))
    assert context.truncate() == ()
    assert len(context.request_messages()) == 5


def test_reported_usage_replaces_the_estimate_until_truncation() -> None:
    context = Context("sys", budget_tokens=100_000, history=[Message.user("hello")])
    context.record_usage(Usage(input_tokens=5_000), message_count=2)
    context.append(Message.assistant("x" * 400))
    assert 5_000 < context.tokens_in_context() < 5_200


def test_a_resumed_context_keeps_out_of_context_rows_out() -> None:
    history = exchange(0, 10) + exchange(1, 10)
    context = Context("sys", budget_tokens=100_000, history=history, out_of_context=[1, 2, 3, 4])
    assert [m.content for m in context.request_messages()][1] == "question 1 " + "x" * 10
    assert len(context.messages) == 9


def test_repair_answers_calls_without_results_and_drops_orphans() -> None:
    c1, c2 = ToolCall("c1", "read_file", {}), ToolCall("c2", "edit_file", {})
    messages = [
        Message.system("s"),
        ToolResult("ghost", "x", output="orphan").to_message(),
        Message.user("u"),
        Message.assistant("", (c1, c2)),
        ToolResult("c2", "edit_file", output="two").to_message(),  # out of order
        ToolResult("c2", "edit_file", output="dup").to_message(),  # duplicate
        ToolResult("zz", "x", output="unknown").to_message(),  # no such call
        Message.user("next"),
    ]
    fixed, problems = repair(messages)
    assert [(m.role, m.tool_call_id) for m in fixed] == [
        ("system", None), ("user", None), ("assistant", None),
        ("tool", "c1"), ("tool", "c2"), ("user", None),
    ]
    assert fixed[3].is_error and "interrupted" in fixed[3].content
    assert fixed[4].content == "two"
    assert len(problems) == 4
    assert_valid_history(fixed)


def test_repair_merges_adjacent_user_messages_and_drops_empty_cancelled_answers() -> None:
    messages = [
        Message.system("s"),
        Message.user("a"),
        Message(role="assistant", content="", cancelled=True),
        Message.user("b"),
    ]
    fixed, problems = repair(messages)
    assert [(m.role, m.content) for m in fixed] == [("system", "s"), ("user", "a\n\nb")]
    assert problems == []


def test_repair_opens_the_conversation_with_a_user_message() -> None:
    fixed, problems = repair([Message.system("s"), Message.assistant("hi"), Message.user("u")])
    assert [m.role for m in fixed] == ["system", "user"]
    assert problems == ["dropped a leading assistant message"]
