"""Cancellation keeps the history valid; batches run sequentially or in parallel."""

from __future__ import annotations

import asyncio
import threading
import time

from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.events import BatchEnded, ToolCallStatus
from nexus_lsp.core.messages import ToolCall
from nexus_lsp.skills.base import Skill, SkillArguments, SkillOutput, SkillRegistry
from nexus_lsp.testing.fake_provider import FakeAnswer

from .conftest import SessionFactory, WaitSkill, assert_valid_history


def wait(call_id: str, **extra: object) -> ToolCall:
    return ToolCall(call_id, "wait", {"name": call_id, **extra})


async def test_cancel_mid_stream_keeps_the_partial_text_marked_cancelled(
    make_session: SessionFactory,
) -> None:
    session, provider, _ = make_session(
        FakeAnswer(text=["The answer ", "is"], stall=True), FakeAnswer(text=["again"])
    )
    token = CancellationToken()
    turn = asyncio.create_task(session.send("q", cancel_token=token))
    await provider.stalled.wait()
    token.cancel("user pressed stop")
    result = await turn
    assert result.stop_reason == "cancelled"
    assert result.content == "The answer is"
    last = session.history[-1]
    assert (last.role, last.content, last.cancelled) == ("assistant", "The answer is", True)
    # The next turn works and sends the partial answer as context.
    assert (await session.send("go on")).stop_reason == "endTurn"
    assert [m.content for m in provider.requests[1]][-2:] == ["The answer is", "go on"]


async def test_cancel_mid_batch_answers_every_call(
    make_session: SessionFactory, wait_skill: WaitSkill
) -> None:
    calls = [wait("c1"), ToolCall("c2", "write_file", {"path": "x", "content": "y"})]
    session, provider, events = make_session(FakeAnswer(tool_calls=calls), FakeAnswer(text=["ok"]))
    token = CancellationToken()
    turn = asyncio.create_task(session.send("go", cancel_token=token))
    await wait_skill.all_started.wait()
    token.cancel()
    result = await turn
    assert result.stop_reason == "cancelled"
    assert [(r.call.id, r.status) for r in result.tool_calls] == [
        ("c1", "cancelled"), ("c2", "cancelled")
    ]
    assert wait_skill.finished == []  # interrupted, not waited for
    assert_valid_history(session.history)
    assert [e.outcome for e in events if isinstance(e, BatchEnded)] == ["cancelled"]
    results = [m for m in session.history if m.role == "tool"]
    assert all("cancelled" in m.content for m in results)
    assert (await session.send("again")).stop_reason == "endTurn"
    assert_valid_history(provider.requests[-1])


async def test_a_parallel_batch_is_cancellable(
    make_session: SessionFactory, wait_skill: WaitSkill
) -> None:
    wait_skill.expected = 3
    calls = [wait("p1"), wait("p2"), wait("p3")]  # all read-only: parallel
    session, _, events = make_session(FakeAnswer(tool_calls=calls), max_parallel_tools=3)
    turn = asyncio.create_task(session.send("go"))
    await wait_skill.all_started.wait()
    assert sorted(wait_skill.started) == ["p1", "p2", "p3"]  # really concurrent
    session.cancel()
    result = await turn
    assert [r.status for r in result.tool_calls] == ["cancelled"] * 3
    assert_valid_history(session.history)
    cancelled = [e.call.id for e in events if isinstance(e, ToolCallStatus)
                 and e.status == "cancelled"]
    assert sorted(cancelled) == ["p1", "p2", "p3"]


async def test_parallel_batches_respect_max_parallel_tools(
    make_session: SessionFactory, wait_skill: WaitSkill
) -> None:
    wait_skill.expected = 2
    calls = [wait("p1"), wait("p2"), wait("p3")]
    session, _, _ = make_session(
        FakeAnswer(tool_calls=calls), FakeAnswer(text=["done"]), max_parallel_tools=2
    )
    turn = asyncio.create_task(session.send("go"))
    await wait_skill.all_started.wait()
    await asyncio.sleep(0.01)
    assert len(wait_skill.started) == 2
    wait_skill.release.set()
    assert (await turn).stop_reason == "endTurn"
    assert sorted(wait_skill.finished) == ["p1", "p2", "p3"]


async def test_underscore_parallel_makes_a_writing_batch_parallel_and_is_stripped(
    make_session: SessionFactory, workspace: object
) -> None:
    calls = [
        ToolCall("w1", "write_file", {"path": "one.txt", "content": "1", "_parallel": True}),
        ToolCall("w2", "write_file", {"path": "two.txt", "content": "2"}),
    ]
    session, _, events = make_session(FakeAnswer(tool_calls=calls), FakeAnswer(text=["ok"]))
    result = await session.send("go")
    assert [r.status for r in result.tool_calls] == ["completed", "completed"]
    started = [e for e in events if e.type == "batchStarted"]
    assert started[0].parallel is True  # type: ignore[union-attr]


async def test_a_sequential_batch_halts_at_the_first_failure(
    make_session: SessionFactory,
) -> None:
    calls = [
        ToolCall("e1", "edit_file", {"path": "a.txt", "oldText": "zzz", "newText": "q"}),
        ToolCall("w1", "write_file", {"path": "never.txt", "content": "x"}),
    ]
    session, provider, events = make_session(FakeAnswer(tool_calls=calls), FakeAnswer(text=["k"]))
    result = await session.send("go")
    assert [(r.call.id, r.status) for r in result.tool_calls] == [
        ("e1", "failed"), ("w1", "skipped")
    ]
    assert result.tool_calls[0].error == "edit_file: failed: oldText was not found in a.txt"
    assert [e.halted_at for e in events if isinstance(e, BatchEnded)] == ["edit_file"]
    assert "skipped" in provider.requests[1][-1].content
    assert_valid_history(session.history)


async def test_tool_errors_have_one_format(make_session: SessionFactory) -> None:
    calls = [
        ToolCall("u1", "no_such_tool", {"_parallel": True}),  # run all, no halting
        ToolCall("j1", "read_file", {}, raw_arguments="{oops", arguments_error="bad JSON"),
        ToolCall("v1", "read_file", {"path": "a.txt", "limit": "many"}),
        ToolCall("m1", "read_file", {}),
        ToolCall("x1", "read_file", {"path": "a.txt", "colour": "red"}),
    ]
    session, _, _ = make_session(FakeAnswer(tool_calls=calls), FakeAnswer(text=["k"]))
    result = await session.send("go")
    errors = {r.call.id: r.error for r in result.tool_calls}
    assert errors["u1"] is not None and errors["u1"].startswith(
        "no_such_tool: unknownTool: no tool named 'no_such_tool'"
    )
    assert errors["j1"] is not None and errors["j1"].startswith("read_file: invalidJson: ")
    assert "retry" in errors["j1"] or "again" in errors["j1"]
    assert errors["v1"] is not None and errors["v1"].startswith(
        "read_file: invalidArguments: limit: "
    )
    assert errors["m1"] == "read_file: invalidArguments: path: Field required"
    assert errors["x1"] is not None and "colour" in errors["x1"]


class SleepArgs(SkillArguments):
    seconds: float


class BlockingSleep(Skill[SleepArgs]):
    name = "blocking_sleep"
    description = "sleeps in a thread"
    arguments = SleepArgs

    def __init__(self) -> None:
        self.thread: str | None = None

    def run_blocking(self, args: SleepArgs) -> SkillOutput:
        self.thread = threading.current_thread().name
        time.sleep(args.seconds)
        return SkillOutput("slept")


async def test_a_blocking_skill_does_not_stall_the_event_loop() -> None:
    skill = BlockingSleep()
    registry = SkillRegistry([skill])
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    result, _ = await registry.run(
        ToolCall("b1", "blocking_sleep", {"seconds": 0.3}), CancellationToken()
    )
    task.cancel()
    assert result.output == "slept"
    assert skill.thread != threading.main_thread().name
    assert ticks >= 5  # the loop kept running while the skill slept


async def test_a_tool_past_its_timeout_fails_with_timeout(
    make_session: SessionFactory,
) -> None:
    session, _, _ = make_session(
        FakeAnswer(tool_calls=[wait("t1")]), FakeAnswer(text=["k"]), tool_timeout_seconds=0.05
    )
    result = await session.send("go")
    assert result.tool_calls[0].error == "wait: timeout: did not finish within 0.05 seconds"


async def test_tools_cancelled_from_outside_can_be_reported(
    make_session: SessionFactory,
) -> None:
    session, _, _ = make_session(FakeAnswer(text=["hi"]), tools=False)
    await session.send("hi")
    call = ToolCall("ext1", "read_file", {"path": "a.txt"})
    session.context.append(session.history[-1].__class__.assistant("", (call,)))
    written = await session.add_cancelled_tools([call, ToolCall("other", "x", {})])
    assert len(written) == 1
    assert session.history[-1].tool_call_id == "ext1"
    assert "cancelled" in session.history[-1].content
    assert_valid_history(session.history)


async def test_cancelling_the_task_mid_stream_still_ends_the_turn(
    make_session: SessionFactory,
) -> None:
    """What pygls does on $/cancelRequest: the handler's task gets CancelledError."""
    session, provider, events = make_session(
        FakeAnswer(text=["half"], stall=True), FakeAnswer(text=["next"])
    )
    task = asyncio.create_task(session.send("q"))
    await provider.stalled.wait()
    task.cancel()
    try:
        await task
        raise AssertionError("the task's cancellation must propagate")
    except asyncio.CancelledError:
        pass
    ended = [e for e in events if e.type == "turnEnded"]
    assert len(ended) == 1 and ended[0].result.stop_reason == "cancelled"  # type: ignore[union-attr]
    assert session.history[-1].content == "half" and session.history[-1].cancelled
    assert not session.running
    assert (await session.send("again")).stop_reason == "endTurn"


async def test_cancelling_the_task_mid_batch_keeps_finished_results(
    make_session: SessionFactory, wait_skill: WaitSkill
) -> None:
    calls = [
        ToolCall("r1", "read_file", {"path": "a.txt"}),
        ToolCall("w1", "wait", {"name": "w1", "_parallel": True}),
    ]
    session, _, events = make_session(FakeAnswer(text=["Doing."], tool_calls=calls))
    read_done = asyncio.Event()
    session.add_sink(
        lambda e: read_done.set()
        if isinstance(e, ToolCallStatus) and e.call.id == "r1" and e.status == "completed"
        else None
    )
    task = asyncio.create_task(session.send("q"))
    await wait_skill.all_started.wait()
    await read_done.wait()  # read_file has finished (its read runs in a worker thread)
    task.cancel()
    try:
        await task
        raise AssertionError("the task's cancellation must propagate")
    except asyncio.CancelledError:
        pass
    assert_valid_history(session.history)
    results = {m.tool_call_id: m for m in session.history if m.role == "tool"}
    assert "alpha" in results["r1"].content and not results["r1"].is_error
    assert "cancelled" in results["w1"].content
    assistant = [m for m in session.history if m.role == "assistant"]
    assert [m.content for m in assistant] == ["Doing."]  # not kept twice
    assert [e.type for e in events].count("turnEnded") == 1
