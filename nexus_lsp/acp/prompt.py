"""ACP prompt blocks → the turn's prompt text, attachments first.

``text`` blocks are the prompt; ``resource`` blocks (embedded context: a file's text
the client sent along) and ``resource_link`` blocks (a file the turn should see,
read here from the workspace, confined like a tool's read) are attachments: they
reach the model as one block before the prompt, like protocol-v2 §4's ContextItems.
Images and audio are not advertised (``promptCapabilities``) and are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from acp.schema import (
    BlobResourceContents,
    EmbeddedResourceContentBlock,
    ResourceContentBlock,
    TextContentBlock,
    TextResourceContents,
)

from nexus_lsp.acp.rpc_errors import rpc_error
from nexus_lsp.errors import NexusError
from nexus_lsp.skills.workspace import Workspace

__all__ = ["Attachment", "PromptParts", "build_prompt", "command_of"]

COMMANDS = ("compact", "fork", "revert")


@dataclass(frozen=True, slots=True)
class Attachment:
    uri: str
    text: str


@dataclass(slots=True)
class PromptParts:
    text: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def prompt_text(self) -> str:
        return "\n".join(self.text).strip()

    def model_prompt(self) -> str:
        """What the model gets: the attachments block, then the prompt."""
        if not self.attachments:
            return self.prompt_text
        parts = ["Attached context:"]
        for item in self.attachments:
            parts.append(f'<attachment uri="{item.uri}">\n{item.text}\n</attachment>')
        return "\n".join(parts) + "\n\n" + self.prompt_text


def _path_of(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path))


async def _read_link(uri: str, workspace: Workspace) -> str:
    path = _path_of(uri)
    if path is None:
        return f"(not attached: only file: links can be read, got {uri})"
    try:
        return await workspace.read_text(workspace.resolve(str(path)))
    except NexusError as exc:
        return f"(not attached: {exc})"


async def build_prompt(blocks: list[Any], workspace: Workspace) -> PromptParts:
    parts = PromptParts()
    for index, block in enumerate(blocks):
        if isinstance(block, TextContentBlock):
            parts.text.append(block.text)
        elif isinstance(block, ResourceContentBlock):
            parts.attachments.append(Attachment(block.uri, await _read_link(block.uri, workspace)))
        elif isinstance(block, EmbeddedResourceContentBlock):
            resource = block.resource
            if isinstance(resource, TextResourceContents):
                parts.attachments.append(Attachment(resource.uri, resource.text))
            elif isinstance(resource, BlobResourceContents):
                parts.attachments.append(
                    Attachment(resource.uri, "(binary content, not attached)")
                )
        else:
            kind = getattr(block, "type", type(block).__name__)
            raise rpc_error(
                "unsupportedContent",
                f"prompt[{index}]: {kind} blocks are not supported "
                "(promptCapabilities: text, resource_link and resource only)",
            )
    if not parts.prompt_text and not parts.attachments:
        raise rpc_error("emptyPrompt", "the prompt has no text")
    return parts


def command_of(text: str) -> str | None:
    """The slash command a prompt starts with (one of :data:`COMMANDS`), if any."""
    if not text.startswith("/"):
        return None
    name = text[1:].split(maxsplit=1)[0] if len(text) > 1 else ""
    return name if name in COMMANDS else None
