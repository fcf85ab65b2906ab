"""Server-sent events, parsed one network read at a time.

:class:`SSEParser` takes the bytes of each read of a response body and returns,
in one synchronous pass, every event the read completed (the WHATWG
event-stream rules: lines end with CRLF, LF or CR; ``:`` starts a comment;
``data`` lines join with ``\\n``; a blank line dispatches; one optional space
after the colon is dropped; a BOM at the start is skipped; an event the body
cut off is dropped). It replaces httpx-sse's chain of async generators, which
cost several awaits per event: a long answer has ~20k events but only ~100
reads, and everything downstream (decoding, the session's deltas, ``raw.jsonl``)
now runs once per read.

Bytes are split before decoding (a CR or LF byte never occurs inside a UTF-8
sequence), and each event's data is decoded once, invalid bytes replaced, as
httpx's text decoder did.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_EVENT_BYTES", "SSEEvent", "SSEParser", "SSETooLarge", "is_event_stream"]

# One event (or one line) larger than this is not an answer but a broken server:
# the parser refuses it rather than buffer without end.
MAX_EVENT_BYTES = 16 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"


class SSETooLarge(ValueError):
    """An event or line longer than :data:`MAX_EVENT_BYTES`."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str  # "" when the event named none ("message" in the spec)
    data: str


def is_event_stream(content_type: str) -> bool:
    return "text/event-stream" in content_type.partition(";")[0].lower()


class SSEParser:
    """Incremental parser: :meth:`feed` each read, in order (see the module doc)."""

    __slots__ = ("_data", "_event", "_pending", "_size", "_started")

    def __init__(self) -> None:
        self._pending = b""  # an unfinished line (or a CR that may be half of a CRLF)
        self._event = ""
        self._data: list[bytes] = []
        self._size = 0  # bytes of data in the event under way
        self._started = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """The events this read completes (possibly none)."""
        if self._pending:
            chunk = self._pending + chunk
        if not self._started:
            if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
                self._pending = chunk
                return []
            self._started = True
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM):]
        if b"\r" in chunk:
            # A CR at the end may be the first half of a CRLF: keep it for the next read.
            cut = chunk.endswith(b"\r")
            if cut:
                chunk = chunk[:-1]
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            lines = chunk.split(b"\n")
            self._pending = lines.pop() + (b"\r" if cut else b"")
        else:
            lines = chunk.split(b"\n")
            self._pending = lines.pop()
        if len(self._pending) > MAX_EVENT_BYTES:
            raise SSETooLarge(f"a line of more than {MAX_EVENT_BYTES:,} bytes")
        return self._lines(lines) if lines else []

    def _lines(self, lines: list[bytes]) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if data or self._event:
                    out.append(SSEEvent(self._event, b"\n".join(data).decode("utf-8", "replace")))
                    data.clear()
                    self._event = ""
                    self._size = 0
                continue
            if line.startswith(b"data:"):
                value = line[6:] if line.startswith(b" ", 5) else line[5:]
                data.append(value)
                self._size += len(value) + 1
                if self._size > MAX_EVENT_BYTES:
                    raise SSETooLarge(f"an event of more than {MAX_EVENT_BYTES:,} bytes")
                continue
            if line.startswith(b":"):
                continue  # a comment (keep-alive)
            name, colon, value = line.partition(b":")
            if colon and value.startswith(b" "):
                value = value[1:]
            if name == b"data":  # "data" alone: an empty data line
                data.append(value)
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
            # id and retry change nothing here (a provider never reconnects); other
            # fields are ignored, as the spec says.
        return out
