"""The session store: every session of a workspace in ``.nexus/`` (protocol §8).

One :class:`SessionStore` per workspace owns ONE aiosqlite connection (WAL,
``synchronous=NORMAL``, ``busy_timeout``, foreign keys on) shared by all sessions.
Sessions report through :meth:`SessionStore.sink`, a synchronous event sink that
only buffers rows and appends transcripts; the rows reach ``nexus.db`` in one
transaction per :meth:`~SessionStore.flush`. Flushes happen when a turn ends,
when the buffer grows large, every :data:`FLUSH_INTERVAL_S` (a background task the
store owns), and whenever the LSP layer calls ``flush()`` before a response.

Writes are serialised by an asyncio lock and run to completion even if the
caller is cancelled (a ``$/cancelRequest`` must not leave a transaction open).
A crash loses at most what was buffered since the last flush; the next
:meth:`~SessionStore.load_session` closes the interrupted turn (``repair.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import shutil
import sqlite3
from collections.abc import Awaitable, Callable, Generator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from nexus_lsp.config import LoggingSettings
from nexus_lsp.core.events import (
    ContentDelta,
    EventSink,
    MessageAppended,
    ReasoningChanged,
    SessionEvent,
)
from nexus_lsp.core.messages import Message
from nexus_lsp.errors import SessionBusy, StoreError, UnknownSession
from nexus_lsp.providers.base import RawLogger
from nexus_lsp.storage import lease, sql
from nexus_lsp.storage.db import Database
from nexus_lsp.storage.folder import FolderSetup, make_private_dir
from nexus_lsp.storage.grants import GrantStore
from nexus_lsp.storage.recorder import SessionRecorder, WriteBuffer
from nexus_lsp.storage.records import (
    LoadedSession,
    SessionRecord,
    StoredMessage,
    check_session_id,
    message_row,
    now,
    to_db_time,
)
from nexus_lsp.storage.redact import Redactor
from nexus_lsp.storage.repair import repair_history
from nexus_lsp.storage.transcript import SessionFiles
from nexus_lsp.wire import CONTEXT_MD

__all__ = ["SessionStore"]

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0
FLUSH_ROWS = 500  # buffered rows that wake the flusher early
FLUSH_CHARS = 2_000_000  # ... or this much buffered text


class SessionStore:
    """Open with ``await SessionStore.open(root, settings.logging)``; close with aclose()."""

    def __init__(self, folder: FolderSetup, db: Database, logging: LoggingSettings,
                 known: set[str], flush_interval: float,
                 lease_seconds: float = lease.LEASE_SECONDS) -> None:
        self._folder = folder
        self._db = db
        self._logging = logging
        self._known = known  # session ids with a row (sinks for others are refused)
        self._running: set[str] = set()  # sessions with a turn running in this process
        self._flush_interval = flush_interval
        self._lease = lease.LeaseKeeper(db, lease_seconds)  # one writer per session
        self._redactor = Redactor()
        self._buffer = WriteBuffer()
        self._event_counts: dict[str, int] = {}  # events per session (sql.prune_over_retention)
        self._recorders: dict[str, SessionRecorder] = {}
        self._wake = asyncio.Event()
        self._closing = False
        self._closed = False
        self._close_task: asyncio.Task[None] | None = None
        self._flusher = asyncio.create_task(self._flush_loop(), name="nexus-store-flusher")
        self.grants = GrantStore(db)  # permission grants of the workspace (protocol v2 §1)

    @classmethod
    async def open(cls, workspace_root: Path, logging: LoggingSettings, *,
                   flush_interval: float = FLUSH_INTERVAL_S,
                   lease_seconds: float = lease.LEASE_SECONDS) -> SessionStore:
        """Open (creating or migrating) ``<workspace_root>/.nexus``.

        Raises :class:`~nexus_lsp.errors.StoreVersionError` for a store written by a
        newer nexus-lsp and :class:`~nexus_lsp.errors.NotANexusDatabase` for any
        other file at ``.nexus/nexus.db``; such files are never written to.
        """
        folder = FolderSetup(workspace_root)
        folder.prepare()
        try:
            db = await Database.open(folder.db_path)
        except BaseException:
            folder.undo()  # nothing left orphaned by a store that did not open
            raise
        try:
            rows = await db.fetchall("SELECT id FROM sessions")
        except BaseException:
            await db.close()
            raise
        known = {str(row[0]) for row in rows}
        return cls(folder, db, logging, known, flush_interval, lease_seconds)

    async def __aenter__(self) -> SessionStore:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._known)} sessions"
        return f"<SessionStore {self._folder.nexus_dir} {state}>"

    @property
    def nexus_dir(self) -> Path:
        return self._folder.nexus_dir

    @property
    def db_path(self) -> Path:
        return self._folder.db_path

    @property
    def logging(self) -> LoggingSettings:
        return self._logging

    def set_logging(self, logging: LoggingSettings) -> None:
        self._logging = logging
        for recorder in self._recorders.values():
            recorder.files.close_disabled()

    def session_dir(self, session_id: str) -> Path:
        return self._folder.sessions_dir / check_session_id(session_id)

    def transcript_path(self, session_id: str) -> Path:
        return self.session_dir(session_id) / CONTEXT_MD

    def answer_line(self, session_id: str, turn_id: int) -> int | None:
        """The 0-based line of the turn's answer in ``context.md`` (its end when it has
        none), if this store wrote that turn."""
        recorder = self._recorders.get(session_id)
        return None if recorder is None else recorder.answer_lines.get(turn_id)

    # -- sessions --------------------------------------------------------------------

    async def create_session(self, session_id: str, *, title: str, model: str,
                             system_prompt: str,
                             settings: dict[str, Any] | None = None,
                             parent_id: str | None = None) -> SessionRecord:
        folder = self.session_dir(session_id)
        self._check_open()
        try:
            settings_json = json.dumps(settings or {}, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"settings of session {session_id}: not JSON: {exc}") from exc
        title, model, system_prompt, settings_json = (
            self._redactor.text(t) for t in (title, model, system_prompt, settings_json))
        at = now()
        stamp = to_db_time(at)
        system = StoredMessage(0, 0, Message.system(system_prompt), True, stamp)

        row = (session_id, title, stamp, stamp, model, system_prompt, settings_json, parent_id)

        async def create() -> None:
            make_private_dir(self._folder.sessions_dir)
            created = make_private_dir(folder)
            try:
                await self._db.transaction(lambda db: sql.insert_session(
                    db, row, message_row(session_id, system)))
            except BaseException as exc:
                if created:  # no folder without its row
                    shutil.rmtree(folder, ignore_errors=True)
                if isinstance(exc.__cause__, sqlite3.IntegrityError):
                    raise StoreError(f"a session with id {session_id!r} exists already") from exc
                raise
            self._known.add(session_id)

        await self._db.locked(create)
        self._recorder(session_id).created(title, model, system_prompt, at)
        return SessionRecord(session_id, title, at, at, 0, "idle", model, parent_id)

    def sink(self, session_id: str) -> EventSink:
        """An event sink recording ``session_id``'s events. It never raises.

        For a user's prompt (``MessageAppended`` of role ``user``) it returns an
        awaitable that commits it: the session awaits it before the model request.
        Callers that ignore the return value lose nothing (it only runs if awaited).
        """
        if session_id not in self._known:
            raise UnknownSession(session_id)

        def record(event: SessionEvent) -> Awaitable[None] | None:
            kind = type(event)
            if (kind is ContentDelta or kind is ReasoningChanged) and not self._closed:
                # Thousands per answer: the shortest way, the rows come at the run's end.
                recorder = self._recorders.get(session_id)
                if recorder is not None and session_id in self._known:
                    try:
                        if recorder.delta(event):
                            if self._buffer.chars >= FLUSH_CHARS:
                                self._wake.set()
                            return None
                    except Exception:
                        log.exception("session %s: recording a %s event failed; the turn "
                                      "goes on", session_id, event.type)
                        return None
            if self._closed or session_id not in self._known:
                log.debug("session %s: %s event after close/delete dropped", session_id,
                          event.type)
                return None
            try:
                self._recorder(session_id).handle(event)
            except Exception:
                log.exception("session %s: recording a %s event failed; the turn goes on",
                              session_id, getattr(event, "type", "?"))
                return None
            if self._buffer.rows >= FLUSH_ROWS or self._buffer.chars >= FLUSH_CHARS:
                self._wake.set()
            if isinstance(event, MessageAppended) and event.message.role == "user":
                # The prompt is committed before the session asks the model: a kill
                # during the (long) first request must not lose what the user typed.
                return _Commit(self, session_id)
            return None

        return record

    async def commit_prompt(self, session_id: str) -> None:
        """Flush now (a prompt just arrived); a failure is logged, the turn goes on
        and the rows stay buffered for the next flush."""
        try:
            await self.flush()
        except Exception:
            log.warning("session %s: storing the prompt failed; retried at the next flush",
                        session_id, exc_info=True)

    def raw_logger(self, session_id: str) -> RawLogger:
        """Appends provider traffic to the session's ``raw.jsonl`` (keys redacted)."""
        check_session_id(session_id)

        def log_raw(kind: str, data: Any) -> None:
            if self._closed or session_id not in self._known:
                return
            try:
                self._recorder(session_id).files.raw(kind, data)
            except Exception:
                log.exception("session %s: raw log entry dropped", session_id)

        return log_raw

    async def list_sessions(self) -> list[SessionRecord]:
        """Every session, newest first. ``running``: a turn runs here or in another live
        process (its lease); a ``running`` row nobody runs any more → interrupted."""
        self._check_open()
        await self.flush()
        rows = await self._db.locked(lambda: self._db.fetchall(
            f"SELECT {sql.SESSION_COLUMNS}, owner, lease_expires FROM sessions"
            " ORDER BY updated_at DESC, rowid DESC"))
        at = now()
        return [self._record(row[:8], lease.Lease(row[8], row[9]), at) for row in rows]

    # -- leases: one writer per session across processes (lease.py) -----------------

    async def claim(self, session_id: str, known_messages: int) -> bool:
        """Take the session for a turn of this process.

        Raises :class:`~nexus_lsp.errors.SessionBusy` while another live process
        holds it. Returns True when the stored history is not the caller's
        (``known_messages`` long, system prompt included): another process wrote to
        it, or died mid-turn. Then the caller must load it again before writing, or
        its rows would take positions that are not its own.
        """
        self._check_open()

        async def run() -> bool:
            await self._flush_now()  # our own buffered rows count as known
            before, status, count = await self._lease.claim(session_id)
            interrupted = (status == "running" and session_id not in self._running
                           and before.owner != self._lease.owner)
            return count != known_messages or interrupted

        return await self._db.locked(run)

    async def changed_elsewhere(self, session_id: str, known_messages: int) -> bool:
        """Whether the stored history is no longer the caller's (``known_messages``
        long): another process wrote to the session. Raises SessionBusy while another
        process runs a turn in it, UnknownSession when it was deleted."""
        self._check_open()

        async def run() -> bool:
            await self._flush_now()
            rows = await self._db.fetchall(
                "SELECT owner, lease_expires, (SELECT count(*) FROM messages"
                " WHERE session_id = sessions.id) FROM sessions WHERE id = ?", (session_id,))
            if not rows:
                raise UnknownSession(session_id)
            held = lease.Lease(rows[0][0], rows[0][1])
            if self._lease.held_by_other(held, now()):
                raise SessionBusy(session_id, elsewhere=held.describe())
            return int(rows[0][2]) != known_messages

        return await self._db.locked(run)

    async def release(self, session_id: str) -> None:
        """Give the session back (its turn is over and flushed)."""
        if session_id in self._lease.held and not self._closed:
            await self._db.locked(lambda: self._lease.release([session_id]))

    async def load_session(self, session_id: str) -> LoadedSession:
        """The session's history; an interrupted turn is closed (and stored) first."""
        try:
            check_session_id(session_id)
        except StoreError:
            raise UnknownSession(session_id) from None
        self._check_open()
        await self.flush()
        return await self._db.locked(lambda: self._load(session_id))

    async def delete_session(self, session_id: str) -> bool:
        """Remove the session's rows (cascading) and its folder; False if there was none."""
        try:
            folder = self.session_dir(session_id)
        except StoreError:
            return False
        self._check_open()

        async def delete() -> bool:
            deleted = 0

            async def run(db: aiosqlite.Connection) -> None:
                nonlocal deleted
                with contextlib.suppress(UnknownSession):  # deleted already: fine
                    await lease.check_free(db, session_id, self._lease.owner, now())
                async with db.execute("DELETE FROM sessions WHERE id = ?", (session_id,)) as cur:
                    deleted = cur.rowcount

            await self._db.transaction(run)  # SessionBusy: another process runs it
            self._buffer.drop_session(session_id)
            self._known.discard(session_id)
            self._running.discard(session_id)
            self._lease.held.discard(session_id)
            self._event_counts.pop(session_id, None)
            recorder = self._recorders.pop(session_id, None)
            if recorder is not None:
                recorder.files.close()
            existed = folder.exists()
            if existed:
                try:
                    shutil.rmtree(folder)
                except OSError:
                    log.warning("cannot remove %s", folder, exc_info=True)
            return deleted > 0 or existed

        return await self._db.locked(delete)

    # -- for the checkpoints (nexus_lsp.checkpoints owns their SQL) -------------------

    async def write(self, body: Callable[[aiosqlite.Connection], Awaitable[None]]) -> None:
        """Run ``body`` in one write transaction of the store's connection, committed
        before this returns (the journal must be on disk before a change is made)."""
        self._check_open()
        await self._db.locked(lambda: self._db.transaction(body))

    async def read(self, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """The rows of a query, after everything buffered is written."""
        self._check_open()
        await self.flush()
        return await self._db.locked(lambda: self._db.fetchall(query, params))

    def note(self, session_id: str, markdown: str) -> None:
        """Append ``markdown`` to the session's ``context.md`` (e.g. a rewind)."""
        if session_id in self._known:
            self._recorder(session_id).files.write("context", markdown)

    # -- flushing and closing --------------------------------------------------------

    async def flush(self) -> None:
        """Write everything buffered in one transaction. Raises StoreError on failure
        (the rows stay buffered and are retried by the next flush)."""
        if self._closed:
            return
        await self._db.locked(self._flush_now)

    async def aclose(self) -> None:
        """Flush, stop the flusher, close the files and the connection. Idempotent."""
        if self._close_task is None:
            self._close_task = asyncio.create_task(self._close(), name="nexus-store-close")
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        self._closing = True
        self._wake.set()
        await asyncio.gather(self._flusher, return_exceptions=True)
        try:
            await self.flush()
        except Exception:
            log.exception("final flush of %s failed; buffered events are lost", self.db_path)
        try:  # others need not wait for the leases to expire
            await self._db.locked(lambda: self._lease.release(set(self._lease.held)))
        except Exception:
            log.warning("releasing the session leases in %s failed", self.db_path,
                        exc_info=True)
        self._closed = True
        for recorder in self._recorders.values():
            recorder.files.close()
        self._recorders.clear()
        await self._db.close()

    async def _flush_loop(self) -> None:
        failing = False
        while not self._closing:
            try:
                async with asyncio.timeout(self._flush_interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if self._closing:
                return
            await self._db.locked(self._lease.heartbeat)
            if not self._buffer and not any(r.has_run for r in self._recorders.values()):
                continue
            try:
                await self.flush()
            except Exception:
                # Logged once per failing spell, not every interval.
                if not failing:
                    log.exception("background flush of %s failed; retrying", self.db_path)
                failing = True
            else:
                if failing:
                    log.info("flushing %s works again", self.db_path)
                failing = False

    async def _flush_now(self) -> None:
        for recorder in self._recorders.values():
            recorder.close_run(flushing=not self._closing)  # closing: nothing follows
            recorder.files.flush()  # the transcripts: one write per file
        batch = self._buffer.take()
        if not batch:
            return
        try:
            try:
                await self._write(batch)
            except StoreError as exc:
                if not isinstance(exc.__cause__, sqlite3.IntegrityError):
                    raise
                # A session deleted by another store on this workspace: its rows
                # can never be written; drop them rather than fail every flush.
                await self._drop_deleted_sessions(batch)
                await self._write(batch)
        except BaseException:
            self._buffer.put_back(batch)
            raise

    async def _write(self, batch: WriteBuffer) -> None:
        retention = self._logging.event_retention

        async def body(db: aiosqlite.Connection) -> None:
            await self._lease.refuse_foreign_rows(db, batch)
            await sql.write_batch(db, batch, retention, self._event_counts)

        try:
            await self._db.transaction_in_thread(body)  # one round trip per flush
        except BaseException:
            self._event_counts.clear()  # rolled back: counts may be ahead of the rows
            raise

    async def _drop_deleted_sessions(self, batch: WriteBuffer) -> None:
        existing = {str(r[0]) for r in await self._db.fetchall("SELECT id FROM sessions")}
        for session_id in set(batch.sessions) - existing:
            log.warning("session %s was deleted elsewhere; its new events are dropped",
                        session_id)
            batch.drop_session(session_id)
            self._known.discard(session_id)
            self._running.discard(session_id)

    # -- helpers ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closing:
            raise StoreError(f"the session store {self.nexus_dir} is closed")

    def _recorder(self, session_id: str) -> SessionRecorder:
        recorder = self._recorders.get(session_id)
        if recorder is None:
            files = SessionFiles(self.session_dir(session_id), lambda: self._logging,
                                 self._redactor)
            recorder = self._recorders[session_id] = SessionRecorder(
                session_id, buffer=self._buffer, files=files, redactor=self._redactor,
                settings=lambda: self._logging, on_turn=self._on_turn)
        return recorder

    def _on_turn(self, session_id: str, running: bool) -> None:
        if running:
            self._running.add(session_id)
        else:
            self._running.discard(session_id)
            self._wake.set()  # a finished turn is flushed at once

    def _record(self, row: Any, held: lease.Lease, at: datetime) -> SessionRecord:
        return sql.session_record(row, running_here=row[0] in self._running,
                                  elsewhere=self._lease.held_by_other(held, at))

    async def _load(self, session_id: str) -> LoadedSession:
        row, stored = await sql.read_session(self._db, session_id)
        at = now()
        held = lease.Lease(row[10], row[11])
        if self._lease.held_by_other(held, at):
            raise SessionBusy(session_id, elsewhere=held.describe())
        record = self._record(row[:8], held, at)
        system_prompt, settings = str(row[8]), sql.json_object(row[9])
        self._known.add(session_id)
        if session_id in self._running:  # its turn runs here: nothing to repair
            return LoadedSession(record, system_prompt, [s.message for s in stored],
                                 frozenset(s.ord for s in stored if not s.in_context), False,
                                 settings)
        repair = repair_history(stored, system_prompt, to_db_time(at))
        interrupted_turn = record.turn_count if record.status == "interrupted" else None
        repaired = repair.changed or interrupted_turn is not None
        if repaired:
            for problem in repair.problems:
                log.warning("session %s: %s; repaired", session_id, problem)
            retention = self._logging.event_retention

            async def store(db: aiosqlite.Connection) -> None:
                # Checked again under the write lock: a process may have claimed it since.
                await lease.check_free(db, session_id, self._lease.owner, now())
                await sql.store_repair(db, session_id, repair, interrupted_turn,
                                       to_db_time(at), self._redactor, retention,
                                       self._lease.owner)

            await self._db.transaction(store)
            self._event_counts.pop(session_id, None)  # one event more: recount
            record = dataclasses.replace(record, status="idle", updated_at=at)
            self._recorder(session_id).resumed(repair, interrupted_turn, at)
        history = repair.messages
        return LoadedSession(record, system_prompt, [s.message for s in history],
                             frozenset(s.ord for s in history if not s.in_context), repaired,
                             settings)


class _Commit:
    """Awaitable that flushes the store; nothing runs unless it is awaited (a plain
    coroutine would warn when a synchronous caller of the sink drops it)."""

    __slots__ = ("_session_id", "_store")

    def __init__(self, store: SessionStore, session_id: str) -> None:
        self._store = store
        self._session_id = session_id

    def __await__(self) -> Generator[Any, None, None]:
        return self._store.commit_prompt(self._session_id).__await__()
