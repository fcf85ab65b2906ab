"""LSP framing (``Content-Length: N``, a blank line, N bytes of JSON), read robustly.

pygls' reader matched only ``Content-Length: N\\r\\n`` exactly: after one malformed
header (a wrong or missing length, ``content-length`` in lower case, LF-only line
ends) it dropped every later message until a bare line break came, and a header
line over 1 MiB ended the server. This reader:

- accepts header names in any case, LF-only line ends, blank lines between frames,
  and headers it does not know (``Content-Type`` is ignored: the body is UTF-8);
- caps a header block at :data:`MAX_HEADER_BYTES` (64 KiB) and a body at
  :data:`MAX_BODY_BYTES` (128 MiB; VS Code does not even sync files over 50 MB to
  a language server). Memory stays bounded by them whatever arrives;
- after a malformed frame, resynchronises on the next ``Content-Length:`` header
  and logs what it dropped (one WARNING line, with the start of the bytes);
- never waits forever for a body whose ``Content-Length`` is too large when the
  next frame has begun: a ``Content-Length: N`` line ending in a line break cannot
  occur in JSON (a string holds no raw line break, and outside strings the name
  would be a syntax error), so finding one inside a body means the body ended
  before it. A body that is not JSON is searched for the next header likewise.

What the reader cannot read as a message comes out as :class:`Unreadable`; the
serve loop answers it (``-32700``/``-32600``, with the request's id when the cut
message still shows it, else ``id: null``) unless it was a notification.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_HEADER_BYTES",
    "FrameReader",
    "Message",
    "Unreadable",
]

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 128 * 1024 * 1024
READ_CHUNK = 64 * 1024
PARSE_ERROR = -32700
INVALID_REQUEST = -32600

ReadSome = Callable[[int], Awaitable[bytes]]
"""Reads up to n bytes, at least one; ``b""`` at the end of the input."""

_BLOCK_END = re.compile(rb"\n\r?\n")
_HEADER = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*:[ \t]*(.*?)[ \t]*\r?")
_NAME = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
# A whole Content-Length line: never inside a JSON text (see the module docstring).
_LINE = re.compile(rb"content-length[ \t]{0,16}:[ \t]{0,16}[0-9]{1,12}[ \t]{0,16}\r?\n", re.I)
_LINE_REACH = 64  # the longest match of _LINE
_KEEP = len(b"content-length:") - 1  # a name cut by the end of what has arrived
_PREVIEW = 80


@dataclass(frozen=True)
class Message:
    """One message's JSON value (not yet checked as JSON-RPC)."""

    data: Any


@dataclass(frozen=True)
class Unreadable:
    """A frame that is no message: answered with ``code`` when ``answer``."""

    code: int
    problem: str
    msg_id: int | str | None = None
    answer: bool = True


class _Malformed(Exception):
    """The header block at the start of the buffer is no frame."""

    def __init__(self, problem: str, skip: int, *, frame: bool = True) -> None:
        super().__init__(problem)
        # Bytes to drop before looking for the next Content-Length name: past the
        # refused one, never past a later one (it may start the next frame).
        self.skip = skip
        self.frame = frame  # headers of a frame (answered), not bytes of something else


class FrameReader:
    """Frames from a byte stream; see the module docstring."""

    def __init__(
        self,
        read_some: ReadSome,
        *,
        max_header: int = MAX_HEADER_BYTES,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self._read_some = read_some
        self._max_header = max_header
        self._max_body = max_body
        self._buf = bytearray()
        self._eof = False
        self._resyncing = False
        self._dropped = 0
        self._dropped_preview = b""
        self._problem = ""  # what made the reader resynchronise, for the log line

    async def next(self) -> Message | Unreadable | None:
        """The next message, or what could not be read; None at the end of the input."""
        while True:
            if self._resyncing and not await self._resync():
                return None
            item = await self._frame()
            if item is not None:
                return item
            if not self._resyncing:
                return None  # the end of the input

    async def _fill(self) -> bool:
        if self._eof:
            return False
        try:
            chunk = await self._read_some(READ_CHUNK)
        except (ConnectionError, OSError, ValueError):  # a closed pipe or socket
            chunk = b""
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    async def _frame(self) -> Message | Unreadable | None:
        """Read one frame at the start of the buffer; None at the end (or to resync)."""
        searched = 0  # what has been searched for the blank line already
        while True:
            if searched == 0:
                blank = 0
                while blank < len(self._buf) and self._buf[blank] in b"\r\n":
                    blank += 1
                del self._buf[:blank]  # blank lines between frames: harmless
            end = _BLOCK_END.search(self._buf, max(0, searched - 2), self._max_header + 2)
            if end is not None:
                break
            if len(self._buf) > self._max_header:
                self._malformed(f"a header block over {self._max_header} bytes", 1)
                return None
            searched = len(self._buf)
            if not await self._fill():
                self._drop(len(self._buf))
                self._log_dropped("the input ended")
                return None
        try:
            length = self._content_length(bytes(self._buf[: end.start() + 1]), end.end())
        except _Malformed as exc:
            self._malformed(str(exc), exc.skip)
            if exc.frame:  # a frame's headers with a bad length: say so
                return Unreadable(INVALID_REQUEST, f"invalid frame: {exc}")
            return None
        del self._buf[: end.end()]
        return await self._body(length)

    def _content_length(self, block: bytes, block_size: int) -> int:
        lengths: list[tuple[int, bytes]] = []  # (where the line starts, value)
        start = 0
        for line in block.split(b"\n")[:-1]:
            header = _HEADER.fullmatch(line)
            name = header.group(1).lower() if header else b""
            inner = _NAME.search(line, 1 if name == b"content-length" else 0)
            if header is None or inner is not None:
                # Not a header: bytes of something else, maybe with a frame after them.
                raise _Malformed(f"not a header line: {_preview(line)}", 1, frame=False)
            if name == b"content-length":
                lengths.append((start, header.group(2)))
            start += len(line) + 1
        if not lengths:
            raise _Malformed("no Content-Length header", block_size)
        # Past a bad line only: a later Content-Length line may begin the real frame
        # (resynchronising can stop at header text quoted in a dropped body).
        for where, value in lengths:
            if not value.isdigit():
                shown = value.decode("utf-8", "replace")[:40]
                raise _Malformed(f"Content-Length {shown!r} is not a byte count", where + 1)
        where, value = lengths[0]
        if any(other != value for _, other in lengths):
            raise _Malformed("Content-Length headers that disagree", where + 1)
        length = int(value)
        if length > self._max_body:
            raise _Malformed(
                f"Content-Length {length} is over the limit of {self._max_body} bytes", where + 1
            )
        return length

    async def _body(self, length: int) -> Message | Unreadable | None:
        scanned = 0
        while len(self._buf) < length:
            cut = self._next_header_line(scanned)
            if cut is not None:
                return self._cut_body(length, cut)
            scanned = len(self._buf)
            if not await self._fill():
                self._drop(len(self._buf))
                self._log_dropped(f"the input ended inside a {length}-byte body")
                return None
        body = bytes(self._buf[:length])
        del self._buf[:length]
        try:
            return Message(json.loads(body))
        except (ValueError, RecursionError) as exc:
            problem = f"the message is not JSON: {_short(exc)}"
        # Maybe its Content-Length was too large and the next frame began inside it:
        # at a whole Content-Length line if there is one, else maybe in its last bytes.
        found = _LINE.search(body)
        keep = found.start() if found is not None else max(0, len(body) - _LINE_REACH)
        self._buf[0:0] = body[keep:]
        self._resyncing, self._problem = True, problem
        return _unreadable(body[:keep], length, problem)

    def _next_header_line(self, scanned: int) -> int | None:
        """Where a ``Content-Length`` line begins in the body read so far, if one does."""
        newline = self._buf.find(b"\n", scanned)
        while newline != -1:
            found = _LINE.search(self._buf, max(0, newline - _LINE_REACH), newline + 1)
            if found is not None:
                return found.start()
            newline = self._buf.find(b"\n", newline + 1)
        return None

    def _cut_body(self, length: int, cut: int) -> Unreadable:
        body = bytes(self._buf[:cut])
        del self._buf[:cut]
        problem = f"Content-Length {length}, but the next message began after {cut} bytes"
        log.warning("malformed frame: %s: %s", problem, _preview(body))
        return _unreadable(body, length, problem)

    def _malformed(self, problem: str, skip: int) -> None:
        self._problem = f"malformed frame: {problem}"
        self._drop(skip)
        self._resyncing = True

    async def _resync(self) -> bool:
        """Drop bytes up to the next ``Content-Length:`` name; False at the end of input."""
        while True:
            found = _NAME.search(self._buf)
            if found is not None:
                self._drop(found.start())
                self._resyncing = False
                self._log_dropped("resynchronised on the next Content-Length header")
                return True
            self._drop(max(0, len(self._buf) - _KEEP))
            if not await self._fill():
                self._drop(len(self._buf))
                self._log_dropped("the input ended")
                return False

    def _drop(self, count: int) -> None:
        if count <= 0:
            return
        if len(self._dropped_preview) < _PREVIEW:
            room = min(count, _PREVIEW - len(self._dropped_preview))
            self._dropped_preview += bytes(self._buf[:room])
        self._dropped += count
        del self._buf[:count]

    def _log_dropped(self, why: str) -> None:
        """One line per problem: what it was, and the bytes dropped because of it."""
        if self._dropped:
            dropped = f"dropped {self._dropped} bytes: {_preview(self._dropped_preview)}"
            log.warning("%s; %s; %s", self._problem or "not a frame", why, dropped)
        elif self._problem:
            log.warning("%s; %s", self._problem, why)
        self._dropped, self._dropped_preview, self._problem = 0, b"", ""


def _unreadable(body: bytes, length: int, problem: str) -> Unreadable:
    """What to answer for a body cut short: its request's id when it still parses."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return Unreadable(PARSE_ERROR, problem)
    if isinstance(data, dict) and "method" in data and "id" not in data:
        return Unreadable(INVALID_REQUEST, problem, answer=False)  # a notification
    # Only a request's id is answered: a response's id is one of the server's own.
    msg_id = data.get("id") if isinstance(data, dict) and "method" in data else None
    if not isinstance(msg_id, int | str) or isinstance(msg_id, bool):
        msg_id = None
    return Unreadable(INVALID_REQUEST, f"invalid frame: {problem}", msg_id)


def _preview(data: bytes) -> str:
    text = repr(bytes(data[:_PREVIEW]))
    return text + ("…" if len(data) > _PREVIEW else "")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"
