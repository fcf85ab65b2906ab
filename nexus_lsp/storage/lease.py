"""Who may write a session: the lease a process holds while it runs a turn.

Two nexus-lsp processes may serve one workspace (two editor windows on one
folder) and share ``nexus.db``. A process about to run a turn *claims* the
session: ``sessions.owner`` names it (``host:pid:nonce``) and
``sessions.lease_expires`` says until when. The store renews its leases in its
background flusher (the heartbeat) and clears them when the turn is over.

Another process treats a session as held while the owner is alive: the lease
has not expired and, on the same host, the owner's pid still exists. A holder
killed with SIGKILL therefore releases the session at once on its host (pid
gone), and within :data:`LEASE_SECONDS` anywhere else (a suspended process
whose lease ran out loses its claim; its later rows are refused, not merged).
Held sessions are listed ``running`` and are never repaired, written or
deleted by anyone but their owner.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from nexus_lsp.errors import SessionBusy, UnknownSession
from nexus_lsp.storage.db import Database
from nexus_lsp.storage.recorder import WriteBuffer
from nexus_lsp.storage.records import from_db_time, now, to_db_time

__all__ = [
    "LEASE_SECONDS",
    "Lease",
    "LeaseKeeper",
    "check_free",
    "claim",
    "held_elsewhere",
    "lease_until",
    "new_owner",
    "pid_alive",
    "read_lease",
    "release",
    "renew",
]

log = logging.getLogger(__name__)

LEASE_SECONDS = 30.0


def new_owner() -> str:
    """A name for this store: unique per process and per store within it."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return True  # os.kill would terminate it there: rely on the lease's expiry
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    except OSError:
        return True
    return True


@dataclass(frozen=True, slots=True)
class Lease:
    """A ``sessions`` row's ``owner`` and ``lease_expires``."""

    owner: str | None
    expires: str | None

    def held_by_other(self, me: str, at: datetime) -> bool:
        """Whether a live process other than ``me`` holds the session."""
        if self.owner is None or self.owner == me or self.expires is None:
            return False
        try:
            if from_db_time(self.expires) <= at:
                return False  # not renewed: its owner is gone or stalled
        except ValueError:
            return False
        host, pid = _host_and_pid(self.owner)
        if host == socket.gethostname() and pid is not None and pid != os.getpid():
            return pid_alive(pid)
        return True

    def describe(self) -> str:
        host, pid = _host_and_pid(self.owner or "")
        return f"pid {pid} on {host}" if pid is not None else repr(self.owner)


def lease_until(at: datetime, seconds: float) -> str:
    return to_db_time(at + timedelta(seconds=seconds))


def _host_and_pid(owner: str) -> tuple[str, int | None]:
    parts = owner.rsplit(":", 2)
    if len(parts) != 3:
        return owner, None
    try:
        return parts[0], int(parts[1])
    except ValueError:
        return parts[0], None


# -- SQL, run inside the store's transactions ----------------------------------------


async def read_lease(db: aiosqlite.Connection, session_id: str) -> tuple[Lease, str, int]:
    """The session's lease, its status and how many messages it has stored."""
    async with db.execute(
        "SELECT owner, lease_expires, status,"
        " (SELECT count(*) FROM messages WHERE session_id = sessions.id)"
        " FROM sessions WHERE id = ?", (session_id,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise UnknownSession(session_id)
    return Lease(row[0], row[1]), str(row[2]), int(row[3])


async def check_free(db: aiosqlite.Connection, session_id: str, me: str, at: datetime) -> None:
    """Raise SessionBusy when another live process holds the session."""
    lease, _, _ = await read_lease(db, session_id)
    if lease.held_by_other(me, at):
        raise SessionBusy(session_id, elsewhere=lease.describe())


async def claim(db: aiosqlite.Connection, session_id: str, me: str, at: datetime,
                seconds: float) -> tuple[Lease, str, int]:
    """Take the session for ``me`` (SessionBusy when a live process holds it).

    Returns what was there before: the lease, the status and the message count.
    """
    before = await read_lease(db, session_id)
    if before[0].held_by_other(me, at):
        raise SessionBusy(session_id, elsewhere=before[0].describe())
    await db.execute("UPDATE sessions SET owner = ?, lease_expires = ? WHERE id = ?",
                     (me, lease_until(at, seconds), session_id))
    return before


async def release(db: aiosqlite.Connection, session_ids: Iterable[str], me: str) -> None:
    await db.executemany(
        "UPDATE sessions SET owner = NULL, lease_expires = NULL WHERE id = ? AND owner = ?",
        [(sid, me) for sid in session_ids])


async def renew(db: aiosqlite.Connection, session_ids: Iterable[str], me: str,
                at: datetime, seconds: float) -> set[str]:
    """Extend ``me``'s leases; returns the sessions whose lease was lost meanwhile."""
    lost: set[str] = set()
    until = lease_until(at, seconds)
    for session_id in session_ids:
        async with db.execute(
                "UPDATE sessions SET lease_expires = ? WHERE id = ? AND owner = ?",
                (until, session_id, me)) as cursor:
            if cursor.rowcount <= 0:
                lost.add(session_id)
    return lost


async def held_elsewhere(db: aiosqlite.Connection, me: str, at: datetime) -> dict[str, Lease]:
    """Sessions other live processes hold right now."""
    async with db.execute(
        "SELECT id, owner, lease_expires FROM sessions"
        " WHERE owner IS NOT NULL AND owner != ?", (me,)) as cursor:
        rows = await cursor.fetchall()
    found = {str(r[0]): Lease(r[1], r[2]) for r in rows}
    return {sid: lease for sid, lease in found.items() if lease.held_by_other(me, at)}


class LeaseKeeper:
    """The leases one store holds. Methods run with the store's database lock held."""

    def __init__(self, db: Database, seconds: float) -> None:
        self.owner = new_owner()  # this store's name in sessions.owner
        self.seconds = seconds
        self.held: set[str] = set()
        self._db = db
        self._renewed = time.monotonic()

    def held_by_other(self, lease: Lease, at: datetime) -> bool:
        return lease.held_by_other(self.owner, at)

    async def claim(self, session_id: str) -> tuple[Lease, str, int]:
        """Take the session (see :func:`claim`); returns what was there before."""
        found: tuple[Lease, str, int] | None = None

        async def take(db: aiosqlite.Connection) -> None:
            nonlocal found
            found = await claim(db, session_id, self.owner, now(), self.seconds)

        await self._db.transaction(take)
        assert found is not None
        self.held.add(session_id)
        return found

    async def release(self, session_ids: Iterable[str]) -> None:
        ids = self.held.intersection(session_ids)
        self.held -= ids
        if ids:
            await self._db.transaction(lambda db: release(db, ids, self.owner))

    async def heartbeat(self) -> None:
        """Renew the leases well before they expire. Never raises."""
        if not self.held or time.monotonic() - self._renewed < self.seconds / 3:
            return
        held = set(self.held)
        lost: set[str] = set()

        async def run(db: aiosqlite.Connection) -> None:
            lost.update(await renew(db, held, self.owner, now(), self.seconds))

        try:
            await self._db.transaction(run)
        except Exception:
            log.warning("renewing the session leases in %s failed; retrying", self._db.path,
                        exc_info=True)
            return
        self._renewed = time.monotonic()
        for session_id in lost:
            log.error("session %s: this process lost its claim (it stalled past its lease and"
                      " another process took the session over); its new rows are refused",
                      session_id)
            self.held.discard(session_id)

    async def refuse_foreign_rows(self, db: aiosqlite.Connection, batch: WriteBuffer) -> None:
        """Drop from ``batch`` the rows of sessions another live process holds: writing
        them would overwrite that process's messages. Inside the flush's transaction."""
        ours = set(batch.sessions).union(r[0] for r in batch.messages)
        if not ours:
            return
        others = await held_elsewhere(db, self.owner, now())
        for session_id in ours.intersection(others):
            log.error("session %s is held by another nexus-lsp process (%s); %d rows of"
                      " this process refused", session_id, others[session_id].describe(),
                      sum(1 for r in batch.messages if r[0] == session_id))
            batch.drop_session(session_id)
