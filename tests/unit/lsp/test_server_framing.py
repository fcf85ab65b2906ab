"""The frame reader: resynchronisation, caps, and frames split anywhere."""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import pytest

from nexus_lsp.lsp.framing import FrameReader, Message, Unreadable


def frame(message: Any, header: bytes = b"Content-Length: %d\r\n\r\n") -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return header % len(body) + body


def source(data: bytes, chunk: int = 1 << 20) -> Any:
    """A stream giving ``data`` in pieces of ``chunk`` bytes."""
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]

    async def read_some(n: int) -> bytes:
        if not pieces:
            return b""
        piece = pieces.pop(0)
        if len(piece) > n:
            pieces.insert(0, piece[n:])
            piece = piece[:n]
        return piece

    return read_some


async def read_all(data: bytes, chunk: int = 1 << 20, **caps: int) -> list[Any]:
    reader = FrameReader(source(data, chunk), **caps)
    items = []
    while (item := await reader.next()) is not None:
        items.append(item.data if isinstance(item, Message) else item)
    return items


GOOD = {"jsonrpc": "2.0", "id": 1, "method": "m", "params": {"text": "Content-Length: 5"}}


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
async def test_frames_split_anywhere_are_read(chunk: int) -> None:
    pretty = json.dumps(GOOD, indent=2).encode()  # line breaks inside a body are fine
    data = frame(GOOD) + frame(pretty, b"content-length:%d\n\n") + frame(GOOD)
    assert await read_all(data, chunk) == [GOOD, GOOD, GOOD]


@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
async def test_a_too_large_length_is_cut_at_the_next_header(chunk: int) -> None:
    body = json.dumps(GOOD).encode()
    data = b"Content-Length: %d\r\n\r\n" % (len(body) + 1000) + body + frame(GOOD)
    first, second = await read_all(data, chunk)
    assert isinstance(first, Unreadable) and first.msg_id == 1 and first.code == -32600
    assert "next message began after" in first.problem
    assert second == GOOD


@pytest.mark.parametrize("overshoot", [1, 5, 14, 20, 30])
async def test_a_length_slightly_too_large_loses_only_its_own_message(overshoot: int) -> None:
    body = json.dumps(GOOD).encode()
    data = b"Content-Length: %d\r\n\r\n" % (len(body) + overshoot) + body + frame(GOOD)
    items = await read_all(data)
    assert isinstance(items[0], Unreadable) and items[1:] == [GOOD]


@pytest.mark.parametrize("chunk", [1, 1 << 20])
async def test_a_too_small_length_answers_a_parse_error_and_resynchronises(
    chunk: int, caplog: pytest.LogCaptureFixture
) -> None:
    plain = {"jsonrpc": "2.0", "id": 1, "method": "m"}
    data = b"Content-Length: 10\r\n\r\n" + json.dumps(plain).encode() + frame(GOOD)
    with caplog.at_level(logging.WARNING):
        first, second = await read_all(data, chunk)
    assert isinstance(first, Unreadable) and first.code == -32700 and first.msg_id is None
    assert second == GOOD
    assert len(caplog.records) == 1 and "dropped" in caplog.text  # one line, with the bytes


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (b"Content-Length: abc\r\n\r\n", "not a byte count"),
        (b"Content-Length: -3\r\n\r\n", "not a byte count"),
        (b"Content-Length: 99999\r\n\r\n", "over the limit of 1000 bytes"),
        (b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n", "disagree"),
        (b"Content-Type: x\r\n\r\n", "no Content-Length"),
    ],
)
async def test_a_bad_header_block_is_answered_and_skipped(header: bytes, problem: str) -> None:
    data = header + json.dumps(GOOD).encode() + frame(GOOD)
    first, *rest = await read_all(data, max_body=1000)
    assert isinstance(first, Unreadable) and problem in first.problem and first.msg_id is None
    # Only disagreeing lengths may cost a second answer: the reader tries the second one.
    assert rest[-1] == GOOD and len(rest) == (2 if problem == "disagree" else 1)


async def test_junk_before_a_frame_and_glued_to_it_is_dropped() -> None:
    data = b"junk\r\n\r\nmore junk" + frame(GOOD) + b"}}}" + frame(GOOD)
    assert await read_all(data) == [GOOD, GOOD]


@pytest.mark.parametrize("start", [b"X: ", b"Content-Length: 5", b"Content-Length: 5\r\nX: "])
async def test_a_header_over_the_cap_is_dropped_in_bounded_memory(start: bytes) -> None:
    data = start + b"a" * 100_000 + b"\r\n\r\n" + frame(GOOD)
    reader = FrameReader(source(data, 4096), max_header=1024)
    assert (await reader.next()) == Message(GOOD)
    assert len(reader._buf) == 0


async def test_the_end_of_input_inside_a_frame_ends_the_reader() -> None:
    assert await read_all(frame(GOOD)[:-3]) == []
    assert await read_all(b"Content-Length: 5\r\n") == []


async def test_a_cut_notification_is_not_answered() -> None:
    body = json.dumps({"jsonrpc": "2.0", "method": "n"}).encode()
    data = b"Content-Length: %d\r\n\r\n" % (len(body) + 50) + body + frame(GOOD)
    first, second = await read_all(data)
    assert isinstance(first, Unreadable) and not first.answer and second == GOOD


@pytest.mark.parametrize("chunk", [1, 1 << 20])
async def test_header_text_inside_a_dropped_body_does_not_cost_the_next_frame(chunk: int) -> None:
    # The cut body holds "Content-Length: 5" in a string: the reader may stop there
    # while resynchronising, but must not lose the real frame after it.
    data = b"Content-Length: 10\r\n\r\n" + json.dumps(GOOD).encode()
    data += frame(GOOD, b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n")
    items = await read_all(data, chunk)
    assert items[-1] == GOOD and all(isinstance(i, Unreadable) for i in items[:-1])


TOKENS = [b"Content-Length", b"content-length", b":", b" ", b"12", b"5", b"-1", b"abc", b"\r\n",
          b"\n", b"\r\n\r\n", b"{", b"}", b'"', b'"jsonrpc"', b"Content-Type: x", b"\x00", b"\xff",
          b"99999999999"]


@pytest.mark.parametrize("seed", range(0, 400, 40))
async def test_fuzz_whatever_comes_before_them_well_formed_frames_are_read(seed: int) -> None:
    for case in range(seed, seed + 40):
        rnd = random.Random(case)
        garbage = b"".join(rnd.choice(TOKENS) for _ in range(rnd.randint(1, 30)))
        messages = [{"jsonrpc": "2.0", "id": i, "method": "m"} for i in range(3)]
        data = garbage + b"".join(frame(m) for m in messages)
        items = await read_all(data, rnd.choice([1, 3, 17, 1 << 20]), max_body=10_000)
        read = [i for i in items if not isinstance(i, Unreadable)]
        assert read[-3:] == messages, (case, garbage, items)
