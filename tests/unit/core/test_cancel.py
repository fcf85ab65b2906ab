"""CancellationToken: awaitable and pollable, callbacks isolated, children linked."""

from __future__ import annotations

import asyncio
import logging

import pytest

from nexus_lsp.core.cancel import CancellationToken, Cancelled, race


async def test_wait_returns_the_reason_once_cancelled() -> None:
    token = CancellationToken()
    waiter = asyncio.create_task(token.wait())
    await asyncio.sleep(0)
    assert not waiter.done() and not token.cancelled
    assert token.cancel("stop") is True
    assert await waiter == "stop"
    assert token.cancel("again") is False and token.reason == "stop"
    with pytest.raises(Cancelled, match="stop"):
        token.raise_if_cancelled()


async def test_a_raising_callback_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = CancellationToken()
    seen: list[str] = []

    def bad(reason: str) -> None:
        raise RuntimeError("bad callback")

    token.on_cancel(bad)
    token.on_cancel(seen.append)
    remove = token.on_cancel(lambda r: seen.append("removed"))
    remove()
    with caplog.at_level(logging.ERROR):
        token.cancel("why")
    assert seen == ["why"]
    assert "bad callback" in caplog.text
    token.on_cancel(seen.append)  # registered after the cancel: runs at once
    assert seen == ["why", "why"]


async def test_children_follow_their_parent_but_not_the_other_way() -> None:
    parent = CancellationToken()
    child, other = parent.child(), parent.child()
    child.cancel("child only")
    assert not parent.cancelled and not other.cancelled
    parent.cancel("all")
    assert other.cancelled and other.reason == "all"
    assert parent.child().cancelled  # born cancelled


async def test_race_interrupts_the_work_at_once_and_lets_it_clean_up() -> None:
    token = CancellationToken()
    cleaned = asyncio.Event()

    async def work() -> str:
        try:
            await asyncio.sleep(3600)
            return "finished"
        finally:
            cleaned.set()

    task = asyncio.create_task(race(work(), token))
    await asyncio.sleep(0.01)
    token.cancel("now")
    with pytest.raises(Cancelled):
        await task
    assert cleaned.is_set()


async def test_race_returns_the_result_when_the_work_wins() -> None:
    async def work() -> int:
        return 7

    assert await race(work(), CancellationToken()) == 7


async def test_race_on_a_cancelled_token_closes_the_coroutine_it_was_given() -> None:
    token = CancellationToken()
    token.cancel("before")

    async def work() -> int:
        return 1

    coroutine = work()
    with pytest.raises(Cancelled):
        await race(coroutine, token)
    assert coroutine.cr_frame is None  # closed: no "never awaited" warning
