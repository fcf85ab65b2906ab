"""Stream shapes the scripted server does not produce, served by ``httpx.MockTransport``.

Real servers differ: Ollama sends whole tool calls without an index, some servers
end without ``[DONE]``, reasoning comes as ``reasoning``, errors arrive as events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from nexus_lsp.core import (
    CancellationToken,
    Message,
    ReasoningDelta,
    StreamComplete,
    TextDelta,
    ToolCallStarted,
    Usage,
)
from nexus_lsp.errors import (
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderProtocolError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)

from .conftest import ProviderFactory, Sleeps, collect

HI = [Message.user("hi")]


def sse(*events: Any, done: bool = False) -> bytes:
    out = []
    for event in events:
        if isinstance(event, tuple):
            out.append(f"event: {event[0]}\ndata: {json.dumps(event[1])}\n\n")
        else:
            out.append(f"data: {json.dumps(event)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def serve(*bodies: bytes, content_type: str = "text/event-stream"
          ) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport answering each request with the next body."""
    requests: list[httpx.Request] = []
    queue = list(bodies)

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=queue.pop(0), headers={"content-type": content_type})

    return httpx.MockTransport(handler), requests


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


async def test_openai_whole_tool_calls_without_index_and_reasoning_field(
        make_provider: ProviderFactory) -> None:
    body = sse(
        chunk({"role": "assistant", "reasoning": "let me think"}),
        chunk({"content": "Reading"}),
        chunk({"tool_calls": [
            {"id": "call_x", "type": "function",
             "function": {"name": "read_file", "arguments": {"path": "a.py"}}},
            {"function": {"name": "list_directory", "arguments": "{}"}},
        ]}),
        chunk({}, "stop", usage={"prompt_tokens": 5, "completion_tokens": 3}),
    )  # no [DONE]: accepted, a finish_reason was seen
    transport, _ = serve(body)
    events = await collect(make_provider("openai", "http://model.test/v1", transport=transport),
                           HI)
    assert [e.text for e in events if isinstance(e, ReasoningDelta)] == ["let me think"]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Reading"]
    starts = [e for e in events if isinstance(e, ToolCallStarted)]
    assert [(s.index, s.name) for s in starts] == [(0, "read_file"), (1, "list_directory")]
    assert starts[0].id == "call_x" and starts[1].id.startswith("call_")
    complete = events[-1]
    assert isinstance(complete, StreamComplete)
    assert [c.arguments for c in complete.message.tool_calls] == [{"path": "a.py"}, {}]
    assert [c.id for c in complete.message.tool_calls] == [s.id for s in starts]
    assert complete.finish_reason == "toolCalls"  # "stop" after tool calls, normalised
    assert complete.usage == Usage(5, 3)


async def test_openai_index_reused_for_a_new_call_and_fragments_by_index(
        make_provider: ProviderFactory) -> None:
    body = sse(
        chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "read_file",
                                                                   "arguments": '{"pa'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'th": "x"}'}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "b", "function": {"name": "read_file",
                                                                   "arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
        done=True,
    )
    transport, _ = serve(body)
    events = await collect(make_provider("openai", "http://model.test/v1", transport=transport),
                           HI)
    complete = events[-1]
    assert isinstance(complete, StreamComplete)
    assert [(c.id, c.arguments) for c in complete.message.tool_calls] == [
        ("a", {"path": "x"}), ("b", {})]


async def test_openai_stream_without_finish_or_done_is_a_protocol_error(
        make_provider: ProviderFactory, sleeps: Sleeps) -> None:
    transport, requests = serve(sse(chunk({"content": "half"})))
    with pytest.raises(ProviderProtocolError, match="before the model finished"):
        await collect(make_provider("openai", "http://model.test/v1", transport=transport), HI)
    assert len(requests) == 1 and sleeps.delays == []


async def test_a_json_answer_to_a_stream_request_is_a_protocol_error(
        make_provider: ProviderFactory) -> None:
    transport, _ = serve(b'{"choices": []}', content_type="application/json")
    with pytest.raises(ProviderProtocolError, match="text/event-stream"):
        await collect(make_provider("openai", "http://model.test/v1", transport=transport), HI)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"message": "context too long", "type": "invalid_request_error"},
         ProviderBadRequestError),
        ({"message": "bad key", "type": "authentication_error"}, ProviderAuthError),
        ({"message": "boom", "type": "server_error"}, ProviderUnavailableError),
    ],
)
async def test_openai_error_object_mid_stream_is_mapped(
        error: dict[str, str], expected: type[Exception],
        make_provider: ProviderFactory) -> None:
    transport, _ = serve(sse(chunk({"content": "x"}), {"error": error}))
    with pytest.raises(expected, match=error["message"]):
        await collect(make_provider("openai", "http://model.test/v1", transport=transport), HI)


def anthropic_events(*middle: tuple[str, dict[str, Any]], stop: bool = True) -> bytes:
    start = ("message_start", {"type": "message_start", "message": {
        "id": "m", "type": "message", "role": "assistant", "content": [], "model": "x",
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 1}}})
    end = [("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                              "usage": {"output_tokens": 7}}),
           ("message_stop", {"type": "message_stop"})] if stop else []
    return sse(start, ("ping", {"type": "ping"}), *middle, *end)


def block(index: int, content: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return ("content_block_start", {"type": "content_block_start", "index": index,
                                    "content_block": content})


def delta(index: int, content: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return ("content_block_delta", {"type": "content_block_delta", "index": index,
                                    "delta": content})


async def test_anthropic_ignores_signatures_unknown_events_and_counts_cached_input(
        make_provider: ProviderFactory) -> None:
    body = anthropic_events(
        block(0, {"type": "thinking", "thinking": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "hmm"}),
        delta(0, {"type": "signature_delta", "signature": "abc"}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("some_future_event", {"type": "some_future_event"}),
        block(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "Hello"}),
        delta(1, {"type": "citations_delta", "citation": {}}),
        block(2, {"type": "tool_use", "id": "t1", "name": "list_directory", "input": {}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 2}),
    )
    transport, _ = serve(body)
    events = await collect(make_provider("anthropic", "http://model.test", transport=transport),
                           HI)
    assert [type(e).__name__ for e in events] == [
        "ReasoningDelta", "TextDelta", "ToolCallStarted", "StreamComplete"]
    complete = events[-1]
    assert isinstance(complete, StreamComplete)
    assert complete.message.content == "Hello"
    assert complete.message.tool_calls[0].arguments == {}  # no input_json_delta at all
    assert complete.usage == Usage(100, 7)
    assert complete.finish_reason == "stop"


@pytest.mark.parametrize(
    ("kind", "expected", "retried"),
    [
        ("overloaded_error", ProviderUnavailableError, True),
        ("rate_limit_error", ProviderRateLimitedError, True),
        ("invalid_request_error", ProviderBadRequestError, False),
    ],
)
async def test_anthropic_error_event_is_mapped_and_retried_when_nothing_was_emitted(
        kind: str, expected: type[Exception], retried: bool,
        make_provider: ProviderFactory, sleeps: Sleeps) -> None:
    error = anthropic_events(("error", {"type": "error",
                                        "error": {"type": kind, "message": "Nope"}}), stop=False)
    fine = anthropic_events(block(0, {"type": "text", "text": "ok"}))
    transport, requests = serve(error, fine)
    if retried:
        events = await collect(make_provider("anthropic", "http://model.test",
                                             transport=transport, max_retries=1), HI)
        assert [e.text for e in events if isinstance(e, TextDelta)] == ["ok"]
        assert len(requests) == 2
    else:
        with pytest.raises(expected, match="Nope"):
            await collect(make_provider("anthropic", "http://model.test",
                                        transport=transport, max_retries=1), HI)
        assert len(requests) == 1


async def test_anthropic_stream_cut_before_message_stop_is_a_protocol_error(
        make_provider: ProviderFactory) -> None:
    transport, _ = serve(anthropic_events(block(0, {"type": "text", "text": "partial"}),
                                          stop=False))
    with pytest.raises(ProviderProtocolError, match="no message_stop"):
        await collect(make_provider("anthropic", "http://model.test", transport=transport), HI)


async def test_anthropic_delta_for_a_block_that_never_started(
        make_provider: ProviderFactory) -> None:
    transport, _ = serve(anthropic_events(delta(3, {"type": "text_delta", "text": "x"})))
    with pytest.raises(ProviderProtocolError, match="never started"):
        await collect(make_provider("anthropic", "http://model.test", transport=transport), HI)


def status_transport(status: int, body: str, headers: dict[str, str] | None = None
                     ) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=body, headers=headers)
    return handler


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"error": "model \\"llama9\\" not found, try pulling it first"}',
         'model "llama9" not found'),  # Ollama
        ('{"object": "error", "message": "The model `x` does not exist.", "code": 404}',
         "The model `x` does not exist."),  # vLLM
        ('{"detail": "Not Found"}', "Not Found"),
        ("<html>gateway says no</html>", "<html>gateway says no</html>"),
    ],
)
async def test_error_bodies_of_local_servers_keep_their_message(
        body: str, message: str, make_provider: ProviderFactory) -> None:
    transport = httpx.MockTransport(status_transport(404, body))
    provider = make_provider("openai", "http://model.test/v1", transport=transport)
    with pytest.raises(ProviderBadRequestError) as caught:
        await provider.complete(HI, [], CancellationToken())
    assert message in str(caught.value)


async def test_retry_after_ms_header_and_http_date(
        make_provider: ProviderFactory, sleeps: Sleeps) -> None:
    answers = iter([
        httpx.Response(429, json={"error": {"message": "slow"}},
                       headers={"retry-after-ms": "1500"}),
        httpx.Response(429, json={"error": {"message": "slow"}},
                       headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        httpx.Response(200, json={"choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant",
                                                           "content": "done"}}]}),
    ])
    transport = httpx.MockTransport(lambda request: next(answers))
    provider = make_provider("openai", "http://model.test/v1", transport=transport)
    complete = await provider.complete(HI, [], CancellationToken())
    assert complete.message.content == "done"
    assert sleeps.delays == [1.5, 0.0]  # a date in the past means "now"


@pytest.mark.parametrize("bad", [
    chunk({"tool_calls": 5}),  # not iterable: caught as an unexpected shape
    {"choices": [{"index": 0, "delta": "text"}]},
    [1, 2],
])
async def test_openai_chunks_of_unexpected_shape_are_protocol_errors(
        bad: Any, make_provider: ProviderFactory) -> None:
    transport, _ = serve(sse(bad))
    with pytest.raises(ProviderProtocolError):
        await collect(make_provider("openai", "http://model.test/v1", transport=transport), HI)
