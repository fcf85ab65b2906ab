"""Streamed text deltas coalesced into fewer messages, for a door whose sends are async.

A model streams thousands of tiny deltas; sending each as its own protocol message
costs more than the turn itself. :class:`TextCoalescer` keeps the same rule as the
LSP door's reporter (``lsp/updates.py``): the window opens on the leading edge — a
delta after a quiet spell goes out at once, so the answer starts showing without
waiting — and the deltas that follow within :data:`WINDOW_SECONDS` go out together
(at most :data:`MAX_CHARS` at a time). Text of another kind (answer vs reasoning)
or any other event flushes what is pending first, so order is kept and the
concatenation of what is sent is exactly what was streamed.

Sends are awaited under one lock, so a timed flush and the turn's own sends never
interleave. The timed flush runs in a task the coalescer owns: :meth:`aclose` ends
it and sends what is left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

__all__ = ["MAX_CHARS", "WINDOW_SECONDS", "TextCoalescer"]

log = logging.getLogger(__name__)

WINDOW_SECONDS = 0.004
MAX_CHARS = 4096

Send = Callable[[str, str], Awaitable[None]]  # (kind, text)


class TextCoalescer:
    def __init__(self, send: Send, clock: Callable[[], float] = time.monotonic) -> None:
        self._send = send
        self._clock = clock
        self._kind = ""
        self._text: list[str] = []
        self._chars = 0
        self._last_flush = -WINDOW_SECONDS
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None

    async def add(self, kind: str, text: str) -> None:
        if not text:
            return
        if kind != self._kind:
            await self.flush()
            self._kind = kind
        self._text.append(text)
        self._chars += len(text)
        quiet = not self._wake.is_set() and self._clock() - self._last_flush >= WINDOW_SECONDS
        if quiet or self._chars >= MAX_CHARS:
            await self.flush()
            return
        if self._timer is None:
            self._timer = asyncio.ensure_future(self._timed_flushes())
        self._wake.set()

    async def flush(self) -> None:
        """Send what is pending now (before any other message of the turn)."""
        async with self._lock:
            self._wake.clear()
            if not self._text:
                return
            text = "".join(self._text)
            self._text.clear()
            self._chars = 0
            self._last_flush = self._clock()
            await self._send(self._kind, text)

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
            self._timer = None
        await self.flush()

    async def _timed_flushes(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(WINDOW_SECONDS)
            try:
                await self.flush()
            except Exception as exc:  # the client is gone: the turn's own sends say so
                log.info("a coalesced send failed: %s", exc)
