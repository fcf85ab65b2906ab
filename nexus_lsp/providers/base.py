"""The provider interface: how the session reaches a model.

A provider turns the history into one API request and the answer into
:mod:`~nexus_lsp.core.stream` events. It owns one ``httpx.AsyncClient`` (connection
reuse) and closes it in :meth:`Provider.aclose`. Cancellation is awaited: when the
token is cancelled the HTTP response is closed at once and the iterator ends with
:class:`~nexus_lsp.core.cancel.Cancelled`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.messages import Message, ToolDefinition
from nexus_lsp.core.stream import StreamComplete, StreamEvent

__all__ = ["Provider", "ProviderStream", "RawLogger"]

# Receives provider traffic for the raw.jsonl stream: ("request", body),
# ("chunks", [data, ...]) (the streamed chunks of one network read), ("response", body),
# ("error", detail). Keys are never passed.
RawLogger = Callable[[str, Any], None]


@runtime_checkable
class Provider(Protocol):
    model: str

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition],
        cancel_token: CancellationToken,
    ) -> AsyncIterator[StreamEvent]:
        """Stream one model answer: deltas, then exactly one StreamComplete."""
        ...

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition],
        cancel_token: CancellationToken,
    ) -> StreamComplete:
        """One model answer without streaming."""
        ...

    async def aclose(self) -> None: ...


class ProviderStream(AsyncIterator[StreamEvent]):
    """What ``stream()`` returns: an async iterator that is also an async context manager.

    ``async with provider.stream(...) as events: async for event in events: ...``
    closes the HTTP response on leaving the block, also when the consumer stops
    early or its task is cancelled. A plain ``async for`` that runs to the end needs
    no closing: the final :class:`StreamComplete` is yielded with nothing left open.
    """

    __slots__ = ("_events",)

    def __init__(self, events: AsyncGenerator[StreamEvent, None]) -> None:
        self._events = events

    def __aiter__(self) -> ProviderStream:
        return self

    async def __anext__(self) -> StreamEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        """Stop the stream and close its HTTP response (idempotent)."""
        await self._events.aclose()

    async def __aenter__(self) -> ProviderStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
