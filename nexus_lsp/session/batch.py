"""ToolBatch: running the tool calls of one assistant message.

Sequential by default, halting at the first failure (the calls after it are
answered ``skipped``). Parallel, bounded by ``session.maxParallelTools``, when any
call carries ``"_parallel": true`` or when every tool of the batch is read-only.

A batch with a tool that never runs in parallel (``run_command``) is sequential.

Before a call runs, ``authorize`` (the session's permission check, protocol v2 §1)
may refuse it: the call is answered ``<tool>: denied: <why>`` (status ``failed``, so a
sequential batch stops there) and the turn goes on with the model reading it. A
question still pending when the turn is cancelled ends with the call ``cancelled``.

Text a tool streams (``run_command``'s output) goes out as ``ToolOutput`` events.

A cancel interrupts the running tool(s) at their current ``await`` (parallel ones
too); work already handed to a worker thread finishes there and is dropped.
Whatever happens, :meth:`ToolBatch.run` returns one result per call, in call order:
calls that did not finish are answered ``cancelled``, so the history stays valid
for the next turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from nexus_lsp.core.cancel import CancellationToken, Cancelled
from nexus_lsp.core.events import (
    BatchEnded,
    BatchOutcome,
    BatchProgress,
    BatchStarted,
    SessionEvent,
    ToolCallStatus,
    ToolOutput,
)
from nexus_lsp.core.messages import ToolCall, ToolResult
from nexus_lsp.skills.base import SkillRegistry, calls_request_parallel

__all__ = ["ToolBatch"]

Emit = Callable[[SessionEvent], Awaitable[None]]
# None when the call may run, else the denial the model reads; raises Cancelled.
Authorize = Callable[[ToolCall, CancellationToken], Awaitable[str | None]]


class ToolBatch:
    """One batch of tool calls within a turn."""

    def __init__(
        self,
        calls: Sequence[ToolCall],
        *,
        registry: SkillRegistry | None,
        turn_id: int,
        index: int,
        max_parallel: int,
        emit: Emit,
        authorize: Authorize | None = None,
    ) -> None:
        self.calls = tuple(calls)
        self.registry = registry
        self.turn_id = turn_id
        self.index = index
        self.max_parallel = max_parallel
        self._emit = emit
        self._authorize = authorize
        self._results: dict[str, ToolResult] = {}
        self._outputs: list[asyncio.Future[None]] = []
        self.parallel = len(self.calls) > 1 and (
            calls_request_parallel(self.calls)
            or (registry is not None and all(registry.is_read_only(c.name) for c in self.calls))
        ) and not (registry is not None and any(registry.is_exclusive(c.name) for c in self.calls))

    def __repr__(self) -> str:
        mode = "parallel" if self.parallel else "sequential"
        return f"<ToolBatch {self.index} of turn {self.turn_id}: {len(self.calls)} calls, {mode}>"

    @property
    def finished(self) -> dict[str, ToolResult]:
        """Results of the calls that have finished so far, by call id."""
        return dict(self._results)

    async def run(self, token: CancellationToken) -> tuple[list[ToolResult], BatchOutcome]:
        await self._emit(BatchStarted(self.turn_id, self.index, self.calls, self.parallel))
        halted_at: str | None = None
        if self.parallel:
            semaphore = asyncio.Semaphore(self.max_parallel)

            async def bounded(call: ToolCall) -> None:
                async with semaphore:
                    await self._run_one(call, token)

            await asyncio.gather(*(bounded(call) for call in self.calls))
        else:
            for call in self.calls:
                if token.cancelled:
                    break
                result = await self._run_one(call, token)
                if result is not None and not result.ok:
                    halted_at = call.name
                    break
        outcome: BatchOutcome = (
            "cancelled" if token.cancelled else "halted" if halted_at else "completed"
        )
        results = [await self._close_unanswered(call, outcome) for call in self.calls]
        await self._emit(BatchEnded(self.turn_id, self.index, outcome, halted_at))
        return results, outcome

    async def _run_one(self, call: ToolCall, token: CancellationToken) -> ToolResult | None:
        """Run a call; None when the turn was cancelled before it finished."""
        if token.cancelled:
            return None
        try:
            denial = await self._authorize(call, token) if self._authorize else None
        except Cancelled:
            return None
        if denial is not None:
            return await self._finish(call, ToolResult(
                call.id, call.name, status="failed", error=denial), ())
        await self._emit(ToolCallStatus(self.turn_id, call, "running"))
        details = None
        try:
            if self.registry is None:
                result = ToolResult(
                    call.id, call.name, status="failed",
                    error=f"{call.name}: unknownTool: no tools are available in this turn",
                )
                locations: tuple[str, ...] = ()
            else:
                result, output = await self.registry.run(call, token, self._reporter(call))
                locations = output.locations
                details = output.details
        except Cancelled:
            return None
        finally:
            await self._drain_outputs()
        return await self._finish(call, result, locations, details)

    def _reporter(self, call: ToolCall) -> Callable[[str], None]:
        """Streamed text → ToolOutput events, in order (the emit is awaited in a task
        the call drains before its final update)."""

        def report(text: str) -> None:
            if text:
                event = ToolOutput(self.turn_id, call, text)
                self._outputs.append(asyncio.ensure_future(self._emit(event)))

        return report

    async def _drain_outputs(self) -> None:
        outputs, self._outputs = self._outputs, []
        if outputs:
            await asyncio.gather(*outputs, return_exceptions=True)

    async def _finish(
        self,
        call: ToolCall,
        result: ToolResult,
        locations: tuple[str, ...],
        details: Mapping[str, Any] | None = None,
    ) -> ToolResult:
        self._results[call.id] = result
        await self._emit(
            ToolCallStatus(
                self.turn_id, call, "completed" if result.ok else "failed",
                output=result.output if result.ok else None, error=result.error,
                locations=locations, details=details,
            )
        )
        await self._emit(
            BatchProgress(self.turn_id, self.index, result, len(self._results), len(self.calls))
        )
        return result

    async def _close_unanswered(self, call: ToolCall, outcome: BatchOutcome) -> ToolResult:
        if call.id in self._results:
            return self._results[call.id]
        if outcome == "halted":
            result = ToolResult(
                call.id, call.name, status="skipped",
                error=f"{call.name}: skipped: an earlier tool call of the batch failed",
            )
        else:
            result = ToolResult(
                call.id, call.name, status="cancelled",
                error=f"{call.name}: cancelled: the turn was cancelled before it finished",
            )
        await self._emit(ToolCallStatus(self.turn_id, call, result.status, error=result.error))
        return result
