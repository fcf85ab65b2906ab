"""Worker threads that can get stuck without stalling anything else.

File tools call blocking OS functions (open, read, scandir, walk). Most return
at once; some can block for ever (a named pipe nobody writes, a hung network
mount). On ``asyncio.to_thread`` such a call takes one of the default
executor's few workers for good: after a handful, every later file tool waits
behind them, and ``asyncio.run`` waits for them at exit (Python 3.11 has no
limit there), so the process never ends.

:func:`run_in_thread` uses daemon threads instead: a new one starts whenever
every worker is busy (up to :data:`MAX_THREADS`), idle ones end after
:data:`IDLE_SECONDS`, and nothing waits for them at exit. A caller that stops
waiting (timeout, cancel) leaves the call to finish, or hang, on its own.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["IDLE_SECONDS", "MAX_THREADS", "DaemonThreads", "run_in_thread"]

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_THREADS = 64
IDLE_SECONDS = 30.0

_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class DaemonThreads:
    """A pool of daemon threads that grows when every worker is busy."""

    def __init__(self, max_threads: int = MAX_THREADS, idle_seconds: float = IDLE_SECONDS) -> None:
        self.max_threads = max_threads
        self.idle_seconds = idle_seconds
        self._queue: queue.SimpleQueue[_Work] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._queued = 0

    def __repr__(self) -> str:
        return f"<DaemonThreads {self._threads} threads, {self._idle} idle, {self._queued} queued>"

    @property
    def threads(self) -> int:
        return self._threads

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            self._queue.put((future, fn, args))
            self._queued += 1
            # Every queued call needs a free worker; a busy one may never come back.
            if self._queued > self._idle and self._threads < self.max_threads:
                self._threads += 1
                number = self._threads
                threading.Thread(
                    target=self._work, name=f"nexus-worker-{number}", daemon=True
                ).start()
            elif self._queued > self._idle:
                log.warning(
                    "all %d worker threads are busy (some may be stuck on a file); "
                    "a call waits for one", self.max_threads,
                )
        return future

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            try:
                future, fn, args = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    self._idle -= 1
                    if self._queued == 0:
                        self._threads -= 1
                        return
                continue
            with self._lock:
                self._idle -= 1
                self._queued -= 1
            if not future.set_running_or_notify_cancel():
                continue  # the caller stopped waiting before the call started
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the caller, like an executor does
                future.set_exception(exc)
            else:
                future.set_result(result)
            del future, fn, args


_threads = DaemonThreads()


async def run_in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``await asyncio.to_thread(fn, *args)`` on daemon threads (see the module doc).

    Context variables are not carried over; cancelling the caller abandons the call
    (it is dropped if it has not started yet).
    """
    return await asyncio.wrap_future(_threads.submit(fn, *args))
