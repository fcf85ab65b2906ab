"""A command's streamed output, coalesced where it is read: few large reports, not one per read.

Each report becomes a ``ToolOutput`` event: a task, a stored row (redacted) and, in
the doors, a notification. A chatty command read as fast as it writes (a quiet
machine reads a 10 MB printer in thousands of small reads) would otherwise cost
one of each per read. Reports follow the rule content deltas follow
(``lsp/updates.py``): the first text after a quiet spell is reported at once (the
editor shows the command starting), the text that follows within
:data:`WINDOW_SECONDS` is held and reported as one when the window ends, or at once
when it reaches :data:`MAX_CHARS`. The concatenation of the reports is exactly the
text added, in order; :meth:`OutputCoalescer.flush` reports what is held (the
command's end), so nothing is reported after it.
"""

from __future__ import annotations

import asyncio
import time

from nexus_lsp.skills.base import OutputReport

__all__ = ["MAX_CHARS", "WINDOW_SECONDS", "OutputCoalescer"]

WINDOW_SECONDS = 0.004
MAX_CHARS = 64 * 1024  # a read bigger than this is reported whole (never split)
_clock = time.monotonic  # the window's clock (tests replace it)


class OutputCoalescer:
    """Text in, reports out: at once after a quiet spell, else once per window or cap."""

    def __init__(self, report: OutputReport) -> None:
        self._report = report
        self._pending: list[str] = []
        self._chars = 0
        self._last_report = -WINDOW_SECONDS  # _clock() of the last report
        self._timer: asyncio.TimerHandle | None = None  # set while text is held

    def add(self, text: str) -> None:
        if not text:
            return
        self._pending.append(text)
        self._chars += len(text)
        quiet = self._timer is None and _clock() - self._last_report >= WINDOW_SECONDS
        if quiet or self._chars >= MAX_CHARS:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(WINDOW_SECONDS, self.flush)

    def flush(self) -> None:
        """Report what is held now (the window's end, or the command's)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        self._chars = 0
        self._last_report = _clock()
        self._report(text)
