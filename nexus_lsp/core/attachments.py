"""Attachments: context the user adds to a prompt (protocol v2 §4), as the model sees it.

A door resolves the wire's ``ContextItem`` values (a file or a range of it, a text,
the editor's diagnostics) into :class:`Attachment` values (``host/attachments.py``);
the session puts them before the prompt, in one block, in the user message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Attachment", "AttachmentType", "render_prompt"]

AttachmentType = Literal["file", "text", "diagnostics"]


@dataclass(frozen=True, slots=True)
class Attachment:
    """One resolved item: ``label`` names it in the transcript (``src/a.py:3-9``)."""

    type: AttachmentType
    label: str
    text: str


def render_prompt(prompt: str, attachments: Sequence[Attachment]) -> str:
    """The user message: the attachments' block, then the prompt."""
    if not attachments:
        return prompt
    parts = ["<attachments>"]
    for item in attachments:
        parts.append(f'<attachment type="{item.type}" name="{_attr(item.label)}">')
        parts.append(item.text.rstrip("\n"))
        parts.append("</attachment>")
    parts.append("</attachments>")
    return "\n".join(parts) + "\n\n" + prompt


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
