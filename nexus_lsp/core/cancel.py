"""The cancellation token: one cancel path for a turn.

A turn owns a token. ``$/cancelRequest``, a progress cancel and
``nexus/session/cancel`` all end in :meth:`CancellationToken.cancel`. Code that
waits on something slow (the provider stream, a tool batch, a pending
``workspace/applyEdit``) *awaits* the token next to its own work with
:func:`race`, so a cancel interrupts it at once instead of at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

__all__ = ["CancellationToken", "Cancelled", "race"]

log = logging.getLogger(__name__)

T = TypeVar("T")
CancelCallback = Callable[[str], object]


class Cancelled(Exception):
    """Raised by :meth:`CancellationToken.raise_if_cancelled` and :func:`race`.

    Deliberately not an ``asyncio.CancelledError``: a cancelled *turn* is a normal
    outcome handled by the session, while task cancellation stays reserved for
    shutting tasks down.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CancellationToken:
    """Awaitable as well as pollable; children are cancelled with their parent.

    Callbacks registered with :meth:`on_cancel` run once, synchronously, in the
    order registered; one that raises is logged and the others still run.
    """

    __slots__ = ("_callbacks", "_children", "_commit_lock", "_committed", "_event", "_parent",
                 "reason")

    def __init__(self, parent: CancellationToken | None = None) -> None:
        self._event = asyncio.Event()
        self._callbacks: list[CancelCallback] = []
        self._children: list[CancellationToken] = []
        self._parent = parent
        # Makes "cancelled?" and "landed?" one decision with a side effect in a thread
        # (see commit()).
        self._commit_lock = threading.Lock()
        self._committed = False
        self.reason: str | None = None
        if parent is not None:
            if parent.cancelled:
                self.cancel(parent.reason or "cancelled")
            else:
                parent._children.append(self)

    def __repr__(self) -> str:
        state = f"cancelled: {self.reason}" if self.cancelled else "active"
        return f"<CancellationToken {state}, {len(self._children)} children>"

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def child(self) -> CancellationToken:
        """A token cancelled when this one is, and cancellable on its own."""
        return CancellationToken(self)

    def cancel(self, reason: str = "cancelled") -> bool:
        """Cancel; returns False when the token was already cancelled."""
        # Waits for a commit in progress in a worker thread (a rename or unlink, so
        # milliseconds): afterwards ``committed`` says whether it landed.
        with self._commit_lock:
            if self._event.is_set():
                return False
            self.reason = reason
            self._event.set()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            self._run_callback(callback, reason)
        children, self._children = self._children, []
        for child in children:
            child.cancel(reason)
        if self._parent is not None and self in self._parent._children:
            self._parent._children.remove(self)
        return True

    def on_cancel(self, callback: CancelCallback) -> Callable[[], None]:
        """Run ``callback(reason)`` on cancel (now, if already cancelled).

        Returns a function that unregisters the callback.
        """
        if self.cancelled:
            self._run_callback(callback, self.reason or "cancelled")
            return lambda: None
        self._callbacks.append(callback)

        def remove() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return remove

    async def wait(self) -> str:
        """Wait until cancelled; returns the reason."""
        await self._event.wait()
        return self.reason or "cancelled"

    @property
    def committed(self) -> bool:
        """A side effect landed under :meth:`commit` (it must be reported done)."""
        return self._committed

    @contextlib.contextmanager
    def commit(self) -> Iterator[None]:
        """Hold around the one step that makes a side effect land (an atomic rename,
        an unlink), from any thread.

        Raises :class:`Cancelled` when the token is cancelled: the step must then not
        run. While it runs, :meth:`cancel` waits; so either the step lands before the
        cancel (and :attr:`committed` is True) or it never does.
        """
        with self._commit_lock:
            if self._event.is_set():
                raise Cancelled(self.reason or "cancelled")
            yield
            self._committed = True

    def detach(self) -> None:
        """Forget this child token in its parent (its work is over)."""
        if self._parent is not None and self in self._parent._children:
            self._parent._children.remove(self)

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled(self.reason or "cancelled")

    @staticmethod
    def _run_callback(callback: CancelCallback, reason: str) -> None:
        try:
            callback(reason)
        except Exception:
            log.exception("cancel callback %r raised; ignored", callback)


async def race(awaitable: Awaitable[T], token: CancellationToken) -> T:
    """Await ``awaitable`` unless ``token`` is cancelled first.

    On cancel the work is cancelled (its task gets ``CancelledError`` at its current
    ``await``, so ``finally`` blocks and context managers close what they opened) and
    :class:`Cancelled` is raised. If the caller's own task is cancelled, the work is
    cancelled too.
    """
    if token.cancelled:
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # never started: close it, or it warns it was never awaited
        raise Cancelled(token.reason or "cancelled")
    work: asyncio.Future[T] = asyncio.ensure_future(awaitable)
    waiter = asyncio.ensure_future(token.wait())
    both: set[asyncio.Future[Any]] = {work, waiter}
    try:
        await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        work.cancel()
        waiter.cancel()
        await asyncio.gather(work, waiter, return_exceptions=True)
        raise
    waiter.cancel()
    if work.done():
        await asyncio.gather(waiter, return_exceptions=True)
        return work.result()
    work.cancel()
    await asyncio.gather(work, waiter, return_exceptions=True)
    raise Cancelled(token.reason or "cancelled")
