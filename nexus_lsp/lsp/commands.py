"""For generic LSP editors: the ``nexus.ask`` prompt and the code actions (protocol §6).

``nexus.ask`` with a ``uri`` and a ``range`` sends the user's prompt followed by the
selected text, fenced, with its workspace-relative path and 1-based line numbers::

    Explain what this code does.

    Selection from `src/app.py`, lines 3-7:
    ```python
    ...
    ```

Code actions offer each prompt of the ``codeActions`` setting for the selection, as
a ``nexus.ask`` command the editor runs through ``workspace/executeCommand``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath

from lsprotocol import types

from nexus_lsp import wire
from nexus_lsp.config import CodeActionSetting
from nexus_lsp.lsp.edits import LineIndex

__all__ = ["actions_wanted", "ask_prompt", "code_actions", "offers_actions", "selection_range"]

_LANGUAGES = {
    ".py": "python", ".js": "javascript", ".ts": "typescript", ".tsx": "tsx", ".jsx": "jsx",
    ".rs": "rust", ".go": "go", ".java": "java", ".c": "c", ".h": "c", ".cpp": "cpp",
    ".hpp": "cpp", ".cs": "csharp", ".rb": "ruby", ".php": "php", ".lua": "lua",
    ".sh": "sh", ".md": "markdown", ".json": "json", ".toml": "toml", ".yaml": "yaml",
    ".yml": "yaml", ".html": "html", ".css": "css", ".sql": "sql", ".kt": "kotlin",
}


def selection_range(
    text: str, start: types.Position, end: types.Position, encoding: str
) -> tuple[str, int, int]:
    """The selected text and its first and last line (1-based) in ``text``."""
    index = LineIndex(text)
    a, b = sorted((index.offset(start, encoding), index.offset(end, encoding)))
    first = index.position(a).line + 1
    last = index.position(b).line + 1
    # A selection ending at the start of a line does not include that line.
    if b > a and index.position(b).character == 0 and last > first:
        last -= 1
    return text[a:b], first, last


def ask_prompt(
    prompt: str,
    *,
    path: str | None = None,
    selection: str | None = None,
    first_line: int | None = None,
    last_line: int | None = None,
) -> str:
    """The user's prompt with the file and selection it is about."""
    if path is None:
        return prompt
    if not selection:
        where = f", line {first_line}" if first_line is not None else ""
        return f"{prompt}\n\nThe user is looking at `{path}`{where}."
    lines = f"line {first_line}" if first_line == last_line else f"lines {first_line}-{last_line}"
    fence = _fence(selection)
    language = _LANGUAGES.get(PurePosixPath(path).suffix.lower(), "")
    body = selection if selection.endswith("\n") else selection + "\n"
    return f"{prompt}\n\nSelection from `{path}`, {lines}:\n{fence}{language}\n{body}{fence}"


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=0)
    return "`" * max(3, longest + 1)


def offers_actions(params: types.CodeActionParams) -> bool:
    """Whether to offer the prompts: on a selection, or when the user asked for actions.

    Editors ask for code actions on every cursor move to decide on a lightbulb
    (``triggerKind`` Automatic); prompts about an empty selection are noise there.
    A request the user made (Invoked, or an editor that does not say) gets them for
    the cursor's line too.
    """
    if params.range.start != params.range.end:
        return True
    return params.context.trigger_kind != types.CodeActionTriggerKind.Automatic


def code_actions(
    settings: Sequence[CodeActionSetting], params: types.CodeActionParams
) -> list[types.CodeAction]:
    """One action per configured prompt, unless the client asked for other kinds
    (whether to offer any at all is :func:`offers_actions`)."""
    if not actions_wanted(params):
        return []
    selection = {
        "start": {"line": params.range.start.line, "character": params.range.start.character},
        "end": {"line": params.range.end.line, "character": params.range.end.character},
    }
    actions = []
    for setting in settings:
        argument = {"prompt": setting.prompt, "uri": params.text_document.uri, "range": selection}
        actions.append(
            types.CodeAction(
                title=setting.title,
                kind=wire.CODE_ACTION_KIND,
                command=types.Command(
                    title=setting.title, command=wire.COMMAND_ASK, arguments=[argument]
                ),
            )
        )
    return actions


def actions_wanted(params: types.CodeActionParams) -> bool:
    """Whether the client's ``only`` (if any) lets our kind of action through."""
    only = params.context.only
    return not only or any(_kind_matches(str(getattr(k, "value", k))) for k in only)


def _kind_matches(wanted: str) -> bool:
    kind = wire.CODE_ACTION_KIND
    return wanted == "" or wanted == kind or kind.startswith(wanted + ".")
