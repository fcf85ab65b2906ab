"""Redaction across streamed chunks: a key sent in pieces is not rebuilt from raw.jsonl.

``raw.jsonl`` has one line per streamed chunk, and each line is redacted on its
own; a model that streams a key as ``"sk-pro"``, ``"j-abc…"`` would leave every
piece in clear, and joining the ``content`` fields of the lines gives the key back.
:class:`ChunkGuard` looks at the text of each string field across the chunks of a
stream (``choices.0.delta.content`` of one chunk continues in the next) and:

* replaces a key that is complete across chunks: its first piece becomes
  ``[REDACTED]``, the others become empty;
* holds a chunk back while its field ends with text that could be the start of a
  key (a suffix shorter than the key that is a prefix of it), until the next
  chunks show whether the key follows. Chunks before it are written at once, so
  usually nothing waits at all, and never more than the chunks since that start.

Held chunks are written when the stream's records end (the next request, response
or error record), when the turn ends and when the files close; what they hold by
then is at most the start of a key, never a whole one.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChunkGuard", "key_start"]

FieldPath = tuple[str | int, ...]  # keys and list indexes down to a string


@dataclass
class _Held:
    seq: int
    record: dict[str, Any]
    leaves: dict[FieldPath, str]  # the chunk's string fields by path (redacted in place)
    changed: bool = False

    def render(self) -> dict[str, Any]:
        if self.changed:
            self.record["data"] = _rebuild(self.record["data"], (), self.leaves)
        return self.record


@dataclass
class _Field:
    """One path's latest text: enough pieces to cover a key that is not complete yet."""

    pieces: deque[list[Any]] = field(default_factory=deque)  # [chunk seq, text]
    dangling: int | None = None  # seq of the chunk where a key may have started


class ChunkGuard:
    """Holds and redacts the ``chunk`` records of one session's raw log (see module doc).

    ``secrets`` gives the current secrets (``Redactor.secrets``). Per string field
    only the last pieces covering a key's length are looked at, so a chunk costs
    the same however many are held.
    """

    def __init__(self, secrets: Callable[[], list[str]], redacted: str) -> None:
        self._secrets = secrets
        self._redacted = redacted
        self._held: deque[_Held] = deque()  # oldest first, consecutive seqs
        self._fields: dict[FieldPath, _Field] = {}  # the fields where a key may be starting
        self._seq = 0
        self._secrets_from: list[str] | None = None
        self._usable: list[str] = []
        self._longest = 0
        self._tail: re.Pattern[str] | None = None

    @property
    def holding(self) -> int:
        return len(self._held)

    @property
    def idle(self) -> bool:
        """Nothing held and no key may be under way: the next chunk may go out alone."""
        return not self._held and not self._fields

    def may_start_key(self, line: str) -> bool:
        """Whether a string value in ``line`` (the chunk as a JSON line) ends with text
        that may start a secret; when not, and :attr:`idle`, the line goes out as is.

        One regular expression over the line the raw log writes anyway: most
        chunks need no walk of their values (see :meth:`push`).
        """
        self._current_secrets()
        return self._tail is not None and self._tail.search(line) is not None

    def push(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """Take one chunk record (its ``data`` the parsed chunk); the records to write now."""
        secrets = self._current_secrets()
        if not secrets:
            return [*self.release(), record]
        seq, self._seq = self._seq, self._seq + 1
        held = _Held(seq, record, _leaves(record.get("data")))
        self._held.append(held)
        for path, text in held.leaves.items():
            piece = self._fields.get(path)
            if piece is None:
                # Nothing before can continue into this text (no key was starting):
                # a key inside it is the line redactor's; only its end matters here.
                if key_start(text, secrets) is not None:
                    self._fields[path] = _Field(deque([[seq, text]]), seq)
                continue
            piece.pieces.append([seq, text])
            self._redact_complete(path, piece, secrets)
            # Older pieces can be part of no key to come: it would start in the last
            # (longest - 1) characters.
            while (len(piece.pieces) > 1
                   and sum(len(p[1]) for p in piece.pieces) - len(piece.pieces[0][1])
                   >= self._longest - 1):
                piece.pieces.popleft()
            piece.dangling = _dangling(piece, secrets)
            if piece.dangling is None:
                del self._fields[path]
        keep_from = min((f.dangling for f in self._fields.values() if f.dangling is not None),
                        default=self._seq)
        ready: list[dict[str, Any]] = []
        while self._held and self._held[0].seq < keep_from:
            ready.append(self._held.popleft().render())
        return ready

    def _current_secrets(self) -> list[str]:
        found = self._secrets()
        if found is not self._secrets_from:  # Redactor.secrets: the same list until a rescan
            self._secrets_from = found
            self._usable = [s for s in found if s and s not in self._redacted]
            self._longest = max(map(len, self._usable), default=0)
            self._tail = _tail_pattern(self._usable)
        return self._usable

    def release(self) -> list[dict[str, Any]]:
        """Every held record, to be written now (the stream's chunks ended)."""
        held, self._held = self._held, deque()
        self._fields.clear()
        return [chunk.render() for chunk in held]

    def _redact_complete(self, path: FieldPath, piece: _Field, secrets: list[str]) -> None:
        """Replace every whole secret in ``piece``'s text, in the pieces and the chunks."""
        for secret in secrets:
            while (at := "".join(p[1] for p in piece.pieces).find(secret)) != -1:
                end, start, first = at + len(secret), 0, True
                for entry in piece.pieces:
                    seq, text = entry
                    stop = start + len(text)
                    if stop > at and start < end:
                        cut_from, cut_to = max(at, start) - start, min(end, stop) - start
                        entry[1] = (text[:cut_from] + (self._redacted if first else "")
                                    + text[cut_to:])
                        first = False
                        held = self._find(seq)
                        if held is not None:
                            held.leaves[path] = entry[1]
                            held.changed = True
                    start = stop

    def _find(self, seq: int) -> _Held | None:
        if not self._held or not 0 <= seq - self._held[0].seq < len(self._held):
            return None
        return self._held[seq - self._held[0].seq]


def key_start(text: str, secrets: list[str]) -> int | None:
    """The first offset from which ``text`` ends with a proper prefix of a secret."""
    best: int | None = None
    for secret in secrets:
        at = text.find(secret[0], max(0, len(text) - len(secret) + 1))
        while at != -1 and (best is None or at < best):
            if secret.startswith(text[at:]):
                best = at
                break
            at = text.find(secret[0], at + 1)
    return best


def _dangling(piece: _Field, secrets: list[str]) -> int | None:
    """The seq of the chunk from which the field's text may be the start of a secret."""
    best = key_start("".join(p[1] for p in piece.pieces), secrets)
    if best is None:
        return None
    start = 0
    for seq, part in piece.pieces:
        if start + len(part) > best:
            return int(seq)
        start += len(part)
    return int(piece.pieces[-1][0])


def _tail_pattern(secrets: list[str]) -> re.Pattern[str] | None:
    """Matches a JSON string value (not a key) ending with a proper prefix of a secret.

    Per secret, its JSON-escaped characters nested as optional groups (``s(?:k(?:-)?)?``)
    then the closing quote; a false match only costs the walk it could have saved.
    """
    if not secrets:
        return None
    alternatives = []
    for secret in secrets:
        chars = [re.escape(json.dumps(c, ensure_ascii=False)[1:-1]) for c in secret[:-1]]
        nested = ""
        for char in reversed(chars[1:]):
            nested = f"(?:{char}{nested})?"
        alternatives.append(chars[0] + nested if chars else "(?!)")
    return re.compile("(?:" + "|".join(alternatives) + ")\"(?=\\s*[,}\\]])")


def _leaves(value: Any) -> dict[FieldPath, str]:
    """The string values inside a parsed chunk, by their path (a loop: once per chunk)."""
    found: dict[FieldPath, str] = {}
    stack: list[tuple[FieldPath, Any]] = [((), value)]
    pop, push = stack.pop, stack.append
    while stack:
        path, item = pop()
        if isinstance(item, str):
            found[path] = item
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(child, str | dict | list):
                    push(((*path, key if isinstance(key, str) else str(key)), child))
        elif isinstance(item, list):
            for index, child in enumerate(item):
                if isinstance(child, str | dict | list):
                    push(((*path, index), child))
    return found


def _rebuild(value: Any, path: FieldPath, leaves: dict[FieldPath, str]) -> Any:
    """``value`` with its string fields taken from ``leaves``."""
    if isinstance(value, str):
        return leaves.get(path, value)
    if isinstance(value, dict):
        return {key: _rebuild(item, (*path, str(key)), leaves) for key, item in value.items()}
    if isinstance(value, list):
        return [_rebuild(item, (*path, index), leaves) for index, item in enumerate(value)]
    return value
