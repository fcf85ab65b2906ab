"""Provider test helpers: a provider factory bound to a scripted server, recorded sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import httpx
import pytest

from nexus_lsp.config import ProviderSettings
from nexus_lsp.core import CancellationToken, StreamComplete, StreamEvent
from nexus_lsp.providers import HttpProvider, RetryPolicy, create_provider
from nexus_lsp.testing import ScriptedModelServer

Kind = Literal["openai", "anthropic"]
KINDS: list[Kind] = ["openai", "anthropic"]
KEY_ENV = "NEXUS_PROVIDER_TEST_KEY"


class Sleeps:
    """An injected backoff sleep: records the delays asked for, waits for none."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


def base_url(server: ScriptedModelServer, kind: Kind) -> str:
    return server.openai_base_url if kind == "openai" else server.anthropic_base_url


ProviderFactory = Callable[..., HttpProvider]


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def make_provider(sleeps: Sleeps) -> AsyncIterator[ProviderFactory]:
    """``make_provider(kind, url, max_retries=2, timeout=10, raw_logger=None, transport=None)``."""
    made: list[HttpProvider] = []

    def factory(kind: Kind, url: str, *, max_retries: int = 2, timeout: float = 10.0,
                raw_logger: Callable[[str, Any], None] | None = None,
                transport: httpx.AsyncBaseTransport | None = None,
                sleep: Callable[[float], Any] | None = None) -> HttpProvider:
        settings = ProviderSettings(kind=kind, base_url=url, model="test-model",
                                    api_key_env=KEY_ENV, timeout_seconds=timeout,
                                    max_retries=max_retries)
        retry = RetryPolicy(max_retries=max_retries, base_delay=0.25, max_delay=4.0,
                            sleep=sleep or sleeps, random_fraction=lambda: 0.0)
        provider = create_provider(settings, raw_logger=raw_logger, transport=transport,
                                   retry=retry)
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        await provider.aclose()


async def collect(provider: HttpProvider, messages: Any, tools: Any = (),
                  token: CancellationToken | None = None) -> list[StreamEvent]:
    """Every event of one stream; the last one is checked to be the StreamComplete."""
    events: list[StreamEvent] = []
    async with provider.stream(messages, tools, token or CancellationToken()) as stream:
        async for event in stream:
            events.append(event)
    assert isinstance(events[-1], StreamComplete)
    assert sum(isinstance(e, StreamComplete) for e in events) == 1
    return events
