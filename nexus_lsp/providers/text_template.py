"""Plain text chunks recognised without parsing them: the shape of the last one, learned.

A long answer is ~20k chunks that differ only in their text:
``{"id": "x", ..., "choices": [{"index": 0, "delta": {"content": "<text>"}, ...}]}``.
Once one such chunk was parsed (and the decoder said it is nothing but a text
delta), :class:`TextTemplate` keeps the JSON text around its text value. A later
chunk that is that prefix, a *plain* middle (no ``"``, no ``\\``, no control
character: a JSON string that means exactly its characters) and that suffix is the
same chunk with another text, so it needs no ``json.loads``. Anything else (an id
that changes, an escape, a tool call, the last chunk with its ``finish_reason``)
takes the normal path. :meth:`TextTemplate.raw` gives the chunk as
``json.dumps(..., ensure_ascii=False)`` would write it, for ``raw.jsonl``.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["TextPath", "TextTemplate", "is_plain"]

TextPath = tuple[str | int, ...]  # keys and indexes from the chunk down to its text
_MARK = "\x00nexus-text\x00"


def is_plain(text: str) -> bool:
    """Whether ``"text"`` is a JSON string token meaning exactly ``text``."""
    return '"' not in text and "\\" not in text and text.isprintable()


def _split(text: str, token: str) -> tuple[str, str] | None:
    at = text.find(token)
    if at < 0 or text.find(token, at + 1) >= 0:
        return None  # absent, or not only the text value: no template
    return text[: at + 1], text[at + len(token) - 1 :]


def _replaced(value: Any, path: TextPath, leaf: str) -> Any:
    if not path:
        return leaf
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], leaf)
    return copy


class TextTemplate:
    __slots__ = ("_data", "_path", "_prefix", "_raw_prefix", "_raw_suffix", "_suffix")

    def __init__(self, data: Any, path: TextPath, prefix: str, suffix: str,
                 raw_prefix: str, raw_suffix: str) -> None:
        self._data, self._path = data, path
        self._prefix, self._suffix = prefix, suffix
        self._raw_prefix, self._raw_suffix = raw_prefix, raw_suffix

    @classmethod
    def learn(cls, text: str, data: Any, path: TextPath, value: str) -> TextTemplate | None:
        """The template of chunk ``text`` (parsed: ``data``) whose text at ``path`` is
        ``value``; None when the chunk cannot serve as one."""
        if not value or not is_plain(value):
            return None
        around = _split(text, f'"{value}"')
        if around is None:
            return None
        try:
            marked = json.dumps(_replaced(data, path, _MARK), ensure_ascii=False)
        except (TypeError, ValueError, KeyError, IndexError):
            return None
        raw = _split(marked, json.dumps(_MARK, ensure_ascii=False))
        if raw is None:
            return None
        return cls(data, path, around[0], around[1], raw[0], raw[1])

    def match(self, text: str) -> str | None:
        """The text of a chunk of this shape, or None."""
        prefix, suffix = self._prefix, self._suffix
        if (len(text) > len(prefix) + len(suffix) and text.startswith(prefix)
                and text.endswith(suffix)):
            middle = text[len(prefix) : len(text) - len(suffix)]
            if is_plain(middle):
                return middle
        return None

    def data(self, value: str) -> Any:
        """The parsed chunk with text ``value`` (what ``json.loads`` would give): fresh
        containers along the path, the template's values elsewhere (JSON scalars)."""
        source: Any = self._data
        top: Any = dict(source) if type(source) is dict else list(source)
        node = top
        for key in self._path[:-1]:
            source = source[key]
            child: Any = dict(source) if type(source) is dict else list(source)
            node[key] = child
            node = child
        node[self._path[-1]] = value
        return top

    def raw(self, value: str) -> str:
        """``json.dumps(self.data(value), ensure_ascii=False)``, without the walk."""
        return self._raw_prefix + value + self._raw_suffix
