"""One turn at a time per session, in order (protocol v2 §4 ``whenBusy``).

The :class:`~nexus_lsp.session.manager.SessionManager` holds a session's
:class:`TurnQueue` lock for a whole turn (or a forced compaction). ``reject`` sends
fail while it is held; ``queue`` sends wait for it in the order they came
(``asyncio.Lock`` wakes waiters first come, first served), and stop waiting at once
when their request is cancelled; ``steer`` sends join the running turn
(``Session.steer``) or wait like ``queue``. A steered prompt that its turn ended
without runs as the next turn: by the host's ``follow_up`` (which reports it to the
door), else in a task the queue keeps and cancels at close.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from nexus_lsp.core.cancel import CancellationToken, Cancelled

__all__ = ["WHEN_BUSY", "FollowUp", "Steered", "TurnQueue", "WhenBusy"]

log = logging.getLogger(__name__)

WhenBusy = Literal["reject", "queue", "steer"]
WHEN_BUSY: tuple[WhenBusy, ...] = ("reject", "queue", "steer")
# Runs a steered prompt that its turn ended without, as a queued turn: (session id, prompt)
FollowUp = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class Steered:
    """A ``steer`` send that joined the running turn: its answer comes at once."""

    session_id: str
    turn_id: int


class TurnQueue:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._follow_ups: set[asyncio.Task[Any]] = set()
        self.follow_up: FollowUp | None = None  # set by the host

    def lock(self, session_id: str) -> asyncio.Lock:
        return self._locks.setdefault(session_id, asyncio.Lock())

    def busy(self, session_id: str) -> bool:
        return self.lock(session_id).locked()

    async def acquire(self, session_id: str, token: CancellationToken | None) -> asyncio.Lock:
        """The session's lock, once free; ``Cancelled`` if ``token`` is cancelled first."""
        lock = self.lock(session_id)
        if token is None or not lock.locked():
            await lock.acquire()
            return lock
        acquire = asyncio.ensure_future(lock.acquire())
        waiter = asyncio.ensure_future(token.wait())
        try:
            await asyncio.wait({acquire, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not acquire.done():
                acquire.cancel()
            await asyncio.gather(acquire, waiter, return_exceptions=True)
            got = acquire.done() and not acquire.cancelled() and acquire.exception() is None
            if got and sys.exc_info()[0] is not None:
                lock.release()  # our own task was cancelled just as the lock came free
        if not got:
            raise Cancelled(token.reason or "cancelled while queued")
        return lock

    def run_leftover(
        self, session_id: str, prompt: str,
        send: Callable[[], Coroutine[Any, Any, Any]],
    ) -> None:
        """A steered prompt its turn ended without: the next turn (``send`` runs it
        queued when no ``follow_up`` is set)."""
        log.info("session %s: a steered prompt arrived after its turn's last model call; "
                 "it runs as the next turn", session_id)
        if self.follow_up is not None:
            self.follow_up(session_id, prompt)
            return
        task: asyncio.Task[Any] = asyncio.ensure_future(send())
        self._follow_ups.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._follow_ups.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.warning("the queued steered prompt of %s failed: %s", session_id,
                            finished.exception())

        task.add_done_callback(done)

    async def aclose(self) -> None:
        for task in list(self._follow_ups):
            task.cancel()
        await asyncio.gather(*self._follow_ups, return_exceptions=True)
