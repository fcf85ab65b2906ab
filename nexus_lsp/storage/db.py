"""The one SQLite connection of a workspace, and the discipline around it.

:class:`Database` opens ``nexus.db`` through aiosqlite in autocommit mode (the
store writes ``BEGIN IMMEDIATE``/``COMMIT`` itself), sets the connection pragmas
(WAL, ``synchronous=NORMAL``, ``busy_timeout``, ``foreign_keys``), and runs all work
one piece at a time under an asyncio lock. Work started with :meth:`Database.locked`
runs to its end even when the awaiting task is cancelled: aiosqlite would go on
executing the statements in its thread anyway, and a transaction left half-way
would break every later write on the shared connection.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiosqlite

from nexus_lsp.errors import StoreError
from nexus_lsp.storage.schema import prepare_database

__all__ = ["BUSY_TIMEOUT_MS", "Database"]

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000


class Database:
    def __init__(self, path: Path, connection: aiosqlite.Connection) -> None:
        self.path = path
        self._db = connection
        self._lock = asyncio.Lock()
        self._work: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return f"<Database {self.path}>"

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Connect, then create, migrate or refuse the file (see ``schema.py``)."""
        try:
            db = await aiosqlite.connect(path, isolation_level=None,
                                         timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {path}: {exc}") from exc
        try:
            await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await db.execute("PRAGMA foreign_keys = ON")
            await prepare_database(db, path)
            await db.execute("PRAGMA synchronous = NORMAL")
        except BaseException as exc:
            await db.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot open {path}: {exc}") from exc
            raise
        return cls(path, db)

    async def locked(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` under the lock, to the end even if the caller is cancelled."""

        async def run() -> T:
            async with self._lock:
                return await work()

        task = asyncio.ensure_future(run())
        self._work.add(task)
        task.add_done_callback(self._done)
        return await asyncio.shield(task)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._work.discard(task)
        # Retrieved here so that work whose caller was cancelled does not end as
        # "exception never retrieved"; callers still awaiting get it raised.
        if not task.cancelled() and task.exception() is not None:
            log.debug("store work failed: %r", task.exception())

    async def transaction(self, body: Callable[[aiosqlite.Connection], Awaitable[None]]) -> None:
        """Run ``body`` in one write transaction (call with the lock held)."""
        db = self._db
        try:
            await db.execute("BEGIN IMMEDIATE")
            try:
                await body(db)
                await db.commit()
            except BaseException:
                await db.rollback()
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"writing {self.path} failed: {exc}") from exc

    async def transaction_in_thread(
            self, body: Callable[[Any], Coroutine[Any, Any, None]]) -> None:
        """:meth:`transaction`, in one round trip to aiosqlite's thread (with the lock held).

        A flush is a handful of statements; as separate aiosqlite calls each costs a
        hop to the database thread and back, which with a flush per turn was most
        of what storing cost. Here the thread runs ``BEGIN``, ``body`` and ``COMMIT``
        at once: ``body`` is the same async code as for :meth:`transaction`, given a
        connection whose calls complete at once (:class:`_SyncConnection`), so it
        must await nothing else.
        """
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                _run_now(body(_SyncConnection(conn)))
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

        try:
            # aiosqlite has no public call for "run this in your thread"; _execute is
            # what each of its own methods uses (aiosqlite >= 0.22, see pyproject).
            await self._db._execute(run, self._db._conn)  # type: ignore[no-untyped-call]
        except sqlite3.Error as exc:
            raise StoreError(f"writing {self.path} failed: {exc}") from exc

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Rows of a query (call with the lock held)."""
        try:
            async with self._db.execute(sql, params) as cursor:
                return list(await cursor.fetchall())
        except sqlite3.Error as exc:
            raise StoreError(f"reading {self.path} failed: {exc}") from exc

    async def close(self) -> None:
        """Wait for the work in flight, then close the connection."""
        await asyncio.gather(*self._work, return_exceptions=True)
        await self._db.close()


def _run_now(work: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never suspends (its awaits are :class:`_Done`) to its end."""
    try:
        work.send(None)
    except StopIteration:
        return
    work.close()
    raise RuntimeError("store work in the database thread awaited something that waits")


class _Done(Generic[T]):
    """An awaitable (and async context manager) whose value is already there."""

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def __await__(self) -> Generator[Any, None, T]:
        return self._value
        yield  # a generator that returns at once

    async def __aenter__(self) -> T:
        return self._value

    async def __aexit__(self, *exc: object) -> None:
        return None


class _SyncCursor:
    """The parts of an aiosqlite cursor the store's SQL uses, over a sqlite3 cursor."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def fetchone(self) -> _Done[Any]:
        return _Done(self._cursor.fetchone())

    def fetchall(self) -> _Done[list[Any]]:
        return _Done(self._cursor.fetchall())

    def close(self) -> _Done[None]:
        self._cursor.close()
        return _Done(None)


class _SyncConnection:
    """The parts of an aiosqlite connection the store's SQL uses, run at once (in the
    database thread, by :meth:`Database.transaction_in_thread`)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Iterable[Any] = ()) -> _Done[_SyncCursor]:
        return _Done(_SyncCursor(self._conn.execute(sql, tuple(params))))

    def executemany(self, sql: str, rows: Iterable[Any]) -> _Done[_SyncCursor]:
        return _Done(_SyncCursor(self._conn.executemany(sql, rows)))
