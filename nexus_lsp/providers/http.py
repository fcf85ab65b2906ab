"""What both providers share: one httpx client, SSE reading, errors, retries, cancel.

A provider subclass only says how the history becomes a request body, how the
stream's events become :mod:`~nexus_lsp.core.stream` events (a
:class:`StreamDecoder`), and how a whole (non-streamed) answer reads. This module
does the rest, the same way for every API:

- one ``httpx.AsyncClient`` per provider (connections are reused; one TLS context
  for all of them), closed by
  :meth:`HttpProvider.aclose`; auth headers live on the client, so nothing that is
  logged or raised ever contains them, and the key is scrubbed from every error
  (in :meth:`HttpProvider._before_retry`, which every failure passes: an HTTP
  status, a broken stream or an error event the API sent mid-stream);
- every wait on the network is raced against the turn's cancellation token: a
  cancel closes the HTTP response at once (the model server sees the connection
  go) and the stream raises :class:`~nexus_lsp.core.cancel.Cancelled`;
- HTTP statuses and transport failures map to the :mod:`~nexus_lsp.errors` tree;
- retries (see :mod:`~nexus_lsp.providers.retry`) only while nothing was emitted.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import ssl
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Iterable,
    Sequence,
)
from contextlib import aclosing, asynccontextmanager
from typing import Any, ClassVar, Protocol, TypeVar

import httpx

from nexus_lsp.config import ProviderSettings
from nexus_lsp.core.cancel import CancellationToken, Cancelled
from nexus_lsp.core.messages import Message, ToolDefinition
from nexus_lsp.core.stream import StreamComplete, StreamEvent
from nexus_lsp.errors import (
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderError,
    ProviderProtocolError,
    ProviderRateLimitedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from nexus_lsp.keys import add_key_env
from nexus_lsp.providers.api_errors import (
    EXCERPT_CHARS,
    REDACTED,
    error_message,
    scrub_error,
)
from nexus_lsp.providers.base import ProviderStream, RawLogger
from nexus_lsp.providers.read_decoder import DONE, ReadDecoder
from nexus_lsp.providers.reads import (
    network_reads,
    next_unless_cancelled,
    until_cancelled,
)
from nexus_lsp.providers.request_body import encode_body
from nexus_lsp.providers.retry import RetryPolicy, parse_retry_after
from nexus_lsp.providers.sse import SSEParser, SSETooLarge, is_event_stream

__all__ = ["DONE", "HttpProvider", "StreamDecoder"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# After the model's final event, how long to wait for the end of the body: reading it
# lets the connection go back to the pool instead of being dropped.
DRAIN_SECONDS = 2.0


class StreamDecoder(Protocol):
    """Turns one response's SSE events into stream events (one decoder per attempt)."""

    @property
    def finished(self) -> bool:
        """The API sent its final event ([DONE], message_stop)."""
        ...

    def feed(self, event: str, data: Any) -> Iterable[StreamEvent]:
        """Decode one event (``data`` is parsed JSON, or ``DONE``); may raise ProviderError."""
        ...

    def complete(self) -> StreamComplete:
        """The whole answer once the body ended; ProviderProtocolError if it was cut."""
        ...


class HttpProvider:
    """Base of the OpenAI-compatible and Anthropic providers (see the module doc)."""

    api_name: ClassVar[str] = "model API"

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        api_key: str | None,
        raw_logger: RawLogger | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.model = settings.model
        self.settings = settings
        # Its value is a secret to every redactor of the process (store files, logs).
        add_key_env(settings.api_key_env)
        self._api_key = api_key or None
        self._raw_logger = raw_logger
        self._retry = retry or RetryPolicy(max_retries=settings.max_retries)
        self._client = httpx.AsyncClient(
            headers=self._headers(self._api_key),
            timeout=httpx.Timeout(settings.timeout_seconds),
            transport=transport,
            verify=_ssl_context(),
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} model={self.model!r} url={self.url!r}>"

    # -- what a subclass provides ----------------------------------------------------

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _headers(self, api_key: str | None) -> dict[str, str]:
        raise NotImplementedError

    def _body(
        self, messages: Sequence[Message], tools: Sequence[ToolDefinition], *, stream: bool
    ) -> dict[str, Any]:
        raise NotImplementedError

    def _decoder(self) -> StreamDecoder:
        raise NotImplementedError

    def _whole(self, body: Any) -> StreamComplete:
        raise NotImplementedError

    # -- the Provider protocol -------------------------------------------------------

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition],
        cancel_token: CancellationToken,
    ) -> ProviderStream:
        """Stream one answer: deltas, then one StreamComplete (see ``ProviderStream``)."""
        return ProviderStream(self._stream(messages, tools, cancel_token))

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition],
        cancel_token: CancellationToken,
    ) -> StreamComplete:
        body = self._body(messages, tools, stream=False)
        self._raw("request", body)
        attempt = 0
        while True:
            try:
                async with self._open(body, cancel_token) as response:
                    raw = await self._read(until_cancelled(response.aread, cancel_token))
                text = raw.decode("utf-8", "replace")
                try:
                    data = json.loads(text)
                except ValueError:
                    raise self._malformed("the answer is not JSON", text) from None
                self._raw("response", data)
                return self._whole(data)
            except ProviderError as error:
                await self._before_retry(error, attempt, cancel_token, emitted=False)
                attempt += 1

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- streaming -------------------------------------------------------------------

    async def _stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition],
        token: CancellationToken,
    ) -> AsyncGenerator[StreamEvent, None]:
        body = self._body(messages, tools, stream=True)
        self._raw("request", body)
        attempt = 0
        while True:
            emitted = False
            decoder = self._decoder()
            try:
                async with (
                    self._open(body, token) as response,
                    aclosing(self._events(response, decoder, token)) as events,
                ):
                    async for event in events:
                        emitted = True
                        yield event
                complete = decoder.complete()
            except ProviderError as error:
                await self._before_retry(error, attempt, token, emitted=emitted)
                attempt += 1
                continue
            # Yielded with nothing open: a consumer that stops here leaks nothing.
            yield complete
            return

    async def _events(
        self, response: httpx.Response, decoder: StreamDecoder, token: CancellationToken
    ) -> AsyncGenerator[StreamEvent, None]:
        """The stream events of each network read, decoded in one synchronous pass.

        Per read: the SSE events it completes, one ``raw.jsonl`` record for their
        chunks, and the deltas merged (one text delta, one reasoning delta between
        tool-call starts): a long answer costs awaits per read, not per event.
        """
        content_type = response.headers.get("content-type", "")
        if not is_event_stream(content_type):
            raise ProviderProtocolError(
                f"the {self.api_name} answered a streamed request with Content-Type "
                f"{content_type.partition(';')[0]!r}, expected 'text/event-stream'")
        parser = SSEParser()
        per_read = ReadDecoder(decoder, api_name=self.api_name, malformed=self._malformed,
                               raw=self._raw if self._raw_logger is not None else None)
        reads = network_reads(response)
        shown = False
        try:
            while not decoder.finished:
                read = await self._read(next_unless_cancelled(reads, token))
                if read is None:
                    break
                try:
                    events = parser.feed(read)
                except SSETooLarge as exc:
                    raise self._malformed(str(exc), read[:EXCERPT_CHARS].decode(
                        "utf-8", "replace")) from None
                while events:
                    # Until something is shown, one event at a time: the first words do
                    # not wait for the rest of a (large) first read to be decoded.
                    batch, events = (events[:1], events[1:]) if not shown else (events, [])
                    items, failure = per_read.decode(batch)
                    for item in items:
                        shown = True
                        yield item
                    if failure is not None:
                        raise failure
            if decoder.finished:
                await self._drain(reads, token)
        finally:
            await reads.aclose()

    async def _drain(self, reads: AsyncGenerator[bytes, None], token: CancellationToken) -> None:
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                # In this task, as every read: a read under way is bound to its task.
                while await next_unless_cancelled(reads, token) is not None:
                    pass
        except (TimeoutError, Cancelled, httpx.HTTPError) as exc:
            # The answer is complete; only the connection's reuse is lost.
            log.debug("%s: stopped reading after the final event: %r", self.api_name, exc)

    # -- HTTP ------------------------------------------------------------------------

    @asynccontextmanager
    async def _open(
        self, body: dict[str, Any], token: CancellationToken
    ) -> AsyncIterator[httpx.Response]:
        """Send the request; yield the response once its status says success."""
        try:
            request = self._build_request(body)
            response = await until_cancelled(
                lambda: self._client.send(request, stream=True), token)
        except httpx.ConnectTimeout as exc:
            raise ProviderUnavailableError(
                f"cannot connect to the {self.api_name} at {self.url}: no answer within "
                f"{self.settings.timeout_seconds:g}s"
            ) from exc
        except httpx.TimeoutException as exc:
            raise ProviderTimeoutError(
                f"the {self.api_name} at {self.url} did not answer within "
                f"{self.settings.timeout_seconds:g}s"
            ) from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(
                f"cannot reach the {self.api_name} at {self.url}: {self._scrub(str(exc))}"
            ) from exc
        try:
            if response.status_code >= 400:
                try:
                    raw = await until_cancelled(response.aread, token)
                except httpx.HTTPError:
                    raw = b""
                text = raw.decode("utf-8", "replace")
                raise self._status_error(response.status_code, text, response.headers)
            yield response
        finally:
            await response.aclose()

    def _build_request(self, body: dict[str, Any]) -> httpx.Request:
        content = encode_body(body, self.api_name)
        try:
            return self._client.build_request(
                "POST", self.url, content=content, headers={"Content-Type": "application/json"})
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise ProviderBadRequestError(
                f"cannot build the request to the {self.api_name} at {self.url}: "
                f"{self._scrub(str(exc))}") from exc

    async def _read(self, pending: Awaitable[T]) -> T:
        """Await a read of the body, mapping transport failures to provider errors."""
        try:
            return await pending
        except httpx.TimeoutException as exc:
            raise ProviderTimeoutError(
                f"the {self.api_name} sent nothing for {self.settings.timeout_seconds:g}s"
            ) from exc
        except httpx.HTTPError as exc:
            raise ProviderProtocolError(
                f"the {self.api_name} stream broke off before the answer was complete: "
                f"{self._scrub(str(exc)) or type(exc).__name__}"
            ) from exc

    def _status_error(self, status: int, text: str, headers: httpx.Headers) -> ProviderError:
        text = self._scrub(text)
        detail = error_message(text) or f"HTTP {status}"
        where = f"{self.api_name} at {self.url}"
        self._raw("error", {"status": status, "body": text[:EXCERPT_CHARS]})
        if status in (401, 403):
            hint = (f"the key comes from ${self.settings.api_key_env}" if self._api_key
                    else f"no key is set: ${self.settings.api_key_env} is empty")
            return ProviderAuthError(
                f"the {where} refused the credentials (HTTP {status}): {detail} ({hint})",
                status=status, body=text)
        if status == 429:
            retry_after = parse_retry_after(headers)
            return ProviderRateLimitedError(
                f"the {where} is rate limiting (HTTP 429): {detail}",
                status=status, body=text, retry_after=retry_after)
        if status == 408:
            return ProviderTimeoutError(f"the {where} timed out (HTTP 408): {detail}",
                                        status=status, body=text)
        if 400 <= status < 500:
            return ProviderBadRequestError(
                f"the {where} rejected the request (HTTP {status}): {detail}",
                status=status, body=text)
        return ProviderUnavailableError(
            f"the {where} failed (HTTP {status}): {detail}", status=status, body=text)

    def _malformed(self, what: str, text: str) -> ProviderProtocolError:
        excerpt = self._scrub(text)[:EXCERPT_CHARS]
        self._raw("error", {"malformed": what, "data": excerpt})
        return ProviderProtocolError(f"malformed answer from the {self.api_name}: {what}: "
                                     f"{excerpt!r}", body=excerpt)

    async def _before_retry(
        self, error: ProviderError, attempt: int, token: CancellationToken, *, emitted: bool
    ) -> None:
        """Wait before the next attempt, or re-raise ``error`` when it is final.

        Every failure of a request passes here, so this is where the key leaves its
        text: an API may quote it in an error event (``data: {"error": ...}``,
        ``event: error``) as well as in an HTTP error body.
        """
        scrub_error(error, self._api_key)
        if emitted or not self._retry.should_retry(attempt, error):
            self._raw("error", {"code": error.code, "message": str(error)})
            log.info("%s: %s", self.api_name, error)
            raise error
        delay = self._retry.delay(attempt, error)
        log.info("%s: %s; retry %d of %d in %.2fs", self.api_name, error, attempt + 1,
                 self._retry.max_retries, delay)
        self._raw("error", {"code": error.code, "message": str(error), "retryIn": delay})
        await self._retry.wait(delay, token)

    def _raw(self, kind: str, data: Any) -> None:
        if self._raw_logger is None:
            return
        try:
            self._raw_logger(kind, data)
        except Exception:
            log.exception("raw logger failed on %r; traffic not logged", kind)

    def _scrub(self, text: str) -> str:
        if self._api_key and self._api_key in text:
            return text.replace(self._api_key, REDACTED)
        return text



@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context (CA bundle loaded) for every provider of the process.

    httpx builds a new one per client by default, ~20 ms of CA loading each: paid
    for every session created or loaded, since each session owns a provider.
    """
    return httpx.create_ssl_context()
