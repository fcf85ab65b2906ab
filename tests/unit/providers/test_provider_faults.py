"""Faults from the scripted server: error mapping, retries only before output, timeouts."""

from __future__ import annotations

import socket

import pytest

from nexus_lsp.core import CancellationToken, Message, StreamComplete, StreamEvent, TextDelta
from nexus_lsp.errors import (
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderProtocolError,
    ProviderRateLimitedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from nexus_lsp.providers import HttpProvider
from nexus_lsp.testing import ScriptedModelServer

from .conftest import KINDS, Kind, ProviderFactory, Sleeps, base_url, collect

HI = [Message.user("hi")]


async def consume(provider: HttpProvider, seen: list[StreamEvent]) -> None:
    async with provider.stream(HI, [], CancellationToken()) as stream:
        async for event in stream:
            seen.append(event)


@pytest.mark.parametrize("kind", KINDS)
async def test_401_is_an_auth_error_and_not_retried(
        kind: Kind, make_provider: ProviderFactory, sleeps: Sleeps) -> None:
    script = {"responses": [{"fault": {"status": 401, "message": "Invalid API key."}}]}
    async with ScriptedModelServer(script) as srv:
        with pytest.raises(ProviderAuthError) as caught:
            await collect(make_provider(kind, base_url(srv, kind), max_retries=3), HI)
    assert caught.value.code == "providerAuth"
    assert caught.value.status == 401
    assert "Invalid API key." in str(caught.value)
    assert "NEXUS_PROVIDER_TEST_KEY" in str(caught.value)  # says where the key comes from
    assert len(srv.requests) == 1 and sleeps.delays == []


@pytest.mark.parametrize("kind", KINDS)
async def test_429_honours_retry_after_then_succeeds(
        kind: Kind, make_provider: ProviderFactory, sleeps: Sleeps) -> None:
    script = {"responses": [{"fault": {"status": 429, "retryAfter": 3}},
                            {"text": "after the wait"}]}
    async with ScriptedModelServer(script) as srv:
        events = await collect(make_provider(kind, base_url(srv, kind)), HI)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "after the wait"
    assert len(srv.requests) == 2
    assert sleeps.delays == [3.0]


@pytest.mark.parametrize("kind", KINDS)
async def test_429_retry_after_is_capped_and_a_final_429_says_rate_limited(
        kind: Kind, make_provider: ProviderFactory, sleeps: Sleeps) -> None:
    script = {"responses": [{"fault": {"status": 429, "retryAfter": 3600}}] * 2}
    async with ScriptedModelServer(script) as srv:
        with pytest.raises(ProviderRateLimitedError) as caught:
            await collect(make_provider(kind, base_url(srv, kind), max_retries=1), HI)
    assert sleeps.delays == [60.0]  # RetryPolicy.max_retry_after
    assert caught.value.retry_after == 3600
    assert caught.value.code == "providerRateLimited"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_exhausted_5xx_is_unavailable_after_max_retries_plus_one_requests(
        kind: Kind, status: int, make_provider: ProviderFactory, sleeps: Sleeps) -> None:
    script = {"responses": [{"fault": {"status": status}}] * 3 + [{"text": "never reached"}]}
    async with ScriptedModelServer(script) as srv:
        with pytest.raises(ProviderUnavailableError) as caught:
            await collect(make_provider(kind, base_url(srv, kind), max_retries=2), HI)
        assert srv.remaining == 1
    assert len(srv.requests) == 3
    assert sleeps.delays == [0.25, 0.5]  # exponential from base_delay, jitter drawn as 0
    assert caught.value.status == status and caught.value.code == "providerUnavailable"


@pytest.mark.parametrize("kind", KINDS)
async def test_404_model_not_found_is_a_bad_request_with_the_api_message(
        kind: Kind, make_provider: ProviderFactory, sleeps: Sleeps) -> None:
    script = {"responses": [{"fault": {"status": 404, "message": "model 'x' not found"}}]}
    async with ScriptedModelServer(script) as srv:
        with pytest.raises(ProviderBadRequestError, match="model 'x' not found") as caught:
            await collect(make_provider(kind, base_url(srv, kind)), HI)
    assert caught.value.status == 404 and "model 'x' not found" in caught.value.body_excerpt
    assert len(srv.requests) == 1 and sleeps.delays == []


@pytest.mark.parametrize("kind", KINDS)
async def test_a_refused_history_is_a_bad_request(
        kind: Kind, make_provider: ProviderFactory) -> None:
    bad = [Message.user("hi"), Message(role="tool", content="x", tool_call_id="nope")]
    async with ScriptedModelServer({"responses": [{"text": "unused"}]}) as srv:
        with pytest.raises(ProviderBadRequestError, match="HTTP 400"):
            await collect(make_provider(kind, base_url(srv, kind)), bad)
    assert len(srv.validation_errors) == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_cut_stream_after_output_is_a_protocol_error_and_not_retried(
        kind: Kind, make_provider: ProviderFactory, sleeps: Sleeps) -> None:
    script = {"responses": [{"text": "partial answer", "chunkSize": 4,
                             "fault": {"cutAfterChunks": 2}}, {"text": "must not be used"}]}
    seen: list[StreamEvent] = []
    async with ScriptedModelServer(script) as srv:
        with pytest.raises(ProviderProtocolError, match="broke off"):
            await consume(make_provider(kind, base_url(srv, kind), max_retries=3), seen)
    # One delta per network read: the two chunks in one delta or two.
    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == "partial "
    assert len(srv.requests) == 1 and sleeps.delays == []


@pytest.mark.parametrize("kind", KINDS)
async def test_cut_after_the_last_chunk_is_still_a_protocol_error(
        kind: Kind, make_provider: ProviderFactory) -> None:
    # Every delta arrived but the closing events did not: the answer is incomplete.
    script = {"responses": [{"text": "all text", "fault": {"cutAfterChunks": 99}}]}
    async with ScriptedModelServer(script) as srv:
        with pytest.raises(ProviderProtocolError):
            await collect(make_provider(kind, base_url(srv, kind)), HI)


@pytest.mark.parametrize("kind", KINDS)
async def test_malformed_chunk_is_a_protocol_error(
        kind: Kind, make_provider: ProviderFactory, sleeps: Sleeps) -> None:
    script = {"responses": [{"text": "abcdef", "chunkSize": 2,
                             "fault": {"malformedAfterChunks": 1}}]}
    seen: list[StreamEvent] = []
    async with ScriptedModelServer(script) as srv:
        with pytest.raises(ProviderProtocolError, match="not JSON") as caught:
            await consume(make_provider(kind, base_url(srv, kind)), seen)
    assert caught.value.code == "providerProtocol"
    assert [e.text for e in seen if isinstance(e, TextDelta)] == ["ab"]
    assert len(srv.requests) == 1 and sleeps.delays == []


@pytest.mark.parametrize("kind", KINDS)
async def test_timeout_before_the_first_delta_is_retried(
        kind: Kind, make_provider: ProviderFactory, sleeps: Sleeps) -> None:
    script = {"responses": [{"text": "slow", "fault": {"stall": True}}, {"text": "fast"}]}
    async with ScriptedModelServer(script) as srv:
        provider = make_provider(kind, base_url(srv, kind), timeout=0.5, max_retries=1)
        events = await collect(provider, HI)
        await srv.wait_for_disconnect(5)  # the timed-out response was closed
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "fast"
    assert len(srv.requests) == 2 and len(sleeps.delays) == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_timeout_before_the_first_byte_is_a_timeout_error(
        kind: Kind, make_provider: ProviderFactory) -> None:
    # Not streamed: the stalled server sends not even the response headers.
    script = {"responses": [{"text": "slow", "fault": {"stall": True}}]}
    async with ScriptedModelServer(script) as srv:
        provider = make_provider(kind, base_url(srv, kind), timeout=0.5, max_retries=0)
        with pytest.raises(ProviderTimeoutError) as caught:
            await provider.complete(HI, [], CancellationToken())
    assert caught.value.code == "timeout"


@pytest.mark.parametrize("kind", KINDS)
async def test_timeout_after_partial_output_is_final(
        kind: Kind, make_provider: ProviderFactory, sleeps: Sleeps) -> None:
    script = {"responses": [{"text": "abcdef", "chunkSize": 2, "fault": {"stallAfterChunks": 2}},
                            {"text": "must not be used"}]}
    seen: list[StreamEvent] = []
    async with ScriptedModelServer(script) as srv:
        provider = make_provider(kind, base_url(srv, kind), timeout=0.5, max_retries=3)
        with pytest.raises(ProviderTimeoutError):
            await consume(provider, seen)
    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == "abcd"
    assert len(srv.requests) == 1 and sleeps.delays == []


@pytest.mark.parametrize("kind", KINDS)
async def test_connection_refused_is_unavailable_after_retries(
        kind: Kind, make_provider: ProviderFactory, sleeps: Sleeps) -> None:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}" + ("/v1" if kind == "openai" else "")
    with pytest.raises(ProviderUnavailableError, match="cannot reach") as caught:
        await collect(make_provider(kind, url, max_retries=2), HI)
    assert caught.value.status is None
    assert len(sleeps.delays) == 2


@pytest.mark.parametrize("kind", KINDS)
async def test_complete_retries_and_maps_errors_like_stream(
        kind: Kind, make_provider: ProviderFactory, sleeps: Sleeps) -> None:
    script = {"responses": [{"fault": {"status": 503}}, {"text": "whole"},
                            {"text": "x", "fault": {"malformedAfterChunks": 0}}]}
    async with ScriptedModelServer(script) as srv:
        provider = make_provider(kind, base_url(srv, kind))
        complete = await provider.complete(HI, [], CancellationToken())
        with pytest.raises(ProviderProtocolError, match="not JSON"):
            await provider.complete(HI, [], CancellationToken())
    assert isinstance(complete, StreamComplete) and complete.message.content == "whole"
    assert len(sleeps.delays) == 1
