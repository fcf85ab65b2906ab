"""Daemon worker threads: a call stuck for ever holds up neither the next call nor
the end of the process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from nexus_lsp.core.threads import DaemonThreads, run_in_thread

WAIT = 15.0  # an upper bound for a wait, never a timing assertion


def test_a_stuck_call_does_not_hold_up_the_next_one() -> None:
    pool = DaemonThreads(max_threads=4)
    release = threading.Event()
    try:
        stuck = pool.submit(release.wait)
        assert pool.submit(lambda: 42).result(timeout=WAIT) == 42
        assert not stuck.done()
        assert pool.threads == 2
    finally:
        release.set()
    assert stuck.result(timeout=WAIT) is True


def test_workers_are_daemon_threads_and_errors_reach_the_caller() -> None:
    pool = DaemonThreads()
    assert pool.submit(lambda: threading.current_thread().daemon).result(timeout=WAIT)
    failing = pool.submit(int, "not a number")
    try:
        failing.result(timeout=WAIT)
    except ValueError as exc:
        assert "not a number" in str(exc)
    else:
        raise AssertionError("the ValueError was lost")


async def test_run_in_thread_returns_the_result() -> None:
    assert await run_in_thread(sum, [1, 2, 3]) == 6


def test_the_process_ends_although_a_worker_is_stuck() -> None:
    # asyncio.to_thread here would leave asyncio.run waiting for the thread for ever.
    script = textwrap.dedent("""
        import asyncio, threading
        from nexus_lsp.core.threads import run_in_thread

        async def main():
            never = threading.Event()
            try:
                await asyncio.wait_for(run_in_thread(never.wait), 0.1)
            except TimeoutError:
                print("timed out")

        asyncio.run(main())
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=WAIT
    )
    assert (done.returncode, done.stdout) == (0, "timed out\n")
