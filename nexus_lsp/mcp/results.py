"""What the model reads of an MCP tool result (protocol v2 §5).

Duck-typed over the SDK's content models (``type`` and the fields of each kind), so
this module needs no SDK and is tested with plain objects: text as it is, images and
audio as a short note (mime type, size), embedded resources as their text or a note,
links as a note, ``structuredContent`` as JSON when nothing textual came with it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["content_text", "result_text"]


def _size(data: object) -> int:
    """Bytes of base64 ``data`` without decoding it all."""
    if not isinstance(data, str):
        return 0
    padding = data.count("=", max(0, len(data) - 2))
    return max(0, len(data) * 3 // 4 - padding)


def _one(block: Any) -> str:
    kind = getattr(block, "type", None)
    if kind == "text":
        return str(getattr(block, "text", ""))
    if kind in ("image", "audio"):
        mime = getattr(block, "mime_type", None) or "unknown type"
        return f"[{kind}: {mime}, {_size(getattr(block, 'data', '')):,} bytes]"
    if kind == "resource":
        resource = getattr(block, "resource", None)
        text = getattr(resource, "text", None)
        if isinstance(text, str):
            return text
        uri = getattr(resource, "uri", "?")
        mime = getattr(resource, "mime_type", None) or "unknown type"
        return f"[resource {uri}: {mime}, {_size(getattr(resource, 'blob', '')):,} bytes]"
    if kind == "resource_link":
        name = getattr(block, "name", "")
        return f"[resource {getattr(block, 'uri', '?')}" + (f" ({name})]" if name else "]")
    return f"[{kind or 'unknown'} content]"


def content_text(content: Sequence[Any]) -> str:
    return "\n".join(_one(block) for block in content)


def result_text(result: Any) -> tuple[str, bool]:
    """``(text, is_error)`` of a ``CallToolResult``."""
    content = list(getattr(result, "content", None) or ())
    text = content_text(content)
    structured = getattr(result, "structured_content", None)
    textual = any(getattr(b, "type", None) in ("text", "resource") for b in content)
    if structured is not None and not textual:
        dumped = json.dumps(structured, ensure_ascii=False, indent=2)
        text = f"{text}\n{dumped}" if text else dumped
    return text, bool(getattr(result, "is_error", False))
