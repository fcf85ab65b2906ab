"""The provider interface: how the session reaches a model.

A provider turns the history into one API request and the answer into
:mod:`~nexus_lsp.core.stream` events. It owns one ``httpx.AsyncClient`` (connection
reuse) and closes it in :meth:`Provider.aclose`. Cancellation is awaited: when the
token is cancelled the HTTP response is closed at once and the iterator ends with
:class:`~nexus_lsp.core.cancel.Cancelled`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.messages import Message, ToolDefinition
from nexus_lsp.core.stream import StreamComplete, StreamEvent

__all__ = ["Provider", "RawLogger"]

# Receives provider traffic for the raw.jsonl stream: ("request", body),
# ("chunk", data), ("response", body), ("error", detail). Keys are never passed.
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
