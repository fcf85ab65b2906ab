"""The current step of a turn as its progress message (a background ``nexus.ask``)."""

from __future__ import annotations

from nexus_lsp.core.events import (
    BatchEnded,
    ContentDelta,
    ReasoningChanged,
    SessionEvent,
    ToolCallStatus,
)
from nexus_lsp.lsp.channel import LspChannel
from nexus_lsp.lsp.updates import TurnReporter

__all__ = ["TurnSteps"]


class TurnSteps:
    """The event sink of a background turn: the reporter, plus the turn's progress
    message saying what the turn is doing now."""

    def __init__(self, reporter: TurnReporter, channel: LspChannel, token: int | str) -> None:
        self._reporter = reporter
        self._channel = channel
        self._token = token
        self._step: str | None = None

    async def __call__(self, event: SessionEvent) -> None:
        await self._reporter(event)
        step = _step(event)
        if step is not None and step != self._step and not self._reporter.ended:
            self._step = step
            self._channel.report_step(self._token, step)


def _step(event: SessionEvent) -> str | None:
    if isinstance(event, ContentDelta):
        return "writing the answer"
    if isinstance(event, ReasoningChanged) and event.active:
        return "thinking"
    if isinstance(event, ToolCallStatus) and event.status == "running":
        return f"running {event.call.name}"
    if isinstance(event, BatchEnded):
        return "waiting for the model"
    return None
