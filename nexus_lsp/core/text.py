"""Text that any JSON encoder, HTTP body and database accepts.

Python strings may hold lone surrogates: file names that are not valid UTF-8 (the OS
decodes their bad bytes with ``surrogateescape``), or ``\\ud800`` escapes in JSON a
client or a model sent. Encoding one to UTF-8 raises ``UnicodeEncodeError``; once in
a session's history it would make every later request fail.
"""

from __future__ import annotations

from typing import Any

__all__ = ["escape_surrogates", "valid_unicode", "valid_unicode_json"]


def escape_surrogates(text: str) -> str:
    """``text`` with each undecodable byte shown as a visible ``\\xNN`` escape.

    For names from the OS: ``caf\\udce9.txt`` (the byte 0xE9) becomes ``caf\\xe9.txt``.
    Other lone surrogates become ``\\udNNN`` escapes.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that did not come from bytes
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def valid_unicode(text: str) -> str:
    """``text`` as valid Unicode: surrogate pairs joined, lone surrogates → U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def valid_unicode_json(value: Any) -> Any:
    """``value`` (decoded JSON) with :func:`valid_unicode` applied to every string."""
    if isinstance(value, str):
        return valid_unicode(value)
    if isinstance(value, dict):
        return {valid_unicode(str(k)): valid_unicode_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [valid_unicode_json(v) for v in value]
    return value
