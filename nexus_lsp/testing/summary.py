"""The scripted model's summary reply (protocol v2 §4 compaction; docs/scripted-model.md).

A compaction request is recognised by its system prompt, which opens with
:data:`~nexus_lsp.testing.script.COMPACTION_MARKER`; it takes no response of the
script and is answered with the script's ``summary``, or with :func:`default_summary`.
"""

from __future__ import annotations

from typing import Any

from nexus_lsp.testing.script import COMPACTION_MARKER

__all__ = ["compaction_transcript", "default_summary"]


def compaction_transcript(fmt: str, body: Any) -> str | None:
    """The transcript of a compaction request (its system prompt opens with the
    marker), or None for any other request."""
    if fmt == "anthropic":
        system = body.get("system")
        if isinstance(system, list):
            system = " ".join(b.get("text", "") for b in system if isinstance(b, dict))
        messages = body.get("messages") or []
    else:
        all_messages = body.get("messages") or []
        first = all_messages[0] if all_messages else {}
        system = first.get("content") if first.get("role") == "system" else None
        messages = all_messages[1:]
    if not isinstance(system, str) or not system.startswith(COMPACTION_MARKER):
        return None
    texts: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            content = "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
        if isinstance(content, str):
            texts.append(content)
    return "\n\n".join(texts)


def default_summary(transcript: str) -> str:
    """The scripted model's summary of a compaction request's transcript: the first
    line of every user message in it, and how many agent answers it held."""
    asked: list[str] = []
    lines = transcript.splitlines()
    for i, line in enumerate(lines):
        if line == "[User]" and i + 1 < len(lines) and lines[i + 1].strip():
            asked.append(lines[i + 1].strip()[:120])
    answers = sum(1 for line in lines if line == "[Agent]")
    earlier = "Earlier summary folded in. " if "[Earlier summary]" in transcript else ""
    listed = "; ".join(asked) or "nothing"
    return (f"Summary (scripted): {earlier}The user asked: {listed}. "
            f"The agent answered {answers} times.")
