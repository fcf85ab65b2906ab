"""The script a :class:`~nexus_lsp.testing.server.ScriptedModelServer` plays.

A script is a list of model responses, consumed one per model request, in order,
whatever the endpoint: the same script drives the OpenAI and the Anthropic wire
formats. The JSON format (camelCase, documented in ``docs/scripted-model.md``)::

    {"responses": [
        {"text": "Let me read it.", "reasoning": "optional thinking",
         "toolCalls": [{"id": "call_1", "name": "read_file", "arguments": {"path": "a.py"}},
                       {"name": "edit_file", "rawArguments": "{not json"}],
         "chunkSize": 8, "delayMs": 5,
         "usage": {"inputTokens": 120, "outputTokens": 40},
         "finishReason": null,
         "fault": null}]}

Unknown keys are refused so that a typo in a script fails loudly instead of
silently playing something else; every problem names its place, e.g.
``responses[0].fault.cutAfterChunks: Input should be greater than or equal to 0``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "COMPACTION_MARKER",
    "Fault",
    "Piece",
    "Script",
    "ScriptError",
    "ScriptedResponse",
    "ScriptedToolCall",
    "ScriptedUsage",
]


class ScriptError(ValueError):
    """A script (file or dict) that does not validate; the message names the field."""


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class ScriptedToolCall(_Model):
    """One tool call; ``rawArguments`` sends text as-is (e.g. invalid JSON)."""

    id: str | None = None
    name: str = Field(min_length=1)
    arguments: dict[str, Any] | None = None
    raw_arguments: str | None = None

    @model_validator(mode="after")
    def _one_kind_of_arguments(self) -> ScriptedToolCall:
        if self.arguments is not None and self.raw_arguments is not None:
            raise ValueError("give either arguments or rawArguments, not both")
        return self

    def arguments_text(self) -> str:
        if self.raw_arguments is not None:
            return self.raw_arguments
        return json.dumps(self.arguments or {})


class ScriptedUsage(_Model):
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)


class Fault(_Model):
    """What goes wrong with a response instead of (or in the middle of) the answer.

    ``status``: answer with this HTTP status and an error body shaped like the
    endpoint's API (``retryAfter`` adds a ``Retry-After`` header, in seconds).
    ``cutAfterChunks``: close the connection after that many content chunks.
    ``malformedAfterChunks``: send a data line that is not JSON after that many chunks.
    ``stall`` / ``stallAfterChunks``: send the headers, the opening event and that
    many chunks (0 for ``stall: true``), then wait until the client goes away.
    ``errorAfterChunks``: after that many chunks, the API's error event (OpenAI
    ``data: {"error": ...}``, Anthropic ``event: error``) saying ``message``, then
    the end of the body (a whole answer: that error as a 200 body).
    """

    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    message: str | None = None
    cut_after_chunks: int | None = Field(default=None, ge=0)
    malformed_after_chunks: int | None = Field(default=None, ge=0)
    stall: bool = False
    stall_after_chunks: int | None = Field(default=None, ge=0)
    error_after_chunks: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_fault(self) -> Fault:
        kinds = [
            name
            for name, present in (
                ("status", self.status is not None),
                ("cutAfterChunks", self.cut_after_chunks is not None),
                ("malformedAfterChunks", self.malformed_after_chunks is not None),
                ("stall", self.stall or self.stall_after_chunks is not None),
                ("errorAfterChunks", self.error_after_chunks is not None),
            )
            if present
        ]
        if len(kinds) != 1:
            raise ValueError(
                "a fault needs exactly one of status, cutAfterChunks, malformedAfterChunks, "
                f"stall/stallAfterChunks, errorAfterChunks (got {kinds or 'none'})"
            )
        if self.retry_after is not None and self.status is None:
            raise ValueError("retryAfter goes with status")
        if (self.message is not None and self.status is None
                and self.error_after_chunks is None):
            raise ValueError("message goes with status or errorAfterChunks")
        return self

    @property
    def stall_at(self) -> int | None:
        if self.stall_after_chunks is not None:
            return self.stall_after_chunks
        return 0 if self.stall else None


class ScriptedResponse(_Model):
    """One model answer: reasoning, then text, then tool calls, streamed in chunks."""

    text: str = ""
    reasoning: str = ""
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    chunk_size: int = Field(default=16, ge=1)
    delay_ms: float = Field(default=0, ge=0)
    usage: ScriptedUsage | None = None
    finish_reason: Literal["stop", "length", "toolCalls"] | None = None
    fault: Fault | None = None

    def pieces(self, position: int) -> list[Piece]:
        """The content chunks of this answer, in streaming order.

        ``position`` (the response's place in the script, 1-based) makes the ids of
        tool calls that the script left without one unique and predictable:
        ``call_<position>_<index>``.
        """
        out: list[Piece] = []
        out += [Piece("reasoning", part) for part in _split(self.reasoning, self.chunk_size)]
        out += [Piece("text", part) for part in _split(self.text, self.chunk_size)]
        for index, call in enumerate(self.tool_calls):
            call_id = call.id or f"call_{position}_{index}"
            out.append(Piece("toolStart", "", index, call_id, call.name))
            out += [
                Piece("toolArguments", part, index, call_id, call.name)
                for part in _split(call.arguments_text(), self.chunk_size)
            ]
        return out

    def stop_reason(self) -> Literal["stop", "length", "toolCalls"]:
        if self.finish_reason is not None:
            return self.finish_reason
        return "toolCalls" if self.tool_calls else "stop"


@dataclass(frozen=True, slots=True)
class Piece:
    """One content chunk; a wire format renders it as one streamed event."""

    kind: Literal["reasoning", "text", "toolStart", "toolArguments"]
    text: str
    tool_index: int = 0
    tool_id: str = ""
    tool_name: str = ""


# Opens the system prompt of a compaction request (nexus_lsp.session.compaction's
# COMPACTION_MARKER; a unit test keeps the two equal).
COMPACTION_MARKER = "[nexus:compaction]"


class Script(_Model):
    responses: tuple[ScriptedResponse, ...] = ()
    # The answer to every compaction request (which takes no response of the script);
    # None: a summary made from the request (see docs/scripted-model.md).
    summary: ScriptedResponse | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Script:
        """Validate a script given as a dict; raises :class:`ScriptError`."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ScriptError(_describe(exc, "script")) from None

    @classmethod
    def load(cls, path: str | Path) -> Script:
        """Read a JSON script file; raises :class:`ScriptError` naming the file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ScriptError(f"{path}: cannot read the script: {exc.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ScriptError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ScriptError(f"{path}: expected a JSON object with 'responses'")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ScriptError(_describe(exc, str(path))) from None


def parse_response(data: ScriptedResponse | Mapping[str, Any]) -> ScriptedResponse:
    """One response for ``push``/``extend``; raises :class:`ScriptError`."""
    if isinstance(data, ScriptedResponse):
        return data
    try:
        return ScriptedResponse.model_validate(data)
    except ValidationError as exc:
        raise ScriptError(_describe(exc, "response")) from None


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _describe(exc: ValidationError, where: str) -> str:
    problems = []
    for error in exc.errors():
        parts: list[str] = []
        for key in error["loc"]:
            if isinstance(key, int):
                parts[-1:] = [f"{parts[-1]}[{key}]" if parts else f"[{key}]"]
            else:
                parts.append(str(key))
        problems.append(f"{'.'.join(parts) or where}: {error['msg']}")
    return f"{where}: invalid script: " + "; ".join(problems)
