"""FakeProvider: an in-process scripted model for unit tests of the session core.

Each call to :meth:`FakeProvider.stream` plays the next :class:`FakeAnswer`: text
deltas, reasoning, tool calls, then a completion — or a fault: a provider error,
a stream that ends without completing, or a stall that waits until the turn is
cancelled. Every request is recorded so tests can check what the model was sent.
For the whole HTTP path use :class:`~nexus_lsp.testing.ScriptedModelServer`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from nexus_lsp.core.cancel import CancellationToken, Cancelled
from nexus_lsp.core.messages import Message, ToolCall, ToolDefinition, Usage
from nexus_lsp.core.stream import (
    ReasoningDelta,
    StreamComplete,
    StreamEvent,
    TextDelta,
    ToolCallStarted,
)
from nexus_lsp.errors import ProviderError

__all__ = ["FakeAnswer", "FakeProvider"]


@dataclass
class FakeAnswer:
    """One scripted model answer."""

    text: Sequence[str] = ()  # the text deltas, in order
    reasoning: Sequence[str] = ()
    tool_calls: Sequence[ToolCall] = ()
    usage: Usage | None = None
    error: ProviderError | None = None  # raised after the deltas
    incomplete: bool = False  # end after the deltas without a StreamComplete
    stall: bool = False  # after the deltas, wait until cancelled
    delay: float = 0.0  # seconds between deltas


@dataclass
class FakeProvider:
    answers: list[FakeAnswer]
    model: str = "fake-model"
    requests: list[list[Message]] = field(default_factory=list)
    tools_seen: list[list[ToolDefinition]] = field(default_factory=list)
    closed: bool = False
    stalled: asyncio.Event = field(default_factory=asyncio.Event)

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition],
        cancel_token: CancellationToken,
    ) -> AsyncIterator[StreamEvent]:
        self.requests.append(list(messages))
        self.tools_seen.append(list(tools))
        if not self.answers:
            raise ProviderError("the fake provider's script is exhausted")
        answer = self.answers.pop(0)
        for text in answer.reasoning:
            yield ReasoningDelta(text)
        for text in answer.text:
            if answer.delay:
                await asyncio.sleep(answer.delay)
            yield TextDelta(text)
        for index, call in enumerate(answer.tool_calls):
            yield ToolCallStarted(index, call.id, call.name)
        if answer.stall:
            self.stalled.set()
            await cancel_token.wait()
            raise Cancelled(cancel_token.reason or "cancelled")
        if answer.error is not None:
            raise answer.error
        if answer.incomplete:
            return
        message = Message.assistant("".join(answer.text), tuple(answer.tool_calls))
        yield StreamComplete(message, answer.usage, "toolCalls" if answer.tool_calls else "stop")

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition],
        cancel_token: CancellationToken,
    ) -> StreamComplete:
        async for event in self.stream(messages, tools, cancel_token):
            if isinstance(event, StreamComplete):
                return event
        raise ProviderError("the fake answer did not complete")

    async def aclose(self) -> None:
        self.closed = True
