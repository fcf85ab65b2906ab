"""The files of one session folder: ``context.md``, ``verbose.md``, ``raw.jsonl``.

A :class:`SessionFiles` keeps one append handle per stream, opened on first write
(mode 0600) and kept until :meth:`SessionFiles.close`. Entries are queued and
written at the store's flushes (turn end, every second, before answers), one
write and one flush to the OS per file: a crash loses what the database loses,
the entries since the last flush. Which streams are
written is read from the settings at each write (``logging.streams`` can change
at run time). All text is redacted and made valid UTF-8 first; streamed chunks also
across their boundaries (``raw_chunks.py``: a key sent in pieces is not in clear).

Writing a log must never break a turn: a failure is logged (once until the stream
works again) and the write is dropped.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from nexus_lsp.config import LoggingSettings, LogStream
from nexus_lsp.storage.folder import DIR_MODE, FILE_MODE
from nexus_lsp.storage.raw_chunks import ChunkGuard
from nexus_lsp.storage.records import now, to_db_time
from nexus_lsp.storage.redact import REDACTED, Redactor
from nexus_lsp.wire import CONTEXT_MD, RAW_JSONL, VERBOSE_MD

__all__ = ["SessionFiles", "open_private"]

log = logging.getLogger(__name__)

# Entries queued for one file before they are written without waiting for a flush.
MAX_PENDING = 2000

LineHook = Callable[[int], None]  # told the 0-based line an entry starts on

STREAM_FILES: dict[LogStream, str] = {
    "context": CONTEXT_MD,
    "verbose": VERBOSE_MD,
    "raw": RAW_JSONL,
}


def open_private(path: Path) -> TextIO:
    """Open ``path`` for appending UTF-8 text, creating it readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        return open(fd, "a", encoding="utf-8", errors="replace", newline="")
    except BaseException:
        os.close(fd)
        raise


class SessionFiles:
    def __init__(
        self,
        directory: Path,
        settings: Callable[[], LoggingSettings],
        redactor: Redactor,
    ) -> None:
        self.directory = directory
        self._settings = settings
        self._redactor = redactor
        self._chunks = ChunkGuard(redactor.secrets, REDACTED)
        self._handles: dict[LogStream, TextIO] = {}
        self._lines: dict[LogStream, int] = {}  # newlines in each file, once counted
        # entries not written: their text (rendered at the write) and who wants to know
        # the line they start on
        self._pending: dict[LogStream, list[tuple[Callable[[], str], LineHook | None]]] = {}
        self._failing: set[LogStream] = set()
        self.closed = False

    def __repr__(self) -> str:
        return f"<SessionFiles {self.directory} open={sorted(self._handles)}>"

    def path(self, stream: LogStream) -> Path:
        return self.directory / STREAM_FILES[stream]

    def enabled(self, stream: LogStream) -> bool:
        return not self.closed and stream in self._settings().streams

    def write(self, stream: LogStream, text: str, started: LineHook | None = None) -> None:
        """Append ``text`` (Markdown) to ``stream`` if enabled. Never raises.

        ``started`` is told the 0-based line the text starts on, once it is written
        (an editor is pointed at an answer with it)."""
        if self.enabled(stream):
            self._append(stream, lambda: self._redactor.text(text), started)

    def line_count(self, stream: LogStream) -> int:
        """How many lines ``stream``'s file holds: the 0-based line the next write starts on.

        Counted once from the file (a resumed session appends to it), then kept up to
        date by every write (entries still queued are not counted)."""
        count = self._lines.get(stream)
        if count is None:
            try:
                with open(self.path(stream), "rb") as handle:
                    chunks = iter(lambda: handle.read(1 << 16), b"")
                    count = sum(chunk.count(b"\n") for chunk in chunks)
            except OSError:
                count = 0
            self._lines[stream] = count
        return count

    def raw(self, kind: str, data: Any) -> None:
        """Append one ``raw.jsonl`` line: time, kind and the redacted data. Never raises.

        ``chunks`` is the list of streamed chunks of one network read, one line for
        all. A chunk may wait for the next chunks (a key may be coming in pieces):
        it then goes out on a later line. Any other line first writes the chunks
        held back.
        """
        if not self.enabled("raw"):
            return
        record = {"time": to_db_time(now()), "kind": kind, "data": data}
        if kind == "chunks" and isinstance(data, list):
            self._raw_chunks(record, data)
            return
        if kind == "chunk" and self._chunks.idle:
            # The common case: no key under way, and this chunk starts none.
            try:
                line = self._redactor.json_line(record)
            except Exception:
                line = None  # the guard's path below reports it
            if line is not None and not self._chunks.may_start_key(line):
                self._append("raw", lambda: line + "\n")
                return
        try:
            ready = (self._chunks.push(record) if kind == "chunk"
                     else [*self._chunks.release(), record])
        except Exception:  # a chunk the guard cannot read: written as it is, redacted
            log.warning("raw.jsonl: cannot check a %s record across chunks", kind,
                        exc_info=True)
            ready = self._chunks.release()
            if not any(held is record for held in ready):
                ready.append(record)
        self._write_raw(ready)

    def _raw_chunks(self, record: dict[str, Any], items: list[Any]) -> None:
        """One read's chunks as one line. Each is serialized once; while no key may be
        under way, a chunk whose text ends with no start of a key goes out as it is,
        the others pass the guard (which may hold them for a later line)."""
        guard = self._chunks
        ready: list[tuple[Any, str | None]] = []  # chunk, its JSON text if already made
        made: list[str | None] = getattr(items, "texts", None) or [None] * len(items)
        try:
            for item, known in zip(items, made, strict=True):
                if guard.idle:
                    text = known if known is not None else _json_or_none(item)
                    if text is not None and not guard.may_start_key(text):
                        ready.append((item, text))
                        continue
                chunk = {"time": record["time"], "kind": "chunk", "data": item}
                ready += [(held["data"], None) for held in guard.push(chunk)]
        except Exception:  # a chunk the guard cannot read: written as it is, redacted
            log.warning("raw.jsonl: cannot check chunks across reads", exc_info=True)
            self._write_raw([*self._chunks.release(), record])
            return
        if ready:
            self._append("raw", functools.partial(self._chunks_line, record["time"], ready))

    def _chunks_line(self, time: str, ready: list[tuple[Any, str | None]]) -> str:
        record = {"time": time, "kind": "chunks", "data": [item for item, _ in ready]}
        texts = [text if text is not None else _json_or_none(item) for item, text in ready]
        if any(text is None for text in texts):
            return self._redactor.json_line(record) + "\n"
        line = (f'{{"time": {json.dumps(time)}, "kind": "chunks", "data": ['
                + ", ".join(texts) + "]}")  # type: ignore[arg-type]
        return self._redactor.json_text(line, record) + "\n"

    def release_chunks(self) -> None:
        """Write the chunks held back (the stream is over). Never raises."""
        try:
            held = self._chunks.release()
        except Exception:
            log.warning("raw.jsonl: chunks held back could not be written", exc_info=True)
            return
        if held and self.enabled("raw"):
            self._write_raw(held)

    def _write_raw(self, records: list[dict[str, Any]]) -> None:
        if records:  # one write for them all
            self._append("raw", functools.partial(self._raw_lines, records))

    def _raw_lines(self, records: list[dict[str, Any]]) -> str:
        return "".join(self._redactor.json_line(record) + "\n" for record in records)

    def close_disabled(self) -> None:
        """Close the handles of streams the settings no longer select."""
        streams = self._settings().streams
        for stream in [s for s in self._handles if s not in streams]:
            self._write_pending(stream)  # recorded while it was selected
            self._close(stream)

    def close(self) -> None:
        self.release_chunks()
        self.flush()
        self.closed = True
        for stream in list(self._handles):
            self._close(stream)

    def _append(
        self, stream: LogStream, render: Callable[[], str], started: LineHook | None = None
    ) -> None:
        """Queue an entry; :meth:`flush` writes the queue (rendered then) in one write."""
        pending = self._pending.get(stream)
        if pending is None:
            pending = self._pending[stream] = []
        pending.append((render, started))
        if len(pending) >= MAX_PENDING:
            self._write_pending(stream)

    def flush(self) -> None:
        """Write every queued entry, one write (and one flush to the OS) per file.
        The store calls it at each of its flushes. Never raises."""
        for stream in list(self._pending):
            self._write_pending(stream)

    def _write_pending(self, stream: LogStream) -> None:
        entries = self._pending.pop(stream, None)
        if not entries:
            return
        try:
            texts = [render() for render, _ in entries]
            text = "".join(texts)
            handle = self._handles.get(stream)
            if handle is None:
                self.directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
                self._lines.pop(stream, None)  # counted again: the file may have changed
                lines = self.line_count(stream)
                handle = self._handles[stream] = open_private(self.path(stream))
            else:
                lines = self.line_count(stream)
            handle.write(text)
            handle.flush()
            self._lines[stream] = lines + text.count("\n")
            for (_, started), entry in zip(entries, texts, strict=True):
                if started is not None:
                    started(lines)
                lines += entry.count("\n")
        except Exception:
            # Drop the handle: the next write reopens (the folder may be back by then).
            self._close(stream)
            if stream not in self._failing:
                self._failing.add(stream)
                log.warning("cannot write %s; dropping its entries until it works again",
                            self.path(stream), exc_info=True)
            return
        if stream in self._failing:
            self._failing.discard(stream)
            log.info("writing %s works again", self.path(stream))

    def _close(self, stream: LogStream) -> None:
        handle = self._handles.pop(stream, None)
        if handle is None:
            return
        try:
            handle.close()
        except Exception:
            log.warning("closing %s failed", self.path(stream), exc_info=True)


def _json_or_none(value: Any) -> str | None:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return None
