"""Cancellation is awaited: a cancel closes the HTTP response, and the server sees it."""

from __future__ import annotations

import asyncio

import pytest

from nexus_lsp.core import CancellationToken, Cancelled, Message, StreamEvent, TextDelta
from nexus_lsp.testing import ScriptedModelServer

from .conftest import KINDS, Kind, ProviderFactory, base_url

HI = [Message.user("hi")]


@pytest.mark.parametrize("kind", KINDS)
async def test_cancel_while_the_model_stalls_closes_the_connection(
        kind: Kind, make_provider: ProviderFactory) -> None:
    async with ScriptedModelServer({"responses": [{"text": "x", "fault": {"stall": True}}]}) as srv:
        provider = make_provider(kind, base_url(srv, kind))
        token = CancellationToken()
        seen: list[StreamEvent] = []

        async def consume() -> None:
            async with provider.stream(HI, [], token) as stream:
                async for event in stream:
                    seen.append(event)

        task = asyncio.create_task(consume())
        await srv.wait_for_requests(1)
        token.cancel("user pressed stop")
        with pytest.raises(Cancelled, match="user pressed stop"):
            await task
        await srv.wait_for_disconnect(5)
    assert seen == [] and srv.disconnects == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_cancel_after_partial_output_keeps_what_arrived(
        kind: Kind, make_provider: ProviderFactory) -> None:
    script = {"responses": [{"text": "abcdef", "chunkSize": 2, "fault": {"stallAfterChunks": 2}}]}
    async with ScriptedModelServer(script) as srv:
        provider = make_provider(kind, base_url(srv, kind))
        token = CancellationToken()
        texts: list[str] = []
        with pytest.raises(Cancelled):
            async with provider.stream(HI, [], token) as stream:
                async for event in stream:
                    assert isinstance(event, TextDelta)
                    texts.append(event.text)
                    if "".join(texts) == "abcd":  # in one delta or two: one per read
                        # Cancelled from elsewhere while the stream waits for more.
                        asyncio.get_running_loop().call_soon(token.cancel, "stop")
        await srv.wait_for_disconnect(5)
    assert "".join(texts) == "abcd"


@pytest.mark.parametrize("kind", KINDS)
async def test_cancelling_the_consumer_task_closes_the_connection(
        kind: Kind, make_provider: ProviderFactory) -> None:
    async with ScriptedModelServer({"responses": [{"fault": {"stall": True}}]}) as srv:
        provider = make_provider(kind, base_url(srv, kind))

        async def consume() -> None:
            async for _ in provider.stream(HI, [], CancellationToken()):
                pass

        task = asyncio.create_task(consume())
        await srv.wait_for_requests(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await srv.wait_for_disconnect(5)


@pytest.mark.parametrize("kind", KINDS)
async def test_cancel_during_the_backoff_sleep(kind: Kind, make_provider: ProviderFactory) -> None:
    sleeping = asyncio.Event()

    async def long_sleep(seconds: float) -> None:
        sleeping.set()
        await asyncio.sleep(3600)

    script = {"responses": [{"fault": {"status": 503}}, {"text": "never"}]}
    async with ScriptedModelServer(script) as srv:
        provider = make_provider(kind, base_url(srv, kind), sleep=long_sleep)
        token = CancellationToken()
        task = asyncio.create_task(provider.complete(HI, [], token))
        await sleeping.wait()
        token.cancel("stop waiting")
        with pytest.raises(Cancelled, match="stop waiting"):
            await task
    assert len(srv.requests) == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_an_already_cancelled_token_sends_nothing(
        kind: Kind, make_provider: ProviderFactory) -> None:
    token = CancellationToken()
    token.cancel("too late")
    async with ScriptedModelServer({"responses": [{"text": "x"}]}) as srv:
        provider = make_provider(kind, base_url(srv, kind))
        with pytest.raises(Cancelled):
            async for _ in provider.stream(HI, [], token):
                pass
        with pytest.raises(Cancelled):
            await provider.complete(HI, [], token)
    assert srv.requests == []


@pytest.mark.parametrize("kind", KINDS)
async def test_cancel_of_a_whole_answer_closes_the_connection(
        kind: Kind, make_provider: ProviderFactory) -> None:
    async with ScriptedModelServer({"responses": [{"fault": {"stall": True}}]}) as srv:
        provider = make_provider(kind, base_url(srv, kind))
        token = CancellationToken()
        task = asyncio.create_task(provider.complete(HI, [], token))
        await srv.wait_for_requests(1)
        token.cancel()
        with pytest.raises(Cancelled):
            await task
        await srv.wait_for_disconnect(5)
