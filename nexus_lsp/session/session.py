"""Session: one conversation with a model, run one turn at a time.

A turn (:meth:`Session.send`) goes:

1. append the user message; 2. fit the context to the budget; 3. stream the
model's answer (text and reasoning are emitted as they arrive); 4. if it asked
for tools, run them as a :class:`~nexus_lsp.session.batch.ToolBatch` and go back
to 2 — at most ``session.maxIterations`` times; 5. emit ``TurnEnded`` and return
the :class:`~nexus_lsp.core.events.TurnResult`.

Three modes: ``use_context=False`` answers the prompt alone (system prompt plus
prompt, nothing kept in the history); ``use_tools=False`` is a multi-turn chat
without tools; the default is multi-turn with the tool loop.

Cancellation (``cancel_token`` or :meth:`Session.cancel`) is awaited, not polled:

- during the stream, the provider's HTTP response is closed at once; the text
  streamed so far is kept in the history as an assistant message marked
  ``cancelled``;
- during a batch, the session stops waiting for the running tools: each is
  interrupted at its current ``await``, but work already handed to a worker thread
  (a file read or write, a skill's ``run_blocking``) runs to its end and its result
  is dropped; every call without a result is answered ``cancelled``;
- the turn then ends with stop reason ``cancelled``, and the history is valid for
  the next ``send``.

Provider failures (after the provider's retries) and a stream that ends without
completing end the turn with stop reason ``error``; so does any other exception
(code ``internal``), so that no failure leaves the session unusable. None is
raised. The text streamed before such a failure is kept, marked ``interrupted``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nexus_lsp.config import PermissionMode, SessionSettings
from nexus_lsp.core.attachments import Attachment, render_prompt
from nexus_lsp.core.cancel import CancellationToken, Cancelled, race
from nexus_lsp.core.events import (
    ContentDelta,
    ContextTruncated,
    EventSink,
    MessageAppended,
    ReasoningChanged,
    SessionEvent,
    StopReason,
    ToolCallRecord,
    ToolCallRequested,
    TurnEnded,
    TurnError,
    TurnResult,
    TurnStarted,
)
from nexus_lsp.core.messages import Message, ToolCall, ToolResult, Usage
from nexus_lsp.core.stream import ReasoningDelta, StreamComplete, TextDelta
from nexus_lsp.errors import ProviderError, SessionBusy, ToolsUnavailable
from nexus_lsp.permissions.gate import EDITS_MAY_CONFIRM, PermissionGate, ToolFacts
from nexus_lsp.providers.base import Provider
from nexus_lsp.session.batch import Authorize, ToolBatch
from nexus_lsp.session.callbacks import SessionCallbacks
from nexus_lsp.session.compaction import CompactionOutcome, compact_and_report
from nexus_lsp.session.context import Context, usage_event
from nexus_lsp.session.diagnostics import DiagnosticsWatch
from nexus_lsp.skills.base import Skill, SkillRegistry, strip_session_arguments

__all__ = ["Session", "ToolSource", "new_session_id"]

# (session id, turn id, the turn's token) → the extra skills of this turn (MCP tools).
ToolSource = Callable[[str, int, CancellationToken], Awaitable[Sequence[Skill[Any]]]]

log = logging.getLogger(__name__)


def new_session_id() -> str:
    """Sortable by creation time, unique enough for one workspace."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass
class _Turn:
    """What one turn has gathered so far."""

    id: int
    context: Context
    token: CancellationToken
    persistent: bool
    text: list[str] = field(default_factory=list)  # the current model answer's deltas
    last_text: str = ""
    records: list[ToolCallRecord] = field(default_factory=list)
    usage: Usage | None = None
    reasoning: bool = False
    batch: ToolBatch | None = None  # the batch running now, if any
    closing: bool = False  # past its last model call: steered prompts are queued


class Session:
    """A conversation: its context, its provider and skills, and its turns."""

    def __init__(
        self,
        *,
        provider: Provider,
        settings: SessionSettings,
        system_prompt: str = "",
        registry: SkillRegistry | None = None,
        session_id: str | None = None,
        title: str = "",
        history: Sequence[Message] = (),
        out_of_context: Sequence[int] = (),
        turn_count: int = 0,
        created_at: datetime | None = None,
        permissions: PermissionGate | None = None,
        tool_source: ToolSource | None = None,
    ) -> None:
        self.id = session_id or new_session_id()
        # More tools, asked for at the start of each turn with tools (MCP servers):
        # they replace the registry's "mcp" group and the tools the model is offered.
        self.tool_source = tool_source
        # The permission gate (protocol v2 §1); None runs every tool unasked (tests, tools
        # the caller trusts). ``mode`` is this session's mode (nexus/session/setMode);
        # None follows the setting.
        self.permissions = permissions
        self.mode: PermissionMode | None = None
        self.title = title
        self.created_at = created_at or datetime.now(UTC)
        self.provider = provider
        self.settings = settings
        self.registry = registry
        self.context = Context(
            system_prompt,
            budget_tokens=settings.context_tokens,
            history=history,
            out_of_context=out_of_context,
            tools=registry.definitions() if registry else (),
        )
        self.turn_count = turn_count
        self.callbacks = SessionCallbacks()
        # The editor's diagnostics after edits (protocol v2 §4), when a door gives them.
        self.diagnostics: DiagnosticsWatch | None = None
        self._sinks: list[EventSink] = []
        self._turn: _Turn | None = None
        self._compacting = False
        self._steered: list[str] = []  # prompts waiting to join the running turn
        self.leftover: list[str] = []  # steered prompts the turn ended without

    def __repr__(self) -> str:
        state = f"running turn {self._turn.id}" if self._turn else "idle"
        return (
            f"<Session {self.id} {state}, {self.turn_count} turns, "
            f"{len(self.context)} messages, model {self.provider.model!r}>"
        )

    @property
    def running(self) -> bool:
        return self._turn is not None or self._compacting

    def steer(self, prompt: str) -> int | None:
        """Let ``prompt`` join the running turn before its next model call.

        Returns the turn's id, or None when no turn can take it (none runs, or it is
        past its last model call): the caller queues it instead. A prompt taken here
        that the turn ends without is left in :attr:`leftover` for the caller.
        """
        turn = self._turn
        if turn is None or turn.closing or not turn.persistent:
            return None
        self._steered.append(prompt)
        return turn.id

    def take_leftover(self) -> list[str]:
        leftover, self.leftover = self.leftover, []
        return leftover

    async def compact(self, cancel_token: CancellationToken | None = None) -> CompactionOutcome:
        """Compact the context now, between turns (``nexus/session/compact``)."""
        if self.running:
            raise SessionBusy(self.id)
        self._compacting = True
        try:
            return await self._compact(
                self.turn_count, self.context, cancel_token or CancellationToken()
            )
        finally:
            self._compacting = False

    @property
    def history(self) -> list[Message]:
        return self.context.messages

    def add_sink(self, sink: EventSink) -> Callable[[], None]:
        """Receive every event; returns a function that stops it."""
        self._sinks.append(sink)
        return lambda: self._sinks.remove(sink) if sink in self._sinks else None

    def cancel(self, reason: str = "cancelled") -> bool:
        """Cancel the running turn; False when none runs."""
        return self._turn.token.cancel(reason) if self._turn else False

    async def add_cancelled_tools(self, calls: Sequence[ToolCall]) -> list[int]:
        """Answer tool calls cancelled from outside the session (e.g. by a UI).

        Each of ``calls`` still without a result in the history gets a ``cancelled``
        result; returns the history indexes written. Each result goes out as a
        ``MessageAppended`` of the last turn, like any other message, so the store
        keeps it (``nexus.db`` and ``context.md``). Not allowed while a turn runs.
        """
        if self._turn is not None:
            raise SessionBusy(self.id)
        pending = {call_id for _, call_id, _ in self.context.pending_tool_calls()}
        written: list[int] = []
        for call in calls:
            if call.id in pending:
                pending.discard(call.id)  # the same call twice gets one result
                result = ToolResult(
                    call.id, call.name, status="cancelled",
                    error=f"{call.name}: cancelled: cancelled by the user",
                )
                message = result.to_message()
                index = self.context.append(message)
                written.append(index)
                await self._emit(MessageAppended(self.turn_count, index, message))
        return written

    async def send(
        self,
        prompt: str,
        *,
        cancel_token: CancellationToken | None = None,
        use_tools: bool | None = None,
        use_context: bool = True,
        attachments: Sequence[Attachment] = (),
    ) -> TurnResult:
        """Run one turn. ``use_tools`` defaults to whether the session has skills.

        ``attachments`` reach the model as a block before the prompt (protocol v2 §4).
        """
        if self.running:
            raise SessionBusy(self.id)
        if use_tools is None:
            use_tools = self.registry is not None
        if use_tools and self.registry is None:
            raise ToolsUnavailable(
                f"session {self.id} has no skill registry; send with use_tools=False"
            )
        context = self.context if use_context else Context(
            self.context.system_prompt,
            budget_tokens=self.settings.context_tokens,
            tools=self.context.tools,
        )
        turn = _Turn(
            self.turn_count + 1, context, cancel_token or CancellationToken(), use_context
        )
        self._turn = turn
        self.turn_count = turn.id
        try:
            await self._emit(TurnStarted(turn.id, prompt, tuple(a.label for a in attachments)))
            await self._append(turn, Message.user(render_prompt(prompt, attachments)))
            stop, error = await self._loop(turn, use_tools)
        except asyncio.CancelledError:
            # The task running this turn was cancelled (e.g. pygls on $/cancelRequest):
            # close the turn as a cancel would, so the history stays valid and
            # TurnEnded still goes out, then let the cancellation continue.
            turn.token.cancel("the turn's task was cancelled")
            await self._close_interrupted(turn)
            await self._end(turn, "cancelled", None)
            raise
        except Exception as exc:
            # A bug or an unforeseen failure (building a request, running a step) must
            # end this turn, not the session: close it like a provider error would.
            log.exception("turn %d of session %s failed unexpectedly", turn.id, self.id)
            stop, error = "error", TurnError("internal", _describe(exc))
            await self._close_after_failure(turn)
        finally:
            turn.closing = True
            self.leftover.extend(self._steered)
            self._steered.clear()
            self._turn = None
        return await self._end(turn, stop, error)

    async def _close_after_failure(self, turn: _Turn) -> None:
        """Leave a valid history after an unexpected failure, whatever it broke."""
        try:
            await self._close_interrupted(turn, failed=True)
        except Exception:
            log.exception("turn %d of session %s: closing it failed too", turn.id, self.id)

    async def _end(self, turn: _Turn, stop: StopReason, error: TurnError | None) -> TurnResult:
        result = TurnResult(
            self.id, turn.id, stop, turn.last_text, tuple(turn.records), turn.usage, error
        )
        await self._emit(TurnEnded(turn.id, result))
        return result

    async def _close_interrupted(self, turn: _Turn, *, failed: bool = False) -> None:
        """Keep the partial answer and answer every tool call left without a result."""
        if turn.text:
            await self._keep_partial_answer(turn, interrupted=failed)
        finished = turn.batch.finished if turn.batch else {}
        why = (
            "interrupted: the turn failed before this tool call finished" if failed
            else "cancelled: the turn was cancelled before it finished"
        )
        for index, call_id, name in turn.context.pending_tool_calls():
            call = next(c for c in turn.context.messages[index].tool_calls if c.id == call_id)
            result = finished.get(call_id) or ToolResult(
                call_id, name, status="cancelled", error=f"{name}: {why}"
            )
            turn.records.append(ToolCallRecord(call, result.status, result.error))
            await self._append(turn, result.to_message())

    async def _loop(self, turn: _Turn, use_tools: bool) -> tuple[StopReason, TurnError | None]:
        if use_tools and self.tool_source is not None:
            try:
                await race(self._refresh_tools(turn), turn.token)
            except Cancelled:
                return "cancelled", None
        tools = turn.context.tools if use_tools else []
        for iteration in range(self.settings.max_iterations):
            await self._take_steered(turn)
            if (turn.persistent and turn.context.over(self.settings.compact_at)
                    and turn.context.compaction_plan(self.settings.keep_recent_exchanges)):
                await self._compact(turn.id, turn.context, turn.token)
                if turn.token.cancelled:
                    return "cancelled", None
            dropped = turn.context.truncate()
            if dropped and turn.persistent:
                await self._emit(ContextTruncated(turn.id, dropped))
            request = turn.context.request_messages()
            history_length = len(turn.context)
            if iteration == self.settings.max_iterations - 1:
                turn.closing = True  # no model call after this one: steer queues instead
            try:
                complete = await race(self._stream(turn, request, tools), turn.token)
            except Cancelled:
                await self._keep_partial_answer(turn)
                return "cancelled", None
            except ProviderError as exc:
                log.warning("turn %d of session %s: %s", turn.id, self.id, exc)
                await self._keep_partial_answer(turn, interrupted=True)
                return "error", TurnError(exc.code, str(exc))
            if complete is None:
                log.error(
                    "turn %d of session %s: the model stream ended without completing",
                    turn.id, self.id,
                )
                await self._keep_partial_answer(turn, interrupted=True)
                return "error", TurnError(
                    "providerProtocol", "the model's stream ended before the answer was complete"
                )
            turn.text = []  # the answer is complete: it goes in as a whole message
            turn.context.record_usage(complete.usage, history_length)
            turn.usage = _add_usage(turn.usage, complete.usage)
            message = complete.message
            turn.last_text = message.content
            await self._append(turn, message)
            await self._report_usage(turn, request, complete)
            if not message.tool_calls:
                if self._steered and not turn.closing:
                    continue  # a steered prompt arrived: the turn goes on with it
                return "endTurn", None
            for call in message.tool_calls:
                kind = self.registry.kind_of(call.name) if self.registry else None
                await self._emit(ToolCallRequested(turn.id, call, kind))
            mode = self.permission_mode
            # Whether the editor may still ask about an edit (edits.confirm): default only.
            EDITS_MAY_CONFIRM.set(mode == "default")
            batch = ToolBatch(
                message.tool_calls,
                registry=self.registry if use_tools else None,
                turn_id=turn.id,
                index=iteration,
                max_parallel=self.settings.max_parallel_tools,
                emit=self._emit,
                authorize=self._authorizer(turn.id, mode) if use_tools else None,
            )
            turn.batch = batch
            watch = self.diagnostics if turn.persistent and use_tools else None
            baseline = await watch.before(message.tool_calls, turn.token) if watch else None
            results, outcome = await batch.run(turn.token)
            turn.batch = None
            if watch is not None and baseline is not None and outcome != "cancelled":
                results = await watch.after(baseline, message.tool_calls, results, turn.token)
            for call, result in zip(message.tool_calls, results, strict=True):
                turn.records.append(ToolCallRecord(call, result.status, result.error))
                await self._append(turn, result.to_message())
            if outcome == "cancelled":
                return "cancelled", None
        return "maxIterations", None

    async def _take_steered(self, turn: _Turn) -> None:
        """Steered prompts join the turn as user messages, before the model call."""
        while self._steered:
            await self._append(turn, Message.user(self._steered.pop(0)))

    async def _report_usage(
        self, turn: _Turn, request: list[Message], complete: StreamComplete
    ) -> None:
        await self._emit(usage_event(
            turn.id, turn.context, request, complete, self.settings.context_tokens))

    async def _compact(
        self, turn_id: int, context: Context, token: CancellationToken
    ) -> CompactionOutcome:
        return await compact_and_report(
            self.provider, context, self.settings.keep_recent_exchanges, token,
            turn_id=turn_id, emit=self._emit,
        )

    async def _refresh_tools(self, turn: _Turn) -> None:
        """The tool source's skills for this turn (its failure costs only its tools)."""
        assert self.tool_source is not None and self.registry is not None
        try:
            extra = await self.tool_source(self.id, turn.id, turn.token)
        except (Cancelled, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("session %s: listing the MCP tools failed", self.id)
            extra = []
        if not extra and not self.registry.group("mcp"):
            return  # nothing was or is offered: the tools stay as they are
        clashes = self.registry.replace_group("mcp", extra)
        if clashes:
            log.warning("session %s: tools left out (name taken): %s", self.id, clashes)
        definitions = self.registry.definitions()
        self.context.tools = definitions
        turn.context.tools = list(definitions)

    @property
    def permission_mode(self) -> PermissionMode:
        """This session's mode, else the setting's (``default`` without a gate)."""
        if self.mode is not None:
            return self.mode
        return self.permissions.default_mode if self.permissions else "default"

    def _authorizer(self, turn_id: int, mode: PermissionMode) -> Authorize | None:
        gate, registry = self.permissions, self.registry
        if gate is None or registry is None:
            return None

        async def authorize(call: ToolCall, token: CancellationToken) -> str | None:
            skill = registry.skill(call.name)
            if skill is None or call.arguments_error is not None:
                return None  # the registry answers these with their own error
            arguments = strip_session_arguments(call.arguments)
            facts = ToolFacts(skill.kind, skill.subject(arguments), skill.title(arguments),
                              arguments, skill.other_subjects(arguments))
            return await gate.check(session_id=self.id, turn_id=turn_id, mode=mode, call=call,
                                    facts=facts, token=token)

        return authorize

    async def _stream(
        self, turn: _Turn, request: list[Message], tools: Sequence[object]
    ) -> StreamComplete | None:
        """Consume one model stream, emitting deltas; None if it never completed."""
        turn.text = []
        definitions = turn.context.tools if tools else []
        async for event in self.provider.stream(request, definitions, turn.token):
            if isinstance(event, TextDelta):
                await self._end_reasoning(turn)
                turn.text.append(event.text)
                await self._emit(ContentDelta(turn.id, event.text))
            elif isinstance(event, ReasoningDelta):
                if not turn.reasoning:
                    turn.reasoning = True
                    await self._emit(ReasoningChanged(turn.id, True))
                await self._emit(ReasoningChanged(turn.id, True, event.text))
            elif isinstance(event, StreamComplete):
                await self._end_reasoning(turn)
                return event
        await self._end_reasoning(turn)
        return None

    async def _end_reasoning(self, turn: _Turn) -> None:
        if turn.reasoning:
            turn.reasoning = False
            await self._emit(ReasoningChanged(turn.id, False))

    async def _keep_partial_answer(self, turn: _Turn, *, interrupted: bool = False) -> None:
        """Keep what the model had said when its stream was cut: marked ``cancelled``
        when a cancel cut it, ``interrupted`` when an error did."""
        await self._end_reasoning(turn)
        text = "".join(turn.text)
        turn.text = []
        if text or (turn.token.cancelled and not interrupted):
            turn.last_text = text
            await self._append(turn, Message(
                role="assistant", content=text,
                cancelled=not interrupted, interrupted=interrupted,
            ))

    async def _append(self, turn: _Turn, message: Message) -> None:
        index = turn.context.append(message)
        if turn.persistent:
            await self._emit(MessageAppended(turn.id, index, message))

    async def _emit(self, event: SessionEvent) -> None:
        self.callbacks.dispatch(event)
        for sink in tuple(self._sinks):
            try:
                outcome = sink(event)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("session event sink %r raised on %s; ignored", sink, event.type)


def _describe(exc: Exception) -> str:
    detail = str(exc)
    name = type(exc).__name__
    return f"the turn failed: {name}: {detail}" if detail else f"the turn failed: {name}"


def _add_usage(total: Usage | None, more: Usage | None) -> Usage | None:
    if more is None:
        return total
    return more if total is None else total + more
