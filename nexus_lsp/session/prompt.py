"""The system prompt of a new session (protocol §9).

In order: the built-in default (what the agent is, its tools, that edits go
through the editor, the workspace folder); the permission mode and that a denial is
final for the call; the workspace's own instructions
(``AGENTS.md``, else ``NEXUS.md``, at the workspace root); ``session.systemPrompt``
from the settings; the ``systemPrompt`` given to ``nexus/session/new``. The result
is stored with the session, so a resumed session keeps the prompt it started with.
"""

from __future__ import annotations

import logging
from pathlib import Path

__all__ = ["INSTRUCTION_FILES", "compose_system_prompt", "permissions_prompt"]

log = logging.getLogger(__name__)

INSTRUCTION_FILES = ("AGENTS.md", "NEXUS.md")
MAX_INSTRUCTION_CHARS = 32_000

DEFAULT_PROMPT = """\
You are Nexus, a coding agent working inside the user's editor, in the workspace \
folder {root}.

You can read and change the workspace with tools: read_file, list_directory and \
search_text to look around; edit_file (exact text replacement), write_file, \
delete_file and rename_file to change it; run_command to run a shell command (tests, \
builds, linters) and read its output and exit code. Paths are relative to the workspace \
folder. Your changes are sent to the editor as workspace edits: the user sees each \
one, can undo it, and can reject it — when a tool result says an edit was rejected, \
do not retry it unchanged; ask or take another approach.

Read before you edit. Prefer small, exact edits with edit_file over rewriting whole \
files. Several independent read-only tool calls in one message run in parallel; \
add "_parallel": true to a call's arguments to run a whole batch in parallel. \
Answer concisely in Markdown."""

MODE_TEXT = {
    "default": "reading and file changes run at once (the user sees and can undo each "
               "edit); every command and external tool is asked to the user first",
    "acceptEdits": "reading and file changes run at once; every command and external tool "
                   "is asked to the user first",
    "strict": "only reading runs at once; every file change, command and external tool is "
              "asked to the user first",
    "plan": "you may only read and search: file changes and commands are refused — "
            "investigate and propose a plan instead of acting",
    "auto": "every tool runs without asking (the user's own deny rules still apply)",
}

PERMISSIONS_PROMPT = """\
Permissions: the session runs in `{mode}` mode: {meaning}. The user can change \
the mode, and rules or earlier answers may allow or refuse some calls. A tool result that \
says `denied` is the user's decision and is final for that call: do not retry it, \
rephrase it or work around it with another tool; continue without it, or ask the user."""


def compose_system_prompt(
    root: Path,
    settings_prompt: str | None = None,
    session_prompt: str | None = None,
    mode: str = "default",
) -> str:
    parts = [DEFAULT_PROMPT.format(root=root), permissions_prompt(mode)]
    instructions = _workspace_instructions(root)
    if instructions:
        parts.append(instructions)
    parts.extend(p.strip() for p in (settings_prompt, session_prompt) if p and p.strip())
    return "\n\n".join(parts)


def permissions_prompt(mode: str) -> str:
    """What the model is told of the permission mode (protocol v2 §1)."""
    return PERMISSIONS_PROMPT.format(mode=mode, meaning=MODE_TEXT.get(mode, MODE_TEXT["default"]))


def _workspace_instructions(root: Path) -> str | None:
    for name in INSTRUCTION_FILES:
        path = root / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            log.warning("cannot read %s: %s", path, exc)
            return None
        if len(text) > MAX_INSTRUCTION_CHARS:
            log.warning("%s is %d characters; only the first %d are used",
                        name, len(text), MAX_INSTRUCTION_CHARS)
            text = text[:MAX_INSTRUCTION_CHARS]
        return f"# Workspace instructions ({name})\n\n{text.strip()}"
    return None
