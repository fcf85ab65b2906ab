"""The scripted model server: a real HTTP model API on 127.0.0.1 for tests and demos.

It speaks both wire formats the providers use, ``POST /v1/chat/completions``
(OpenAI) and ``POST /v1/messages`` (Anthropic), plus ``GET /v1/models``. Each model
request consumes the next :class:`~nexus_lsp.testing.script.ScriptedResponse`,
whatever the endpoint. Requests are validated like the real APIs validate them
(a tool call without its result is a 400); what failed is kept in
:attr:`ScriptedModelServer.validation_errors` so tests can assert the history a
session sent was valid. A response cut short because the client went away (a
cancelled stream) is counted in :attr:`ScriptedModelServer.disconnects`.

Built on ``aiohttp.web`` with handler cancellation on, so a handler that waits
(``stall``, ``delayMs``) learns at once that the client closed the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from nexus_lsp.testing.script import Fault, Script, ScriptedResponse, parse_response
from nexus_lsp.testing.summary import compaction_transcript, default_summary
from nexus_lsp.testing.wire_anthropic import (
    AnthropicRenderer,
    anthropic_error_body,
    validate_anthropic_request,
)
from nexus_lsp.testing.wire_openai import (
    OpenAIRenderer,
    openai_error_body,
    validate_openai_request,
)

__all__ = ["RecordedRequest", "ScriptedModelServer", "ValidationFailure"]

log = logging.getLogger(__name__)

_SECRET_HEADERS = {"authorization", "x-api-key", "api-key", "proxy-authorization", "cookie"}
_Format = Literal["openai", "anthropic"]
Renderer = OpenAIRenderer | AnthropicRenderer


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server saw it; secret headers read ``<redacted>``."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    # 0-based position of the scripted response that answered, None if none did.
    response_index: int | None = None
    validation_error: str | None = None
    # The client's TCP port: equal ports on two requests mean a reused connection.
    client_port: int | None = None


@dataclass(frozen=True, slots=True)
class ValidationFailure:
    """A request the real API would have refused with HTTP 400."""

    path: str
    message: str
    request_index: int

    def __str__(self) -> str:
        return f"request {self.request_index} {self.path}: {self.message}"


class ScriptedModelServer:
    """Serve ``script`` on 127.0.0.1; use as ``async with ScriptedModelServer(s) as srv``."""

    def __init__(self, script: Script | Mapping[str, Any] | None = None, *, port: int = 0,
                 on_request: Callable[[RecordedRequest], None] | None = None) -> None:
        if script is None:
            script = Script()
        elif not isinstance(script, Script):
            script = Script.from_dict(script)
        self._queue: deque[ScriptedResponse] = deque(script.responses)
        self.summary: ScriptedResponse | None = script.summary
        self.summary_requests: list[int] = []  # indexes in requests of compaction requests
        self._port = port
        self._on_request = on_request
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None
        self._served = 0
        self._stopping = asyncio.Event()
        self._changed = asyncio.Condition()
        self.requests: list[RecordedRequest] = []
        self.validation_errors: list[ValidationFailure] = []
        self.disconnects = 0
        self._cut_short: set[int] = set()  # responses already counted in disconnects

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_get("/v1/models", self._models)
        # handler_cancellation: a waiting handler is cancelled when its client leaves.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        self._bound_port = int(self._runner.addresses[0][1])
        log.info("scripted model server listening on %s", self.url)

    async def aclose(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> ScriptedModelServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- what tests use --------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._bound_port is None:
            raise RuntimeError("the scripted model server is not started")
        return f"http://127.0.0.1:{self._bound_port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def remaining(self) -> int:
        """Responses not yet served."""
        return len(self._queue)

    def push(self, response: ScriptedResponse | Mapping[str, Any]) -> None:
        """Append one response (a dict in the script format) to the script."""
        self._queue.append(parse_response(response))

    def set_summary(self, response: ScriptedResponse | Mapping[str, Any] | None) -> None:
        """What every compaction request is answered with (None: the default summary)."""
        self.summary = None if response is None else parse_response(response)

    def extend(self, responses: Iterable[ScriptedResponse | Mapping[str, Any]]) -> None:
        parsed = [parse_response(r) for r in responses]  # all or nothing
        self._queue.extend(parsed)

    # A ``timeout`` argument (ASYNC109) is the documented API: tests read best with it.
    async def wait_for_disconnect(self, timeout: float = 5.0, *, count: int = 1) -> None:  # noqa: ASYNC109
        """Return once ``count`` responses in all were cut by their client going away.

        Raises ``TimeoutError`` when that does not happen within ``timeout`` seconds.
        """
        await self._wait(lambda: self.disconnects >= count, timeout)

    async def wait_for_requests(self, count: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Return once ``count`` requests in all were received; ``TimeoutError`` else."""
        await self._wait(lambda: len(self.requests) >= count, timeout)

    async def _wait(self, predicate: Callable[[], bool], seconds: float) -> None:
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- handlers --------------------------------------------------------------------

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        return await self._model_request(request, "openai")

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._model_request(request, "anthropic")

    async def _models(self, request: web.Request) -> web.StreamResponse:
        await self._record(request, None)
        if "anthropic-version" in request.headers:
            entry = {"type": "model", "id": "scripted", "display_name": "Scripted model",
                     "created_at": "2025-01-01T00:00:00Z"}
            return web.json_response({"data": [entry], "has_more": False,
                                      "first_id": "scripted", "last_id": "scripted"})
        model = {"id": "scripted", "object": "model", "created": 0, "owned_by": "nexus-lsp"}
        return web.json_response({"object": "list", "data": [model]})

    async def _model_request(self, request: web.Request, fmt: _Format) -> web.StreamResponse:
        problem: str | None
        try:
            body: Any = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            body, problem = None, f"The request body is not valid JSON: {exc}"
        else:
            validate = validate_openai_request if fmt == "openai" else validate_anthropic_request
            problem = validate(body)
        if problem is not None:
            index = await self._record(request, body, validation_error=problem)
            self.validation_errors.append(ValidationFailure(request.path, problem, index))
            log.warning("scripted model: request %d refused: %s", index, problem)
            return _error(fmt, 400, problem)
        transcript = compaction_transcript(fmt, body)
        if transcript is not None:
            return await self._summarise(request, fmt, body, transcript)
        if not self._queue:
            await self._record(request, body)
            message = (f"the scripted model's script is exhausted: all {self._served} "
                       "responses were served")
            log.warning("scripted model: %s", message)
            return _error(fmt, 500, message)
        response = self._queue.popleft()
        position = self._served = self._served + 1
        await self._record(request, body, response_index=position - 1)
        fault = response.fault
        if fault is not None and fault.status is not None:
            return _error(fmt, fault.status, fault.message or _default_message(fault.status),
                          retry_after=fault.retry_after)
        renderer = _renderer(fmt, response, body, position)
        try:
            if body.get("stream") is True:
                return await self._stream(request, renderer, response, position)
            return await self._whole(request, renderer, fault)
        except asyncio.CancelledError:
            # handler_cancellation: the client closed the connection mid-response.
            if not self._stopping.is_set():
                await asyncio.shield(self._disconnected(position))
            raise

    async def _summarise(self, request: web.Request, fmt: _Format, body: Any,
                         transcript: str) -> web.StreamResponse:
        """A compaction request: answered with the summary, the script left as it is."""
        index = await self._record(request, body)
        self.summary_requests.append(index)
        response = self.summary or ScriptedResponse(text=default_summary(transcript))
        fault = response.fault
        if fault is not None and fault.status is not None:
            return _error(fmt, fault.status, fault.message or _default_message(fault.status),
                          retry_after=fault.retry_after)
        position = 10_000 + len(self.summary_requests)  # never a script position
        renderer = _renderer(fmt, response, body, position)
        try:
            if body.get("stream") is True:
                return await self._stream(request, renderer, response, position)
            return await self._whole(request, renderer, fault)
        except asyncio.CancelledError:
            if not self._stopping.is_set():
                await asyncio.shield(self._disconnected(position))
            raise

    async def _stream(self, request: web.Request, renderer: Renderer,
                      response: ScriptedResponse, position: int) -> web.StreamResponse:
        pieces = response.pieces(position)
        fault = response.fault

        def at(value: int | None) -> int | None:
            # A fault placed after the last chunk happens just before the closing events.
            return None if value is None else min(value, len(pieces))

        cut = malformed = stall = error = None
        if fault is not None:
            cut, malformed, stall, error = (
                at(fault.cut_after_chunks), at(fault.malformed_after_chunks),
                at(fault.stall_at), at(fault.error_after_chunks))
        stream = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                             "Cache-Control": "no-cache"})
        try:
            await stream.prepare(request)
            await stream.write(b"".join(renderer.opening()))
            for n in range(len(pieces) + 1):
                if n == cut:
                    _cut(request)
                    return stream
                if n == malformed:
                    await stream.write(renderer.malformed())
                if n == stall:
                    await self._stopping.wait()
                    return stream
                if n == error and fault is not None:
                    await stream.write(renderer.error_event(_error_event_message(fault)))
                    await stream.write_eof()
                    return stream
                if n == len(pieces):
                    break
                if response.delay_ms:
                    await asyncio.sleep(response.delay_ms / 1000)
                await stream.write(b"".join(renderer.piece(pieces[n])))
            await stream.write(b"".join(renderer.closing()))
            await stream.write_eof()
        except ConnectionError:
            await self._disconnected(position)
        return stream

    async def _whole(self, request: web.Request, renderer: Renderer,
                     fault: Fault | None) -> web.StreamResponse:
        if fault is not None and fault.stall_at is not None:
            await self._stopping.wait()
            return web.Response(status=503, text="the scripted model server is stopping")
        if fault is not None and fault.malformed_after_chunks is not None:
            return web.Response(body=b'{"choices": [ not json', content_type="application/json")
        if fault is not None and fault.error_after_chunks is not None:
            return web.json_response(renderer.error_body(_error_event_message(fault)))
        payload = json.dumps(renderer.whole()).encode()
        if fault is None or fault.cut_after_chunks is None:
            return web.Response(body=payload, content_type="application/json")
        partial = web.StreamResponse(headers={"Content-Type": "application/json"})
        partial.content_length = len(payload)
        await partial.prepare(request)
        await partial.write(payload[: len(payload) // 2])
        _cut(request)
        return partial

    # -- bookkeeping -----------------------------------------------------------------

    async def _record(self, request: web.Request, body: Any, *, response_index: int | None = None,
                      validation_error: str | None = None) -> int:
        headers = {
            name.lower(): "<redacted>" if name.lower() in _SECRET_HEADERS else value
            for name, value in request.headers.items()
        }
        peer = request.transport.get_extra_info("peername") if request.transport else None
        record = RecordedRequest(request.method, request.path, headers, body,
                                 response_index, validation_error,
                                 int(peer[1]) if peer else None)
        self.requests.append(record)
        if self._on_request is not None:
            self._on_request(record)
        await self._notify()
        return len(self.requests) - 1

    async def _disconnected(self, position: int) -> None:
        # A write error and the handler's cancellation can both report one departure.
        if position in self._cut_short:
            return
        self._cut_short.add(position)
        self.disconnects += 1
        log.info("scripted model: client left during response %d", position)
        await self._notify()


def _renderer(fmt: _Format, response: ScriptedResponse, body: dict[str, Any],
              position: int) -> Renderer:
    model = str(body.get("model") or "scripted")
    prompt = {k: body.get(k) for k in ("system", "messages", "tools")}
    input_tokens = max(1, len(json.dumps(prompt)) // 4)
    produced = len(response.text) + len(response.reasoning) + sum(
        len(call.arguments_text()) + len(call.name) for call in response.tool_calls)
    output_tokens = max(1, produced // 4)
    if response.usage is not None:
        input_tokens = response.usage.input_tokens or input_tokens
        output_tokens = response.usage.output_tokens or output_tokens
    if fmt == "openai":
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return OpenAIRenderer(response, model=model, position=position,
                              input_tokens=input_tokens, output_tokens=output_tokens,
                              include_usage=include_usage)
    return AnthropicRenderer(response, model=model, position=position,
                             input_tokens=input_tokens, output_tokens=output_tokens)


def _error(fmt: _Format, status: int, message: str,
           retry_after: float | None = None) -> web.Response:
    body = openai_error_body(status, message) if fmt == "openai" else anthropic_error_body(
        status, message)
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    return web.json_response(body, status=status, headers=headers)


def _error_event_message(fault: Fault) -> str:
    return fault.message or "The server had an error while processing your request."


def _default_message(status: int) -> str:
    return {
        401: "Incorrect API key provided.",
        403: "You do not have access to this model.",
        404: "The model 'scripted' does not exist.",
        429: "Rate limit reached. Please retry after a short wait.",
        500: "The server had an error while processing your request.",
        503: "The engine is currently overloaded, please try again later.",
    }.get(status, f"scripted fault: HTTP {status}")


def _cut(request: web.Request) -> None:
    """Close the connection mid-response, as a crashing server or proxy would."""
    transport = request.transport
    if transport is not None:
        transport.close()
