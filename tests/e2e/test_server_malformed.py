"""Every request gets one answer, whatever the bytes before it (issue 11, items 10-12).

A real server over raw stdio (pytest-lsp cannot send malformed frames): each case
writes its bytes, then a well-formed ``nexus/session/list`` that must be answered
with a result. Malformed requests each get exactly one error answer with the right
code and a message naming the problem; client mistakes leave no traceback on stderr;
the server still ends with 0 after ``shutdown``/``exit``.
"""

from __future__ import annotations

import io
import itertools
import json
import queue
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .raw_wire import WAIT, RawServer, frame, read_frames, request

LIST = "nexus/session/list"
_ids = itertools.count(1000)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawServer]:
    root = tmp_path_factory.mktemp("raw")
    (root / "ws").mkdir()
    raw = RawServer(root / "ws", root / "stderr.txt")
    try:
        raw.initialize()
        yield raw
    finally:
        raw.close()


def still_serving(server: RawServer) -> list[dict[str, Any]]:
    """Send a well-formed request; it must be answered with a result. Returns the
    answers that came before it (those to the bytes of the case)."""
    msg_id = next(_ids)
    server.send(frame(request(msg_id, LIST, {})))
    answer, before = server.answer_to(msg_id)
    assert "sessions" in answer.get("result", {}), answer
    return before


# --- item 12: framing --------------------------------------------------------------

BODY = json.dumps(request(7, LIST, {})).encode()
BIG = 300 * 1024 * 1024  # over the 128 MiB body cap

FRAMES: dict[str, tuple[bytes, list[int]]] = {
    # name: (bytes, codes of the id-null/other answers they get)
    "length too small": (b"Content-Length: 20\r\n\r\n" + BODY, [-32700]),
    "length too large": (b"Content-Length: %d\r\n\r\n" % (len(BODY) + 500) + BODY, [-32600]),
    "length not a number": (b"Content-Length: abc\r\n\r\n" + BODY, [-32600]),
    "length negative": (b"Content-Length: -5\r\n\r\n" + BODY, [-32600]),
    "length over the cap": (b"Content-Length: %d\r\n\r\n" % BIG + BODY, [-32600]),
    "no length": (b"Content-Type: application/json\r\n\r\n" + BODY, [-32600]),
    "junk line": (b"hello there\r\n", []),
    "header line over 1 MiB": (b"X-Junk: " + b"a" * (2 * 1024 * 1024) + b"\r\n", []),
    "body not JSON": (frame(b'{"jsonrpc": "2.0", "id": 8, '), [-32700]),
}


@pytest.mark.parametrize("name", list(FRAMES))
def test_a_malformed_frame_is_answered_and_the_next_one_is_read(
    server: RawServer, name: str
) -> None:
    data, codes = FRAMES[name]
    server.send(data)
    before = still_serving(server)
    assert [m["error"]["code"] for m in before] == codes, before
    for message in before:
        # Framing problems have no usable id, except a body cut by the next header.
        expected = 7 if name == "length too large" else None
        assert message["id"] == expected
        assert message["error"]["message"]
    assert "Traceback" not in server.stderr()


@pytest.mark.parametrize(
    "header",
    [b"content-length: %d\r\n\r\n", b"CONTENT-LENGTH:%d\r\n\r\n", b"Content-Length: %d\n\n",
     b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: %d\r\n\r\n",
     b"\r\nContent-Length: %d\r\n\r\n"],
    ids=["lower case", "upper case, no space", "LF only", "Content-Type first", "blank line first"],
)
def test_lenient_headers_are_read(server: RawServer, header: bytes) -> None:
    msg_id = next(_ids)
    server.send(frame(request(msg_id, LIST, {}), header=header))
    answer, before = server.answer_to(msg_id)
    assert "sessions" in answer["result"] and before == []
    assert still_serving(server) == []


def test_a_frame_split_in_many_writes_is_read(server: RawServer) -> None:
    msg_id = next(_ids)
    data = frame(request(msg_id, LIST, {}))
    for i in range(0, len(data), 7):
        server.send(data[i : i + 7])
    assert "sessions" in server.answer_to(msg_id)[0]["result"]


# --- items 10 and 11: one answer per request ---------------------------------------

LONG_URI = "src/" + "a" * 5000 + ".py"  # a path in the workspace, relative to it

# name: (message, expected code, words the error message must contain)
REQUESTS: dict[str, tuple[Any, int, list[str]]] = {
    "no params where required": (
        {"jsonrpc": "2.0", "method": "nexus/session/load"}, -32602, ["sessionId"]),
    "params a string": (
        {"jsonrpc": "2.0", "method": LIST, "params": "x"}, -32602, ["params", "a string"]),
    "nested jsonrpc object": (
        {"jsonrpc": "2.0", "method": "nexus/session/new",
         "params": {"title": "t", "meta": {"jsonrpc": "2.0", "id": 3, "method": "x"}}},
        -32602, ["meta"]),
    "executeCommand arguments an object": (
        {"jsonrpc": "2.0", "method": "workspace/executeCommand",
         "params": {"command": "nexus.ask", "arguments": {"prompt": "hi"}}},
        -32602, ["params.arguments", "array"]),
    "executeCommand params a string": (
        {"jsonrpc": "2.0", "method": "workspace/executeCommand", "params": "nexus.ask"},
        -32602, ["params"]),
    "executeCommand unknown command": (
        {"jsonrpc": "2.0", "method": "workspace/executeCommand",
         "params": {"command": "nexus.nope", "arguments": []}}, -32602, ["nexus.nope"]),
    "nexus.ask nested jsonrpc": (
        {"jsonrpc": "2.0", "method": "workspace/executeCommand",
         "params": {"command": "nexus.ask",
                    "arguments": [{"prompt": "hi", "x": {"jsonrpc": "2.0"}}]}},
        -32602, ["arguments[0].x"]),
    "nexus.ask uri too long": (
        {"jsonrpc": "2.0", "method": "workspace/executeCommand",
         "params": {"command": "nexus.ask", "arguments": [{"prompt": "hi", "uri": LONG_URI}]}},
        -32602, ["uri", "too long"]),
    "codeAction garbage params": (
        {"jsonrpc": "2.0", "method": "textDocument/codeAction", "params": {"foo": [1, 2]}},
        -32602, ["params.textDocument", "required"]),
    "codeAction no params": (
        {"jsonrpc": "2.0", "method": "textDocument/codeAction"}, -32602, ["params"]),
    "wrong jsonrpc version": ({"jsonrpc": "1.0", "method": LIST}, -32600, ["jsonrpc"]),
    "method not a string": ({"jsonrpc": "2.0", "method": 5}, -32600, ["method"]),
    "unknown method": ({"jsonrpc": "2.0", "method": "nexus/nope"}, -32601, ["nexus/nope"]),
    "neither method nor result": ({"jsonrpc": "2.0"}, -32600, ["method"]),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_a_malformed_request_gets_exactly_one_error(server: RawServer, name: str) -> None:
    message, code, words = REQUESTS[name]
    msg_id = next(_ids)
    server.send(frame({**message, "id": msg_id}))
    answer, before = server.answer_to(msg_id)
    assert before == []
    assert answer["error"]["code"] == code, answer
    for word in words:
        assert word in answer["error"]["message"], answer
    assert still_serving(server) == []  # no second answer came, and it still serves
    assert "Traceback" not in server.stderr()


@pytest.mark.parametrize(
    ("name", "message", "code", "word"),
    [
        ("not JSON", b'{"jsonrpc": "2.0", "id": 5, "method"', -32700, "not JSON"),
        ("an array", b'[{"jsonrpc": "2.0", "id": 5, "method": "x"}]', -32600, "object"),
        ("id an object", b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "x"}', -32600, "id"),
        ("id null", b'{"jsonrpc": "2.0", "id": null, "method": "x"}', -32600, "id"),
        ("deeply nested", b'{"jsonrpc": "2.0", "id": 5, "x": ' + b"[" * 100000, -32700, "JSON"),
    ],
)
def test_a_message_without_a_usable_id_is_answered_with_id_null(
    server: RawServer, name: str, message: bytes, code: int, word: str
) -> None:
    server.send(frame(message))
    before = still_serving(server)
    assert len(before) == 1 and before[0]["id"] is None, before
    assert before[0]["error"]["code"] == code and word in before[0]["error"]["message"]
    assert "Traceback" not in server.stderr()


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "id": 0, "method": LIST},  # params left out: "{} or none"
        {"jsonrpc": "2.0", "id": 0, "method": LIST, "params": {}, "extra": [1]},
        {"jsonrpc": "2.0", "id": 0, "method": LIST, "params": None},
    ],
)
def test_valid_requests_the_old_reader_dropped_get_their_result(
    server: RawServer, message: dict[str, Any]
) -> None:
    msg_id = next(_ids)
    server.send(frame({**message, "id": msg_id}))
    answer, before = server.answer_to(msg_id)
    assert before == [] and answer["result"]["sessions"] == []


def test_bad_notifications_and_answers_get_no_answer(server: RawServer) -> None:
    for message in [
        {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"x": 1}},
        {"jsonrpc": "2.0", "method": "nexus/session/cancel"},
        {"jsonrpc": "1.0", "method": "initialized"},
        {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": "x"},
        # answers are not answered either, even broken ones
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "bad"}},
        {"jsonrpc": "2.0", "id": 424242, "result": {"applied": True}},
        {"jsonrpc": "2.0", "id": 424243, "error": "not an error object"},
    ]:
        server.send(frame(message))
    assert still_serving(server) == []
    assert "Traceback" not in server.stderr()


# --- every transport: all of it, then shutdown and exit ----------------------------


@pytest.mark.parametrize("tcp", [False, True], ids=["stdio", "tcp"])
def test_after_all_the_bad_input_the_server_still_ends_with_0(
    tmp_path: Path, tcp: bool
) -> None:
    (tmp_path / "ws").mkdir()
    server = RawServer(tmp_path / "ws", tmp_path / "stderr.txt", tcp=tcp)
    try:
        server.initialize()
        for data, _ in FRAMES.values():
            server.send(data)
            still_serving(server)
        for message, code, _ in REQUESTS.values():
            msg_id = next(_ids)
            server.send(frame({**message, "id": msg_id}))
            assert server.answer_to(msg_id)[0]["error"]["code"] == code
        server.send(frame(request(2, "shutdown")))
        assert server.answer_to(2)[0]["result"] is None
        # After shutdown a request is refused, not left unanswered (LSP: InvalidRequest).
        server.send(frame(request(3, LIST, {})))
        assert server.answer_to(3)[0]["error"]["code"] == -32600
        server.send(frame({"jsonrpc": "2.0", "method": "exit"}))
        assert server.wait() == 0
    finally:
        server.close()
    stderr = server.stderr()
    assert "Traceback" not in stderr
    assert "malformed frame: Content-Length 'abc' is not a byte count" in stderr
    assert "dropped 2097162 bytes" in stderr  # the 2 MiB header line, logged


def test_a_file_on_stdin_is_read_with_the_same_resynchronisation(tmp_path: Path) -> None:
    # stdin that asyncio cannot watch (a file, a terminal) is read in a thread.
    probes = list(range(500, 500 + len(FRAMES)))
    data = b"".join(
        bad + frame(request(probe, "nexus/probe"))
        for (bad, _), probe in zip(FRAMES.values(), probes, strict=True)
    )
    data += frame(request(2, "shutdown")) + frame({"jsonrpc": "2.0", "method": "exit"})
    (tmp_path / "input").write_bytes(data)
    with (tmp_path / "input").open("rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "nexus_lsp"], stdin=stdin, capture_output=True,
            cwd=tmp_path, timeout=WAIT * 2,
        )
    answers = [m for m in parse_frames(done.stdout) if "method" not in m]
    for probe in probes:  # each answered once: the unknown method, so it was read
        mine = [m for m in answers if m.get("id") == probe]
        assert [m["error"]["code"] for m in mine] == [-32601], (probe, answers)
    assert done.returncode == 0
    assert b"Traceback" not in done.stderr


def parse_frames(data: bytes) -> list[dict[str, Any]]:
    stream = io.BytesIO(data)
    out: queue.Queue[dict[str, Any] | None] = queue.Queue()
    read_frames(stream, out)
    return [m for m in iter(out.get_nowait, None)]
