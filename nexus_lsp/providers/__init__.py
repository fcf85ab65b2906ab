"""Providers: how the session reaches a model API over httpx.

``create_provider(settings.provider)`` gives an OpenAI-compatible provider
(``kind: "openai"``: OpenAI, Ollama, vLLM, llama.cpp, LM Studio, OpenRouter) or an
Anthropic one. Both stream :mod:`~nexus_lsp.core.stream` events, retry only before
any output, map every failure to a :class:`~nexus_lsp.errors.ProviderError` and
close the HTTP response at once when the turn's token is cancelled.
"""

from __future__ import annotations

import os

import httpx

from nexus_lsp.config import ProviderSettings
from nexus_lsp.providers.anthropic_messages import AnthropicMessagesProvider
from nexus_lsp.providers.base import Provider, ProviderStream, RawLogger
from nexus_lsp.providers.http import HttpProvider
from nexus_lsp.providers.openai_chat import OpenAIChatProvider
from nexus_lsp.providers.retry import RetryPolicy, is_retryable

__all__ = [
    "AnthropicMessagesProvider",
    "HttpProvider",
    "OpenAIChatProvider",
    "Provider",
    "ProviderStream",
    "RawLogger",
    "RetryPolicy",
    "create_provider",
    "is_retryable",
]


def create_provider(
    settings: ProviderSettings,
    *,
    raw_logger: RawLogger | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
) -> HttpProvider:
    """The provider ``settings.kind`` names, with its key read from ``settings.api_key_env``.

    A missing or empty key is allowed (local servers such as Ollama need none): then
    no auth header is sent. ``transport`` replaces the network (tests); ``retry``
    replaces the policy built from ``settings.max_retries``.
    """
    api_key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
    cls = AnthropicMessagesProvider if settings.kind == "anthropic" else OpenAIChatProvider
    return cls(settings, api_key=api_key, raw_logger=raw_logger, transport=transport,
               retry=retry)
