"""Session events → ``nexus/session/update`` notifications and ``$/progress``.

The one translation point of protocol §3 and §4. A :class:`TurnReporter` is the
event sink of one turn. It numbers every notification with the session's ``seq``,
sends exactly one ``turnEnd`` (a turn that dies without one gets a synthetic
``error`` end in :meth:`TurnReporter.close`), runs a ``before_batch`` hook (the
server flushes the store there, so the tool calls about to run are on disk before
they have effects; a crash mid-batch can then be repaired), and reports each tool batch as
work-done progress on a server-created token (begin, one report per finished tool,
end), plus the whole turn on the client's ``workDoneToken`` when the send carried one.

A running tool's output (``ToolOutput``, run_command) goes out as ``toolCallUpdate``
updates with ``status: "running"`` and an ``output`` chunk, coalesced the same way
per tool call; the final update adds the tool's details (``exitCode``, ``signal``,
``durationMs``, ``truncated``). ``toolCall`` updates carry the tool's ``toolKind``.

Content deltas that arrive within :data:`COALESCE_SECONDS` of each other go out as
one ``content`` notification (reasoning text likewise): any other event flushes the
pending text first, so order is kept and the concatenation of all ``content`` texts
is exactly the model's. The window opens on the leading edge: a delta arriving after
a quiet spell is sent at once (the editor shows the answer starting without waiting
out a window), and only the deltas that follow it within the window are coalesced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from nexus_lsp import wire
from nexus_lsp.core.cancel import CancellationToken, Cancelled, race
from nexus_lsp.core.events import (
    BatchEnded,
    BatchProgress,
    BatchStarted,
    CompactionEnded,
    CompactionStarted,
    ContentDelta,
    ReasoningChanged,
    SessionEvent,
    ToolCallRequested,
    ToolCallStatus,
    ToolOutput,
    TurnEnded,
    TurnStarted,
    UsageReported,
)
from nexus_lsp.core.messages import Usage

__all__ = ["COALESCE_SECONDS", "SeqCounter", "TurnReporter", "UpdateChannel", "usage_json"]

log = logging.getLogger(__name__)

COALESCE_SECONDS = 0.004
COALESCE_MAX_CHARS = 4096
OUTPUT_COALESCE_MAX_CHARS = 64 * 1024  # a command's output: bigger notifications, fewer
PROGRESS_CREATE_TIMEOUT = 10.0
_clock = time.monotonic  # the coalescing window's clock (tests replace it)

ProgressToken = int | str


class UpdateChannel(Protocol):
    """What a reporter needs of the client connection (``lsp/channel.py``)."""

    @property
    def progress_supported(self) -> bool: ...

    def notify_update(self, params: dict[str, Any]) -> None: ...

    async def create_progress(self, token: ProgressToken) -> None: ...

    def begin_progress(self, token: ProgressToken, title: str, message: str | None) -> None: ...

    def report_progress(self, token: ProgressToken, message: str, percentage: int) -> None: ...

    def end_progress(self, token: ProgressToken, message: str) -> None: ...

    def on_progress_cancel(self, token: ProgressToken, callback: Callable[[], None]) -> None: ...


class SeqCounter:
    """Per-session ``seq``: +1 per notification, across the turns of a session."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def next(self, session_id: str) -> int:
        value = self._last.get(session_id, 0) + 1
        self._last[session_id] = value
        return value

    def forget(self, session_id: str) -> None:
        self._last.pop(session_id, None)


def usage_json(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    out = {"inputTokens": usage.input_tokens, "outputTokens": usage.output_tokens}
    cleaned = {k: v for k, v in out.items() if v is not None}
    return cleaned or None


class TurnReporter:
    """The event sink of one turn of one session."""

    def __init__(
        self,
        channel: UpdateChannel,
        session_id: str,
        seq: SeqCounter,
        cancel_token: CancellationToken,
        *,
        new_progress_token: Callable[[], ProgressToken],
        to_uri: Callable[[str], str],
        work_done_token: ProgressToken | None = None,
        before_batch: Callable[[], Awaitable[None]] | None = None,
        usage_updates: bool = False,
    ) -> None:
        self._channel = channel
        self._before_batch = before_batch
        self.session_id = session_id
        self._seq = seq
        self._cancel_token = cancel_token
        self._new_progress_token = new_progress_token
        self._to_uri = to_uri
        self._work_done_token = work_done_token
        self.turn_id: int | None = None
        self.ended = False
        self._pending_kind = wire.UPDATE_CONTENT
        self._pending_text: list[str] = []
        self._pending_chars = 0
        self._flush_handle: asyncio.TimerHandle | None = None
        self._last_flush = -COALESCE_SECONDS  # _clock() when text was last sent
        self._batch_tokens: dict[int, ProgressToken] = {}
        self._usage_updates = usage_updates  # the client declared clientFeatures.usage
        self._output_call: tuple[str, str] | None = None  # (id, name) of the pending output

    async def __call__(self, event: SessionEvent) -> None:
        if isinstance(event, ContentDelta):
            self._buffer(wire.UPDATE_CONTENT, event.text)
            return
        if isinstance(event, ReasoningChanged) and event.active and event.text is not None:
            self._buffer(wire.UPDATE_REASONING, event.text)
            return
        if isinstance(event, ToolOutput):
            output_call = (event.call.id, event.call.name)
            if self._output_call != output_call:
                self.flush()
                self._output_call = output_call
            self._buffer(wire.UPDATE_TOOL_CALL_UPDATE, event.text)
            return
        self.flush()
        if isinstance(event, TurnStarted):
            self._turn_started(event)
        elif isinstance(event, ReasoningChanged):
            extra: dict[str, Any] = {"active": event.active}
            if event.text is not None:
                extra["text"] = event.text
            self._update(wire.UPDATE_REASONING, extra)
        elif isinstance(event, ToolCallRequested):
            call = event.call
            extra = {"toolCallId": call.id, "name": call.name, "arguments": call.arguments,
                     "status": "pending"}
            if event.tool_kind is not None:
                extra[wire.FIELD_TOOL_KIND] = event.tool_kind
            self._update(wire.UPDATE_TOOL_CALL, extra)
        elif isinstance(event, ToolCallStatus):
            self._tool_call_update(event)
        elif isinstance(event, BatchStarted):
            await self._batch_started(event)
        elif isinstance(event, BatchProgress):
            self._batch_progress(event)
        elif isinstance(event, BatchEnded):
            self._batch_ended(event)
        elif isinstance(event, TurnEnded):
            self._turn_ended(event.result.stop_reason, usage_json(event.result.usage))
        elif isinstance(event, UsageReported):
            if self._usage_updates:
                self._update(wire.UPDATE_USAGE, _usage_update(event))
        elif isinstance(event, CompactionStarted):
            self._update(wire.UPDATE_COMPACTION, {
                "phase": wire.COMPACTION_START, "tokensBefore": event.tokens_before})
        elif isinstance(event, CompactionEnded):
            self._update(wire.UPDATE_COMPACTION, _compaction_end(event))

    def adopt(self, turn_id: int) -> None:
        """Report events outside a turn (a forced compaction) under ``turn_id``."""
        self.turn_id = turn_id
        self.ended = True  # no turnStart was sent: close() must not invent a turnEnd

    def close(self) -> None:
        """End what is still open: a turn that never sent ``turnEnd`` ends in error."""
        self.flush()
        for index in list(self._batch_tokens):
            self._end_batch(index, "cancelled")
        if self.turn_id is not None and not self.ended:
            log.warning("turn %s of %s ended without turnEnd", self.turn_id, self.session_id)
            self._turn_ended("error", None)

    # delta coalescing ---------------------------------------------------------

    def _buffer(self, kind: str, text: str) -> None:
        if not text:
            return
        if self._pending_kind != kind:
            self.flush()
            self._pending_kind = kind
        self._pending_text.append(text)
        self._pending_chars += len(text)
        quiet = self._flush_handle is None and (
            _clock() - self._last_flush >= COALESCE_SECONDS)
        most = OUTPUT_COALESCE_MAX_CHARS if kind == wire.UPDATE_TOOL_CALL_UPDATE else (
            COALESCE_MAX_CHARS)
        if quiet or self._pending_chars >= most:
            self.flush()
        elif self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(COALESCE_SECONDS, self.flush)

    def flush(self) -> None:
        """Send the pending deltas (content or reasoning text) as one notification."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._pending_text:
            return
        text = "".join(self._pending_text)
        kind = self._pending_kind
        self._pending_text.clear()
        self._pending_chars = 0
        self._last_flush = _clock()
        if kind == wire.UPDATE_REASONING:
            self._update(kind, {"active": True, "text": text})
        elif kind == wire.UPDATE_TOOL_CALL_UPDATE and self._output_call is not None:
            call_id, name = self._output_call
            self._update(kind, {"toolCallId": call_id, "name": name, "status": "running",
                                "output": text})
        else:
            self._update(wire.UPDATE_CONTENT, {"text": text})

    # notifications ------------------------------------------------------------

    def _update(self, kind: str, extra: dict[str, Any]) -> None:
        if self.turn_id is None:
            log.warning("%s event before turnStart in %s; dropped", kind, self.session_id)
            return
        params = {
            "sessionId": self.session_id,
            "turnId": self.turn_id,
            "seq": self._seq.next(self.session_id),
            "kind": kind,
            **extra,
        }
        try:
            self._channel.notify_update(params)
        except Exception:
            log.exception("could not send %s update", kind)

    def _turn_started(self, event: TurnStarted) -> None:
        self.turn_id = event.turn_id
        extra: dict[str, Any] = {"prompt": event.prompt}
        if event.attachments:
            extra["attachments"] = list(event.attachments)
        self._update(wire.UPDATE_TURN_START, extra)
        token = self._work_done_token
        if token is not None:
            self._channel.on_progress_cancel(token, self._progress_cancelled)
            self._channel.begin_progress(token, "Nexus", _excerpt(event.prompt))

    def _turn_ended(self, stop_reason: str, usage: dict[str, int] | None) -> None:
        if self.ended:
            return
        extra: dict[str, Any] = {"stopReason": stop_reason}
        if usage:
            extra["usage"] = usage
        self._update(wire.UPDATE_TURN_END, extra)
        self.ended = True
        if self._work_done_token is not None:
            self._channel.end_progress(self._work_done_token, _ended_message(stop_reason))

    def _tool_call_update(self, event: ToolCallStatus) -> None:
        extra: dict[str, Any] = {
            "toolCallId": event.call.id,
            "name": event.call.name,
            "status": event.status,
        }
        if event.output is not None:
            extra["output"] = event.output
        if event.error is not None:
            extra["error"] = event.error
        if event.locations:
            extra["locations"] = [{"uri": self._to_uri(path)} for path in event.locations]
        if event.details:
            extra.update(event.details)
        self._update(wire.UPDATE_TOOL_CALL_UPDATE, extra)

    # progress -----------------------------------------------------------------

    def _progress_cancelled(self) -> None:
        log.info("progress cancelled by the client: cancelling the turn of %s", self.session_id)
        self._cancel_token.cancel("cancelled from the editor's progress")

    async def _batch_started(self, event: BatchStarted) -> None:
        if self._before_batch is not None:
            try:
                await self._before_batch()
            except Exception:
                log.exception("before-batch hook failed; the batch runs anyway")
        if not self._channel.progress_supported or self._cancel_token.cancelled:
            return
        token = self._new_progress_token()
        try:
            await race(
                asyncio.wait_for(self._channel.create_progress(token), PROGRESS_CREATE_TIMEOUT),
                self._cancel_token,
            )
        except Cancelled:
            return
        except Exception as exc:  # the client refused or never answered: no progress
            log.warning("window/workDoneProgress/create failed: %s", exc or type(exc).__name__)
            return
        self._batch_tokens[event.batch_index] = token
        self._channel.on_progress_cancel(token, self._progress_cancelled)
        names = [call.name for call in event.calls]
        mode = "parallel" if event.parallel and len(names) > 1 else "sequential"
        title = f"Nexus: batch {event.batch_index + 1} ({_count(len(names))}, {mode})"
        self._channel.begin_progress(token, title, ", ".join(names))

    def _batch_progress(self, event: BatchProgress) -> None:
        token = self._batch_tokens.get(event.batch_index)
        if token is None:
            return
        result = event.result
        percentage = event.done * 100 // event.total if event.total else 100
        message = f"{result.name}: {result.status} ({event.done}/{event.total})"
        self._channel.report_progress(token, message, percentage)

    def _batch_ended(self, event: BatchEnded) -> None:
        if event.outcome == "halted":
            message = f"halted at {event.halted_at or 'a failed tool'}"
        else:
            message = event.outcome
        self._end_batch(event.batch_index, message)

    def _end_batch(self, index: int, message: str) -> None:
        token = self._batch_tokens.pop(index, None)
        if token is not None:
            self._channel.end_progress(token, message)


def _usage_update(event: UsageReported) -> dict[str, Any]:
    out: dict[str, Any] = {
        "usedTokens": event.used_tokens,
        "contextTokens": event.context_tokens,
        "inputTokens": event.input_tokens,
        "outputTokens": event.output_tokens,
        "costUsd": None,  # the contract's field; no prices are known to the server
    }
    if event.estimated:
        out["estimated"] = True
    return out


def _compaction_end(event: CompactionEnded) -> dict[str, Any]:
    out: dict[str, Any] = {
        "phase": wire.COMPACTION_END,
        "tokensBefore": event.tokens_before,
        "tokensAfter": event.tokens_after,
        "summary": event.summary,
    }
    if event.fallback is not None:
        out["fallback"] = event.fallback
    return out


def _count(n: int) -> str:
    return "1 tool" if n == 1 else f"{n} tools"


def _excerpt(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _ended_message(stop_reason: str) -> str:
    return {
        "endTurn": "done",
        "maxIterations": "stopped: too many iterations",
        "cancelled": "cancelled",
        "error": "failed",
    }.get(stop_reason, stop_reason)
