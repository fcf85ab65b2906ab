"""Attachments on ``send`` (protocol v2 §4): ``ContextItem`` values → what the model reads.

Shared by every door (the LSP door's ``context`` param; an ACP door maps its resource
blocks to the same items). Files are confined to the workspace like the file tools
and read from the open buffer first, then from disk. All items of one prompt share
``session.maxAttachmentChars``: an item past it is cut, and says so, so the model
knows to read the rest with ``read_file``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from nexus_lsp.core.attachments import Attachment
from nexus_lsp.errors import NexusError
from nexus_lsp.skills.diagnostics import DiagnosticsSource, format_report, severity
from nexus_lsp.skills.workspace import Workspace

__all__ = ["AttachmentError", "ContextItem", "RangeSelector", "resolve_attachments"]

# (text, range as the door received it) → (selected text, first line, last line), 1-based
RangeSelector = Callable[[str, Any], tuple[str, int, int]]


class AttachmentError(NexusError):
    """An item that cannot be attached; ``field`` names it (``context[1].uri``)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class ContextItem:
    type: Literal["file", "text", "diagnostics"]
    uri: str | None = None
    range: Any = None  # the door's range value, given back to its RangeSelector
    title: str | None = None
    text: str | None = None


async def resolve_attachments(
    items: Sequence[ContextItem],
    workspace: Workspace,
    *,
    max_chars: int,
    select: RangeSelector | None = None,
    diagnostics: DiagnosticsSource | None = None,
) -> list[Attachment]:
    """Resolve every item, in order; raises :class:`AttachmentError` naming the first
    one that cannot be attached (outside the workspace, unreadable, no diagnostics)."""
    out: list[Attachment] = []
    left = max_chars
    for n, item in enumerate(items):
        where = f"context[{n}]"
        if item.type == "file":
            attachment = await _file(item, workspace, select, where)
        elif item.type == "text":
            attachment = Attachment("text", item.title or "text", item.text or "")
        else:
            attachment = await _diagnostics(item, workspace, diagnostics, where)
        text = attachment.text
        if len(text) > left:
            shown = max(0, left)
            text = (
                f"{text[:shown]}\n[attachment cut: {shown:,} of {len(text):,} characters "
                f"shown (session.maxAttachmentChars is {max_chars:,} for all attachments "
                "together); read the rest with the file tools]"
            )
        left -= len(attachment.text)
        out.append(Attachment(attachment.type, attachment.label, text))
    return out


async def _file(
    item: ContextItem, workspace: Workspace, select: RangeSelector | None, where: str
) -> Attachment:
    if not item.uri:
        raise AttachmentError(f"{where}.uri: a file attachment needs a uri", f"{where}.uri")
    try:
        path = workspace.resolve(item.uri)
        rel = workspace.relative(path)
        text = await workspace.read_text(path)
    except NexusError as exc:
        raise AttachmentError(f"{where}.uri: cannot attach {item.uri}: {exc}",
                              f"{where}.uri") from None
    if item.range is None:
        return Attachment("file", rel, text)
    if select is None:
        raise AttachmentError(f"{where}.range: ranges are not supported here", f"{where}.range")
    selected, first, last = select(text, item.range)
    label = f"{rel}:{first}" if first == last else f"{rel}:{first}-{last}"
    return Attachment("file", label, selected)


async def _diagnostics(
    item: ContextItem, workspace: Workspace, source: DiagnosticsSource | None, where: str
) -> Attachment:
    if source is None:
        raise AttachmentError(
            f"{where}: diagnostics attachments need an editor that gives its diagnostics "
            "(initializationOptions.clientFeatures.diagnostics)", f"{where}.type")
    paths: list[str] = []
    if item.uri:
        try:
            paths.append(workspace.relative(workspace.resolve(item.uri)))
        except NexusError as exc:
            raise AttachmentError(f"{where}.uri: cannot attach {item.uri}: {exc}",
                                  f"{where}.uri") from None
    try:
        found = await source.diagnostics(paths)
    except Exception as exc:
        raise AttachmentError(f"{where}: the editor did not give its diagnostics: {exc}",
                              f"{where}.type") from None
    entries = sorted(((p, d) for p, ds in found.items() for d in ds),
                     key=lambda e: (severity(e[1]), e[0]))
    label = f"diagnostics of {paths[0]}" if paths else "diagnostics"
    return Attachment("diagnostics", label, format_report(entries) or "No diagnostics.")
