"""The API key goes out in its header and nowhere else: not in errors, logs or raw logs."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from nexus_lsp.core import CancellationToken, Message
from nexus_lsp.errors import ProviderAuthError, ProviderError
from nexus_lsp.testing import ScriptedModelServer

from .conftest import KEY_ENV, KINDS, Kind, ProviderFactory, base_url, collect

SECRET = "sk-test-Zq8Xr2-very-secret"
HI = [Message.user("hi")]


@pytest.mark.parametrize("kind", KINDS)
async def test_key_never_appears_in_errors_raw_logs_or_logging(
        kind: Kind, make_provider: ProviderFactory, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    caplog.set_level(logging.DEBUG)
    raw: list[tuple[str, Any]] = []
    script = {"responses": [
        {"text": "fine"},
        # A server that echoes the key back in its error message.
        {"fault": {"status": 503, "message": f"upstream rejected key {SECRET}"}},
        {"fault": {"status": 401, "message": f"Incorrect API key provided: {SECRET}"}},
    ]}
    async with ScriptedModelServer(script) as srv:
        provider = make_provider(kind, base_url(srv, kind),
                                 raw_logger=lambda k, d: raw.append((k, d)))
        await collect(provider, HI)
        with pytest.raises(ProviderAuthError) as caught:
            await collect(provider, HI)
    error: ProviderError = caught.value
    exposed = [str(error), repr(error), error.body_excerpt, json.dumps(raw), caplog.text,
               repr(provider), repr(srv.requests)]
    assert all(SECRET not in text for text in exposed)
    assert "[redacted]" in error.body_excerpt
    assert {kind for kind, _ in raw} >= {"request", "chunks", "error"}
    header = "authorization" if kind == "openai" else "x-api-key"
    assert srv.requests[0].headers[header] == "<redacted>"  # it was sent, and redacted there


@pytest.mark.parametrize(("kind", "header", "value"), [
    ("openai", "authorization", f"Bearer {SECRET}"),
    ("anthropic", "x-api-key", SECRET),
])
async def test_the_key_is_sent_in_its_header(
        kind: Kind, header: str, value: str, make_provider: ProviderFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, json={"error": {"message": "no"}})

    provider = make_provider(kind, "http://model.test", transport=httpx.MockTransport(handler))
    with pytest.raises(ProviderAuthError):
        await provider.complete(HI, [], CancellationToken())
    assert seen[0].headers[header] == value
    assert SECRET not in seen[0].content.decode()  # not in the body either


async def test_raw_logger_failure_does_not_break_the_stream(
        make_provider: ProviderFactory) -> None:
    def broken(kind: str, data: Any) -> None:
        raise OSError("disk full")

    async with ScriptedModelServer({"responses": [{"text": "still fine"}]}) as srv:
        events = await collect(make_provider("openai", srv.openai_base_url, raw_logger=broken),
                               HI)
    assert events[-1].type == "complete"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("after", [0, 1])
async def test_a_key_quoted_in_a_mid_stream_error_event_is_scrubbed(
        kind: Kind, after: int, make_provider: ProviderFactory,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """OpenAI ``data: {"error": ...}`` and Anthropic ``event: error`` quoting the key:
    not in the error the turn reports, its cause chain, or any log record."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    caplog.set_level(logging.DEBUG)
    fault = {"errorAfterChunks": after, "message": f"key {SECRET} is over its quota"}
    script = {"responses": [{"text": "partial answer", "chunkSize": 4, "fault": fault}]}
    async with ScriptedModelServer(script) as srv:
        provider = make_provider(kind, base_url(srv, kind), max_retries=0)
        with pytest.raises(ProviderError) as caught:
            await collect(provider, HI)
    error = caught.value
    assert "over its quota" in str(error)  # the API's words reach the user...
    assert "[redacted]" in str(error)  # ...without the key
    chain = [str(error), repr(error), error.body_excerpt, repr(error.__cause__),
             repr(error.__context__), caplog.text]
    assert all(SECRET not in text for text in chain)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_key_in_a_whole_error_body_with_status_200_is_scrubbed(
        kind: Kind, make_provider: ProviderFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    fault = {"errorAfterChunks": 0, "message": f"bad key {SECRET}"}
    async with ScriptedModelServer({"responses": [{"text": "x", "fault": fault}]}) as srv:
        provider = make_provider(kind, base_url(srv, kind), max_retries=0)
        with pytest.raises(ProviderError) as caught:
            await provider.complete(HI, [], CancellationToken())
    assert "bad key [redacted]" in str(caught.value)
    assert SECRET not in str(caught.value)
