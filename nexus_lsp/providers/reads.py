"""Reading a streamed body: one item per network read, and awaits a cancel interrupts.

httpx (through httpcore and h11) hands a body over one HTTP chunk at a time, and a
model API writes one chunk per SSE event: ~20k chunks for a long answer, each
through five nested async generators, although a network read brings many at once.
:func:`network_reads` joins the chunks that are already buffered: it steps the next
chunk's coroutine by hand, and as long as that finishes without suspending (the data
is in h11's buffer) it takes the next one; the first that would wait for the network
is kept, started, and awaited at the next read. So one item is what one network
read brought (a socket read always suspends once, so no batch outlives a read).

A read kept started is bound to the task that started it (httpcore's timeouts are
anyio cancel scopes): iterate the reads in one task, as the provider does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar

import httpx

from nexus_lsp.core.cancel import CancellationToken, Cancelled, race

__all__ = ["MAX_READ_BYTES", "network_reads", "next_unless_cancelled", "next_or_none",
           "until_cancelled"]

T = TypeVar("T")

log = logging.getLogger(__name__)

# A batch stops growing here even if more is buffered: bounds one synchronous pass.
MAX_READ_BYTES = 1024 * 1024


class _Started:
    """Awaits a coroutine that was stepped once by hand and suspended on ``waiting``.

    The first thing the awaiting task sees is what the coroutine yielded (an asyncio
    future, or ``None`` for a bare yield); from then on sends and throws (a cancel)
    go through to the coroutine, as a plain ``await`` would pass them.
    """

    __slots__ = ("_coro", "_throw", "_waiting")

    def __init__(self, coro: Coroutine[Any, Any, bytes], waiting: Any) -> None:
        self._coro = coro
        self._waiting = waiting
        self._throw: BaseException | None = None

    def __await__(self) -> Generator[Any, Any, bytes]:
        coro, waiting = self._coro, self._waiting
        if self._throw is not None:
            try:
                waiting = coro.throw(self._throw)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
        while True:
            try:
                sent = yield waiting
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a cancel (or anything thrown into the task)
                try:
                    waiting = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
            else:
                try:
                    waiting = coro.send(sent)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]

    async def abandon(self) -> None:
        """Stop the read: a cancel thrown in at its wait, run to its end in this task
        (httpcore then closes the connection as on any cancelled read)."""
        self._throw = asyncio.CancelledError()
        try:
            await self
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this task is being cancelled too: not ours to swallow
        except Exception as exc:
            log.debug("an abandoned body read ended with %r", exc)


async def network_reads(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The body (decompressed), one item per network read (see the module doc)."""
    chunks = response.aiter_bytes().__aiter__()
    started: _Started | None = None
    try:
        while True:
            try:
                if started is not None:
                    first = await started
                else:
                    first = await chunks.__anext__()
            except StopAsyncIteration:
                return
            finally:
                started = None
            batch = [first]
            size = len(first)
            ended = False
            while size < MAX_READ_BYTES:
                step = chunks.__anext__()
                try:
                    waiting = step.send(None)  # type: ignore[attr-defined]
                except StopIteration as stop:  # it was buffered: no wait
                    batch.append(stop.value)
                    size += len(stop.value)
                    continue
                except StopAsyncIteration:
                    ended = True
                    break
                started = _Started(step, waiting)  # type: ignore[arg-type]
                break
            yield batch[0] if len(batch) == 1 else b"".join(batch)
            if ended:
                return
    finally:
        # A read under way belongs to the task that started it (httpcore's timeouts are
        # anyio cancel scopes): stopped here when the reader closes this generator in
        # that task, as the provider does. Closed from another task (a stream left to
        # the garbage collector), it may refuse; the response is closed by its owner.
        try:
            if started is not None:
                await started.abandon()
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        except RuntimeError as exc:
            log.debug("closing a body read from another task: %r", exc)



async def until_cancelled(work: Callable[[], Awaitable[T]], token: CancellationToken) -> T:
    """:func:`race` for work that is created only when the token is not cancelled yet.

    Creating the coroutine first and letting ``race`` refuse it would leave it never
    awaited (a RuntimeWarning, and an error under ``filterwarnings = error``).
    """
    token.raise_if_cancelled()
    return await race(work(), token)


async def next_unless_cancelled(
    events: AsyncGenerator[T, None], token: CancellationToken
) -> T | None:
    """The next event, or :class:`Cancelled` the moment ``token`` is cancelled.

    :func:`race` per streamed event cost two tasks and an ``asyncio.wait`` each: for a
    long answer (~20k chunks) that dominated the turn. Here the read stays in the
    caller's task; a cancel interrupts that task at its current await (the read), and
    the ``CancelledError`` it gets is turned into ``Cancelled``, the way
    ``asyncio.timeout`` turns its own cancel into ``TimeoutError``. A cancel of the
    task by anyone else still propagates as ``CancelledError``.
    """
    token.raise_if_cancelled()
    task = asyncio.current_task()
    if task is None:  # not in a task: nothing to interrupt, so race it
        return await race(next_or_none(events), token)
    interrupted = False

    def interrupt(reason: str) -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    remove = token.on_cancel(interrupt)
    try:
        return await next_or_none(events)
    except asyncio.CancelledError:
        if interrupted and task.uncancel() == 0:
            raise Cancelled(token.reason or "cancelled") from None
        raise
    finally:
        remove()


async def next_or_none(events: AsyncGenerator[T, None]) -> T | None:
    try:
        return await events.__anext__()
    except StopAsyncIteration:
        return None
