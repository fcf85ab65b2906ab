"""When and how long a provider waits before it asks the model API again.

Retries happen only while nothing of the answer has been emitted: once a delta
reached the session, a second request would repeat it, so a failure after partial
output is final. What is retried: connect errors, timeouts, 429 (after the
``Retry-After`` the API asked for, capped) and 500/502/503/504/529, the overloaded
and gateway statuses. Everything else (auth, bad request, a malformed stream) would
fail the same way again.

The backoff is exponential with jitter; the sleep itself is injectable so tests
assert on the delays asked for instead of waiting them out, and it is raced
against the turn's cancellation token.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from nexus_lsp.core.cancel import CancellationToken, race
from nexus_lsp.errors import (
    ProviderError,
    ProviderRateLimitedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)

__all__ = ["RETRYABLE_STATUSES", "RetryPolicy", "is_retryable", "parse_retry_after"]

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504, 529})


def is_retryable(error: ProviderError) -> bool:
    """True for failures a second identical request may not meet again."""
    if isinstance(error, ProviderRateLimitedError | ProviderTimeoutError):
        return True
    if isinstance(error, ProviderUnavailableError):
        # No status: the connection failed, or the API reported an overload mid-stream.
        return error.status is None or error.status in RETRYABLE_STATUSES
    return False


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms``, ``Retry-After`` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: ``base_delay * 2**attempt``, at most ``max_delay``.

    ``jitter`` spreads each delay over ``[d * (1 - jitter), d]`` so clients that failed
    together do not return together. A ``Retry-After`` from the API replaces the
    computed delay, capped at ``max_retry_after``. ``sleep`` is what waits (tests
    inject a recorder), ``random_fraction`` draws the jitter.
    """

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    jitter: float = 0.5
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)
    random_fraction: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, attempt: int, error: ProviderError) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (``attempt`` from 0)."""
        if isinstance(error, ProviderRateLimitedError) and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        backoff = min(self.base_delay * 2.0**attempt, self.max_delay)
        return backoff * (1 - self.jitter * self.random_fraction())

    def should_retry(self, attempt: int, error: ProviderError) -> bool:
        return attempt < self.max_retries and is_retryable(error)

    async def wait(self, seconds: float, token: CancellationToken) -> None:
        """Sleep ``seconds`` unless the token is cancelled first (then ``Cancelled``)."""
        token.raise_if_cancelled()  # before the coroutine exists: race() would orphan it
        await race(self.sleep(seconds), token)
