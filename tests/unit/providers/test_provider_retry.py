"""The retry policy: what is retried, backoff growth, jitter, Retry-After parsing."""

from __future__ import annotations

import pytest

from nexus_lsp.errors import (
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderError,
    ProviderProtocolError,
    ProviderRateLimitedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from nexus_lsp.providers import RetryPolicy, is_retryable
from nexus_lsp.providers.retry import parse_retry_after


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (ProviderUnavailableError("connect", status=None), True),
        (ProviderUnavailableError("500", status=500), True),
        (ProviderUnavailableError("529", status=529), True),
        (ProviderUnavailableError("501", status=501), False),
        (ProviderRateLimitedError("429"), True),
        (ProviderTimeoutError("slow"), True),
        (ProviderAuthError("401", status=401), False),
        (ProviderBadRequestError("400", status=400), False),
        (ProviderProtocolError("cut"), False),
    ],
)
def test_what_is_retryable(error: ProviderError, retryable: bool) -> None:
    assert is_retryable(error) is retryable


def test_backoff_doubles_up_to_the_cap_and_jitter_only_shortens() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=0.5, random_fraction=lambda: 0.0)
    error = ProviderUnavailableError("x")
    assert [policy.delay(n, error) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    jittered = RetryPolicy(base_delay=1.0, jitter=0.5, random_fraction=lambda: 1.0)
    assert jittered.delay(1, error) == 1.0  # 2.0 spread down by half at most


def test_retry_after_replaces_backoff_and_is_capped() -> None:
    policy = RetryPolicy(max_retry_after=10.0)
    assert policy.delay(0, ProviderRateLimitedError("x", retry_after=2.5)) == 2.5
    assert policy.delay(0, ProviderRateLimitedError("x", retry_after=99)) == 10.0


def test_should_retry_counts_attempts() -> None:
    policy = RetryPolicy(max_retries=2)
    error = ProviderTimeoutError("x")
    assert [policy.should_retry(n, error) for n in range(3)] == [True, True, False]
    assert not RetryPolicy(max_retries=0).should_retry(0, error)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Thu, 01 Jan 1970 00:00:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers) == seconds
