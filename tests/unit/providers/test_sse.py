"""The SSE parser (one pass per network read) and the provider reading a body read by read.

The parser is checked against the event-stream rules on every way a body can be cut
into reads; the provider is fed bodies in chosen reads through ``httpx.MockTransport``
with an async body, so each test knows exactly what one network read held.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from nexus_lsp.core import CancellationToken, Message, StreamComplete, TextDelta, ToolCallStarted
from nexus_lsp.errors import ProviderProtocolError
from nexus_lsp.providers.reads import network_reads
from nexus_lsp.providers.sse import MAX_EVENT_BYTES, SSEEvent, SSEParser, SSETooLarge

from .conftest import ProviderFactory, collect

HI = [Message.user("hi")]


def parse(*reads: bytes) -> list[SSEEvent]:
    parser = SSEParser()
    return [event for read in reads for event in parser.feed(read)]


def every_split(body: bytes) -> list[list[SSEEvent]]:
    """The events of ``body`` cut into two reads at every offset, and into single bytes."""
    out = [parse(body[:at], body[at:]) for at in range(len(body) + 1)]
    out.append(parse(*(body[i:i + 1] for i in range(len(body)))))
    return out


BODY = (b"\xef\xbb\xbf: a comment to open\n"
        b"event: first\ndata: {\"a\": 1}\n\n"
        b"data:no space\ndata:  two spaces\ndata\n\n"
        b":keep-alive\n\n"
        b"id: 7\nretry: 10\nunknown: x\ndata: caf\xc3\xa9 \xe2\x82\xac\n\n"
        b"data: cut off by the end of the body")
EXPECTED = [SSEEvent("first", '{"a": 1}'), SSEEvent("", "no space\n two spaces\n"),
            SSEEvent("", "café €")]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_events_split_across_reads_at_every_byte_and_every_line_end(newline: bytes) -> None:
    body = BODY.replace(b"\n", newline)
    for events in every_split(body):
        assert events == EXPECTED


def test_mixed_line_ends_and_a_crlf_cut_between_reads() -> None:
    assert parse(b"data: a\r", b"\ndata: b\r", b"\r", b"data: c\n\n") == [
        SSEEvent("", "a\nb"), SSEEvent("", "c")]


def test_an_event_larger_than_a_read_and_invalid_utf8_replaced() -> None:
    payload = json.dumps({"text": "x" * 200_000}).encode()
    body = b"data: " + payload + b"\n\ndata: \xff\xfe ok\n\n"
    reads = [body[i:i + 1024] for i in range(0, len(body), 1024)]
    assert parse(*reads) == [SSEEvent("", payload.decode()), SSEEvent("", "\ufffd\ufffd ok")]


def test_an_endless_line_or_event_is_refused() -> None:
    parser = SSEParser()
    with pytest.raises(SSETooLarge, match="line"):
        parser.feed(b"data: " + b"x" * (MAX_EVENT_BYTES + 1))
    parser = SSEParser()
    line = b"data: " + b"x" * (MAX_EVENT_BYTES // 4) + b"\n"
    with pytest.raises(SSETooLarge, match="event"):
        for _ in range(5):
            parser.feed(line)


# -- the provider, read by read ---------------------------------------------------------


def chunk(text: str | None = None, finish: str | None = None, **delta: Any) -> bytes:
    if text is not None:
        delta["content"] = text
    data = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(data)}\n\n".encode()


def reads_transport(*reads: bytes) -> httpx.MockTransport:
    async def body() -> AsyncIterator[bytes]:
        for read in reads:
            await asyncio.sleep(0)  # as a socket read does: it suspends once
            yield read

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body(),
                              headers={"content-type": "text/event-stream; charset=utf-8"})

    return httpx.MockTransport(handler)


async def test_one_merged_delta_and_one_raw_record_per_read(
        make_provider: ProviderFactory) -> None:
    first = chunk("Hel") + chunk("lo") + chunk(", ")
    call = chunk(tool_calls=[{"index": 0, "id": "c1", "function": {"name": "read_file",
                                                                   "arguments": "{}"}}])
    second = chunk("wor") + call + chunk("ld") + chunk("!")
    # The third read ends in the middle of an event: the rest comes with the fourth.
    tail = chunk(None, "tool_calls") + b"data: [DONE]\n\n"
    raw: list[tuple[str, Any]] = []
    provider = make_provider("openai", "http://model.test/v1", raw_logger=lambda k, d:
                             raw.append((k, d)),
                             transport=reads_transport(first, second, tail[:7], tail[7:]))
    events = await collect(provider, HI)
    # The first text goes out alone (the rest of its read must not hold it back);
    # after that, one delta per read.
    assert [type(e).__name__ for e in events] == [
        "TextDelta", "TextDelta", "TextDelta", "ToolCallStarted", "TextDelta", "StreamComplete"]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo, ", "wor", "ld!"]
    assert isinstance(events[3], ToolCallStarted) and events[3].name == "read_file"
    complete = events[-1]
    assert isinstance(complete, StreamComplete)
    assert complete.message.content == "Hello, world!"
    chunk_records = [data for kind, data in raw if kind == "chunks"]
    assert [len(data) for data in chunk_records] == [1, 2, 4, 2]  # [DONE] is one of them
    assert chunk_records[1][0]["choices"][0]["delta"]["content"] == "lo"


async def test_a_malformed_event_is_a_protocol_error_after_what_came_before_it(
        make_provider: ProviderFactory) -> None:
    raw: list[tuple[str, Any]] = []
    provider = make_provider("openai", "http://model.test/v1",
                             raw_logger=lambda k, d: raw.append((k, d)),
                             transport=reads_transport(chunk("kept") + b"data: {not json\n\n"
                                                       + chunk("never")))
    seen: list[Any] = []
    with pytest.raises(ProviderProtocolError, match="not JSON") as caught:
        async with provider.stream(HI, (), CancellationToken()) as stream:
            async for event in stream:
                seen.append(event)
    assert caught.value.code == "providerProtocol"
    assert [e.text for e in seen if isinstance(e, TextDelta)] == ["kept"]  # not retried
    kinds = [kind for kind, _ in raw]
    assert kinds.index("chunks") < kinds.index("error")  # logged as it arrived


async def test_an_endless_event_is_a_protocol_error(make_provider: ProviderFactory) -> None:
    huge = b"data: " + b"x" * (MAX_EVENT_BYTES + 10)
    provider = make_provider("openai", "http://model.test/v1", max_retries=0,
                             transport=reads_transport(chunk("a"), huge))
    with pytest.raises(ProviderProtocolError, match="more than"):
        await collect(provider, HI)


async def test_cr_line_ends_and_comments_through_the_provider(
        make_provider: ProviderFactory) -> None:
    body = (b": hello\r" + chunk("a").replace(b"\n", b"\r") + b":ping\r\n\r\n"
            + chunk("b", "stop").replace(b"\n", b"\r\n"))
    provider = make_provider("openai", "http://model.test/v1",
                             transport=reads_transport(*(body[i:i + 5]
                                                         for i in range(0, len(body), 5))))
    events = await collect(provider, HI)
    complete = events[-1]
    assert isinstance(complete, StreamComplete) and complete.message.content == "ab"



async def test_network_reads_join_what_one_read_brought() -> None:
    """HTTP chunks already buffered come as one item; each wait for the network ends one."""
    async def body() -> AsyncIterator[bytes]:
        for part in (b"a", b"b", b"c", None, b"d", b"e", None, b"f"):
            if part is None:
                await asyncio.sleep(0)  # the next network read
            else:
                yield part

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body()))
    async with (httpx.AsyncClient(transport=transport) as client,
                client.stream("GET", "http://model.test/") as response):
        reads = [read async for read in network_reads(response)]
    assert reads == [b"abc", b"de", b"f"]


async def test_network_reads_closed_while_a_read_waits() -> None:
    """The reader stops with a read under way: it is cancelled in this task, no warning."""
    gate = asyncio.Event()
    finished: list[str] = []

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            await gate.wait()  # never set: the read waits
            yield b"never"
        finally:
            finished.append("body closed")

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body()))
    async with (httpx.AsyncClient(transport=transport) as client,
                client.stream("GET", "http://model.test/") as response):
        reads = network_reads(response)
        assert await reads.__anext__() == b"first"
        await reads.aclose()
    assert finished == ["body closed"]
