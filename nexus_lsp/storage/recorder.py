"""From session events to buffered rows and transcript entries.

One :class:`SessionRecorder` per session turns each event of
:mod:`nexus_lsp.core.events` into rows in the shared :class:`WriteBuffer` (written
by the store in one transaction per flush) and into ``context.md``/``verbose.md``
entries. Content and reasoning deltas are coalesced: a run of them becomes one
event row when something else happens (or at the next flush), never a row per
token. ``MessageAppended.index`` is stored as the message's ``ord``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from nexus_lsp.config import LoggingSettings
from nexus_lsp.core.events import (
    BatchEnded,
    BatchProgress,
    BatchStarted,
    CompactionEnded,
    CompactionStarted,
    ContentDelta,
    ContextTruncated,
    MessageAppended,
    ReasoningChanged,
    SessionEvent,
    ToolCallRequested,
    ToolCallStatus,
    ToolOutput,
    TurnEnded,
    TurnStarted,
    UsageReported,
)
from nexus_lsp.storage import markdown as md
from nexus_lsp.storage.raw_chunks import key_start
from nexus_lsp.storage.records import MessageRow, StoredMessage, message_row, now, to_db_time
from nexus_lsp.storage.redact import Redactor
from nexus_lsp.storage.repair import Repair
from nexus_lsp.storage.transcript import SessionFiles

__all__ = ["EventRow", "SessionRecorder", "SessionUpdate", "WriteBuffer"]

log = logging.getLogger(__name__)

EventRow = tuple[str, int, str, str, str]  # session_id, turn, type, data JSON, time


@dataclass
class SessionUpdate:
    """What a flush changes in a ``sessions`` row (the newest value wins)."""

    updated_at: str
    status: Literal["idle", "running"] | None = None
    turn_count: int = 0


@dataclass
class WriteBuffer:
    """Rows waiting for the next flush. The store swaps it out with :meth:`take`."""

    messages: list[MessageRow] = field(default_factory=list)
    out_of_context: list[tuple[str, int]] = field(default_factory=list)  # (session, ord)
    events: list[EventRow] = field(default_factory=list)
    sessions: dict[str, SessionUpdate] = field(default_factory=dict)
    chars: int = 0  # rough size, to flush early when large

    @property
    def rows(self) -> int:
        return len(self.messages) + len(self.out_of_context) + len(self.events)

    def __bool__(self) -> bool:
        return bool(self.rows or self.sessions)

    def touch(self, session_id: str, at: str, status: Literal["idle", "running"] | None = None,
              turn_count: int = 0) -> None:
        update = self.sessions.get(session_id)
        if update is None:
            self.sessions[session_id] = SessionUpdate(at, status, turn_count)
            return
        update.updated_at = max(update.updated_at, at)
        update.status = status or update.status
        update.turn_count = max(update.turn_count, turn_count)

    def take(self) -> WriteBuffer:
        taken = WriteBuffer(self.messages, self.out_of_context, self.events, self.sessions,
                            self.chars)
        self.messages, self.out_of_context, self.events = [], [], []
        self.sessions, self.chars = {}, 0
        return taken

    def put_back(self, older: WriteBuffer) -> None:
        """Return rows of a failed flush in front of what arrived since."""
        self.messages[:0] = older.messages
        self.out_of_context[:0] = older.out_of_context
        self.events[:0] = older.events
        for session_id, update in older.sessions.items():
            newer = self.sessions.get(session_id)
            self.sessions[session_id] = update if newer is None else SessionUpdate(
                max(update.updated_at, newer.updated_at),
                newer.status or update.status,
                max(update.turn_count, newer.turn_count),
            )
        self.chars += older.chars

    def drop_session(self, session_id: str) -> None:
        self.messages = [r for r in self.messages if r[0] != session_id]
        self.out_of_context = [r for r in self.out_of_context if r[0] != session_id]
        self.events = [r for r in self.events if r[0] != session_id]
        self.sessions.pop(session_id, None)


@dataclass
class _DeltaRun:
    kind: Literal["content", "reasoning"]
    turn: int
    started: datetime
    parts: list[str] = field(default_factory=list)


class SessionRecorder:
    """Records one session's events. Callers catch errors (see ``SessionStore.sink``)."""

    def __init__(
        self,
        session_id: str,
        *,
        buffer: WriteBuffer,
        files: SessionFiles,
        redactor: Redactor,
        settings: Callable[[], LoggingSettings],
        on_turn: Callable[[str, bool], None],
    ) -> None:
        self.session_id = session_id
        self.files = files
        self._buffer = buffer
        self._redactor = redactor
        self._settings = settings
        self._on_turn = on_turn  # (session_id, running)
        self._run: _DeltaRun | None = None
        self._started: dict[str, float] = {}  # "turn", "batch:N", tool call ids → monotonic
        # turn → 0-based line of its answer in context.md (editors open the transcript there)
        self.answer_lines: dict[int, int] = {}

    def created(self, title: str, model: str, system_prompt: str, at: datetime) -> None:
        self.files.write("context", md.header(self.session_id, title, model, at, system_prompt))
        self.files.flush()

    def resumed(self, repair: Repair, interrupted_turn: int | None, at: datetime) -> None:
        """Note a repair made by ``load_session`` in the transcript."""
        closed = [s for s in repair.added if s.message.role == "tool"]
        self.files.write("context", md.session_resumed(at, interrupted_turn, len(closed)))
        limit = self._settings().markdown_truncate
        for stored in closed:
            self.files.write("context", md.message(stored.ord, stored.message, at, limit))
        self.files.flush()

    def delta(self, event: SessionEvent) -> bool:
        """Record a streamed delta (what :meth:`handle` does with it); False if the
        event is not one (a reasoning change without text)."""
        if type(event) is ContentDelta:
            self._delta("content", event.turn_id, event.text)
            return True
        if type(event) is ReasoningChanged and event.text is not None:
            self._delta("reasoning", event.turn_id, event.text)
            return True
        return False

    def handle(self, event: SessionEvent) -> None:
        # Deltas first, and without a clock read: there are thousands per answer.
        if isinstance(event, ContentDelta):
            self._delta("content", event.turn_id, event.text)
            return
        if isinstance(event, ReasoningChanged) and event.text is not None:
            self._delta("reasoning", event.turn_id, event.text)
            return
        at = now()
        self.close_run()
        if isinstance(event, TurnStarted):
            self._turn_started(event, at)
        elif isinstance(event, MessageAppended):
            self._message(event, at)
        elif isinstance(event, ContextTruncated):
            self._buffer.out_of_context.extend((self.session_id, i) for i in event.indexes)
            self._event(event.turn_id, event.type, {"indexes": list(event.indexes)}, at)
            self.files.write("context", md.context_truncated(event.indexes, at))
        elif isinstance(event, ReasoningChanged):
            self._event(event.turn_id, event.type, {"active": event.active}, at)
        elif isinstance(event, ToolCallRequested):
            call = event.call
            data: dict[str, Any] = {"toolCallId": call.id, "name": call.name,
                                    "arguments": call.arguments}
            self._event(event.turn_id, event.type, data, at)
        elif isinstance(event, ToolCallStatus):
            self._tool_status(event, at)
        elif isinstance(event, ToolOutput):
            # run_command's output, as streamed: bounded by commands.maxStoredOutputBytes
            data = {"toolCallId": event.call.id, "text": event.text}
            self._event(event.turn_id, event.type, data, at)
        elif isinstance(event, BatchStarted):
            self._batch_started(event, at)
        elif isinstance(event, BatchProgress):
            result = event.result
            data = {"batchIndex": event.batch_index, "toolCallId": result.tool_call_id,
                    "status": result.status, "done": event.done, "total": event.total}
            self._event(event.turn_id, event.type, data, at)
        elif isinstance(event, BatchEnded):
            self._batch_ended(event, at)
        elif isinstance(event, TurnEnded):
            self._turn_ended(event, at)
        elif isinstance(event, UsageReported):
            self._event(event.turn_id, event.type, {
                "usedTokens": event.used_tokens, "contextTokens": event.context_tokens,
                "inputTokens": event.input_tokens, "outputTokens": event.output_tokens,
                "estimated": event.estimated}, at)
        elif isinstance(event, CompactionStarted):
            self._event(event.turn_id, event.type, {"tokensBefore": event.tokens_before}, at)
        elif isinstance(event, CompactionEnded):
            self._event(event.turn_id, event.type, {
                "tokensBefore": event.tokens_before, "tokensAfter": event.tokens_after,
                "summarised": len(event.indexes) if event.summary else 0,
                "fallback": event.fallback}, at)
            self.files.write("context", md.compaction_ended(event, at))
        else:
            log.debug("session %s: event %r not recorded", self.session_id, event)

    @property
    def has_run(self) -> bool:
        """Deltas are waiting to become an event row."""
        return self._run is not None

    def close_run(self, *, flushing: bool = False) -> None:
        """Turn the current run of deltas into one event row (at flushes, too).

        At a flush the run goes on: text at its end that may be the start of a key
        stays in the run, or the key's pieces would be stored in two rows, each
        redacted on its own, i.e. not at all.
        """
        run, self._run = self._run, None
        if run is None:
            return
        text = "".join(run.parts)
        if flushing and (start := key_start(text, self._redactor.secrets())) is not None:
            self._run = _DeltaRun(run.kind, run.turn, run.started, [text[start:]])
            if start == 0:
                return
            text = text[:start]
        data = {"text": text, "deltas": len(run.parts)}
        self._event(run.turn, run.kind, data, run.started)
        if run.kind == "reasoning":
            self.files.write("verbose", md.verbose_reasoning(run.started, text))
        else:
            self.files.write("verbose", md.verbose_stream(run.started, len(run.parts), len(text)))

    def _delta(self, kind: Literal["content", "reasoning"], turn: int, text: str) -> None:
        run = self._run
        if run is None or run.kind != kind or run.turn != turn:
            if run is not None:
                self.close_run()
            run = self._run = _DeltaRun(kind, turn, now())
        run.parts.append(text)
        self._buffer.chars += len(text)

    def _event(self, turn: int, kind: str, data: dict[str, Any], at: datetime) -> None:
        stamp = to_db_time(at)
        self._buffer.touch(self.session_id, stamp)
        if self._settings().event_retention <= 0:
            return
        line = self._redactor.json_line(data)
        self._buffer.events.append((self.session_id, turn, kind, line, stamp))
        self._buffer.chars += len(line)

    def _turn_started(self, event: TurnStarted, at: datetime) -> None:
        self._started["turn"] = time.monotonic()
        self._on_turn(self.session_id, True)
        self._buffer.touch(self.session_id, to_db_time(at), "running", event.turn_id)
        self._event(event.turn_id, event.type, {"prompt": event.prompt}, at)
        self.files.write("context", md.turn_started(event.turn_id, at))
        if event.attachments:
            self.files.write("context", md.attachments(event.attachments))
        self.files.write("verbose", md.verbose_turn_started(event.turn_id, at))

    def _answer_at(self, turn_id: int, offset: int, line: int) -> None:
        self.answer_lines[turn_id] = line + offset

    def _message(self, event: MessageAppended, at: datetime) -> None:
        stored = StoredMessage(event.index, event.turn_id, event.message, True, to_db_time(at))
        row = message_row(self.session_id, stored, self._redactor.text)
        self._buffer.messages.append(row)
        self._buffer.chars += len(row[4]) + len(row[5] or "")
        data = {"index": event.index, "role": event.message.role}
        self._event(event.turn_id, event.type, data, at)
        if event.index != 0:  # the system prompt heads the transcript already
            limit = self._settings().markdown_truncate
            started = None
            if event.message.role == "assistant" and event.message.content:
                # the text starts below the entry's heading and its blank line
                started = functools.partial(self._answer_at, event.turn_id, 2)
            self.files.write(
                "context", md.message(event.index, event.message, at, limit), started
            )
        self.files.write("verbose", md.verbose_message(at, event.index, event.message.role,
                                                       row[10]))

    def _tool_status(self, event: ToolCallStatus, at: datetime) -> None:
        call = event.call
        seconds = None
        if event.status == "running":
            self._started[call.id] = time.monotonic()
        else:
            seconds = self._elapsed(call.id)
        data = {"toolCallId": call.id, "name": call.name, "status": event.status,
                "error": event.error, "locations": list(event.locations),
                "outputChars": None if event.output is None else len(event.output),
                "seconds": seconds}
        self._event(event.turn_id, event.type, data, at)
        if event.status != "running":
            self.files.write("verbose", md.verbose_tool(at, call, event.status, seconds,
                                                        event.error))

    def _batch_started(self, event: BatchStarted, at: datetime) -> None:
        self._started[f"batch:{event.batch_index}"] = time.monotonic()
        ids = [c.id for c in event.calls]
        data = {"batchIndex": event.batch_index, "calls": ids, "parallel": event.parallel}
        self._event(event.turn_id, event.type, data, at)
        how = "in parallel" if event.parallel else "one after another"
        text = f"{len(ids)} call(s) {how}: " + ", ".join(c.name for c in event.calls)
        self.files.write("verbose", md.verbose_batch(at, event.batch_index, text))

    def _batch_ended(self, event: BatchEnded, at: datetime) -> None:
        seconds = self._elapsed(f"batch:{event.batch_index}")
        data = {"batchIndex": event.batch_index, "outcome": event.outcome,
                "haltedAt": event.halted_at, "seconds": seconds}
        self._event(event.turn_id, event.type, data, at)
        took = f" in {seconds:.3f} s" if seconds is not None else ""
        halted = f" at {event.halted_at}" if event.halted_at else ""
        text = f"{event.outcome}{halted}{took}"
        self.files.write("verbose", md.verbose_batch(at, event.batch_index, text))

    def _turn_ended(self, event: TurnEnded, at: datetime) -> None:
        self.files.release_chunks()  # no more chunks of this turn's streams
        result = event.result
        seconds = self._elapsed("turn")
        self._started.clear()
        data = {
            "stopReason": result.stop_reason,
            "contentChars": len(result.content),
            "toolCalls": [
                {"toolCallId": r.call.id, "name": r.call.name, "status": r.status,
                 "error": r.error}
                for r in result.tool_calls
            ],
            "usage": None if result.usage is None else {
                "inputTokens": result.usage.input_tokens,
                "outputTokens": result.usage.output_tokens,
            },
            "error": None if result.error is None else {
                "code": result.error.code, "message": result.error.message,
            },
            "seconds": seconds,
        }
        self._event(event.turn_id, event.type, data, at)
        self._buffer.touch(self.session_id, to_db_time(at), "idle", event.turn_id)
        started = None
        if not result.content:  # no answer (an error, a cancel before any text): its end
            started = functools.partial(self._answer_at, event.turn_id, 0)
        self.files.write("context", md.turn_ended(result, at), started)
        self.files.write("verbose", md.verbose_turn_ended(at, result, seconds))
        self.files.flush()  # the turn's transcript entries, one write per file
        self._on_turn(self.session_id, False)

    def _elapsed(self, key: str) -> float | None:
        started = self._started.pop(key, None)
        return None if started is None else round(time.monotonic() - started, 6)
