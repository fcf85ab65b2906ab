"""The built-in file tools of protocol §6, written on the Workspace protocol.

Reads go through :meth:`Workspace.read_text` (the open buffer when the editor has
one); changes go through :meth:`Workspace.apply` as one change each, labelled
``Nexus: <tool> <relative path>``, so an editor can show, undo or reject them.
Output is bounded and says what was cut.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from nexus_lsp import wire
from nexus_lsp.config import SessionSettings
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.threads import run_in_thread
from nexus_lsp.errors import ToolError
from nexus_lsp.skills.base import Skill, SkillArguments, SkillOutput, SkillRegistry
from nexus_lsp.skills.command import CommandLimits, RunCommand
from nexus_lsp.skills.disk import NotUtf8, minimal_replacement
from nexus_lsp.skills.ripgrep import SEARCH_TIMEOUT, RgUnavailable, rg_search
from nexus_lsp.skills.workspace import (
    DeleteFile,
    RenameFile,
    TextReplacement,
    Workspace,
    WriteText,
)

__all__ = ["builtin_registry", "builtin_skills"]

log = logging.getLogger(__name__)

MAX_SEARCH_MATCHES = 200
MAX_SEARCH_FILE_BYTES = 2 * 1024 * 1024


class _FileSkill(Skill[Any]):
    def __init__(self, workspace: Workspace, max_output_chars: int) -> None:
        self.workspace = workspace
        self.max_output_chars = max_output_chars

    def label(self, path: str) -> str:
        return f"Nexus: {self.name} {path}"

    def subject(self, arguments: Mapping[str, Any]) -> str:
        """The path as permission rules see it: workspace-relative, symlinks followed, so
        `./secrets/k`, an absolute path or a link into `secrets/` all read `secrets/k`."""
        raw = super().subject(arguments)
        if not raw and "path" not in arguments:
            return raw
        return self._relative(raw or ".")

    def _relative(self, raw: str) -> str:
        try:
            return self.workspace.relative(self.workspace.resolve(raw))
        except ToolError:
            return raw  # refused later by the tool itself


class ReadFileArgs(SkillArguments):
    path: str = Field(description="File path, relative to the workspace folder.")
    offset: int | None = Field(default=None, ge=1, description="First line to read (1-based).")
    limit: int | None = Field(default=None, ge=1, description="How many lines to read.")


class ReadFile(_FileSkill):
    name = wire.TOOL_READ_FILE
    kind = "read"
    description = (
        "Read a text file of the workspace (the editor's unsaved text when the file is open). "
        "Use offset/limit to page through long files."
    )
    arguments = ReadFileArgs
    read_only = True

    async def run(self, args: ReadFileArgs, token: CancellationToken) -> SkillOutput:
        path = self.workspace.resolve(args.path)
        rel = self.workspace.relative(path)
        note = ""
        try:
            text = await self.workspace.read_text(path)
        except NotUtf8 as exc:
            text = exc.lossy
            note = f"[{exc.detail}; shown with U+FFFD replacement characters]\n"
        lines = text.splitlines(keepends=True)
        total = len(lines)
        first = args.offset or 1
        if total and first > total:
            raise ToolError(
                "failed", f"{rel} has {total:,} lines; offset {first:,} is past the end"
            )
        wanted = lines[first - 1 : first - 1 + args.limit] if args.limit else lines[first - 1 :]
        shown: list[str] = []
        size = 0
        for line in wanted:
            if shown and size + len(line) > self.max_output_chars:
                break
            shown.append(line)
            size += len(line)
        body = "".join(shown)
        last = first + len(shown) - 1
        if len(shown) < total:
            note += f"[{rel}: lines {first:,}–{last:,} of {total:,}; use offset/limit for more]\n"
        return SkillOutput(note + body, (rel,))


class ListDirectoryArgs(SkillArguments):
    path: str = Field(default=".", description="Folder, relative to the workspace folder.")


class ListDirectory(_FileSkill):
    name = wire.TOOL_LIST_DIRECTORY
    kind = "read"
    description = "List a folder of the workspace; folders end with '/'."
    arguments = ListDirectoryArgs
    read_only = True

    async def run(self, args: ListDirectoryArgs, token: CancellationToken) -> SkillOutput:
        path = self.workspace.resolve(args.path)
        entries = await self.workspace.list_directory(path)
        lines = [f"{e.name}/" if e.is_dir else e.name for e in entries]
        rel = self.workspace.relative(path)
        return SkillOutput("\n".join(lines) if lines else f"{rel} is empty", (rel,))


class SearchTextArgs(SkillArguments):
    pattern: str = Field(description="Python regular expression to search for.")
    path: str = Field(default=".", description="Folder or file to search in.")
    glob: str | None = Field(
        default=None, description="Only files matching this glob, e.g. '*.py'."
    )


class SearchText(_FileSkill):
    name = wire.TOOL_SEARCH_TEXT
    kind = "search"
    description = (
        "Search the workspace's text files for a regular expression; answers path:line: text."
    )
    arguments = SearchTextArgs
    read_only = True

    async def run(self, args: SearchTextArgs, token: CancellationToken) -> SkillOutput:
        try:
            regex = re.compile(args.pattern)
        except re.error as exc:
            detail = f"pattern: not a valid regular expression: {exc}"
            raise ToolError("invalidArguments", detail) from None
        root = self.workspace.resolve(args.path)
        # What the editor holds is searched in its text, not in the file on disk.
        held = {path: text for path, text in self.workspace.held_texts().items()
                if path == root or path.is_relative_to(root)}
        timed_out = False
        try:
            found = await rg_search(self.workspace.root, root, args.pattern, args.glob,
                                    max_matches=MAX_SEARCH_MATCHES, token=token)
            matches = [(m.path, m.line, m.text) for m in found.matches if m.path not in held]
            cut, timed_out = found.cut, found.timed_out
        except RgUnavailable as exc:
            log.info("search_text: %s; searching in Python instead", exc)
            # Walking and reading a large tree takes a while: not on the event loop.
            matches, cut = await run_in_thread(self._walk, root, regex, args.glob, held, token)
        if held:
            for path, text in held.items():
                if not args.glob or path.match(args.glob):
                    matches += _matching_lines(path, text, regex)
            matches.sort(key=lambda m: (m[0].parts, m[1]))
            if len(matches) > MAX_SEARCH_MATCHES:
                matches, cut = matches[:MAX_SEARCH_MATCHES], True
        lines = [f"{self.workspace.relative(path)}:{number}: {text.strip()[:300]}"
                 for path, number, text in matches]
        if timed_out:
            lines.append(f"[search stopped after {SEARCH_TIMEOUT:g} s; narrow the search]")
        elif cut:
            lines.append(f"[first {MAX_SEARCH_MATCHES} matches shown; narrow the search]")
        if not matches and not timed_out:
            return SkillOutput(f"no matches for {args.pattern!r}")
        return SkillOutput("\n".join(lines))

    def _walk(self, root: Path, regex: re.Pattern[str], glob: str | None,
              held: dict[Path, str], token: CancellationToken
              ) -> tuple[list[tuple[Path, int, str]], bool]:
        """The Python search (no ``rg`` here): a worker thread walks and reads."""
        matches: list[tuple[Path, int, str]] = []
        for file in self.workspace.files(root):
            token.raise_if_cancelled()
            if file in held or (glob and not file.match(glob)):
                continue
            text = self.workspace.text_for_search(file, MAX_SEARCH_FILE_BYTES)
            if text is None:
                continue  # binary, undecodable, not a regular file or vanished
            matches += _matching_lines(file, text, regex, MAX_SEARCH_MATCHES + 1 - len(matches))
            if len(matches) > MAX_SEARCH_MATCHES:
                return matches[:MAX_SEARCH_MATCHES], True
        return matches, False


def _matching_lines(path: Path, text: str, regex: re.Pattern[str],
                    limit: int = MAX_SEARCH_MATCHES + 1) -> list[tuple[Path, int, str]]:
    found: list[tuple[Path, int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if regex.search(line):
            found.append((path, number, line))
            if len(found) >= limit:
                break
    return found


class WriteFileArgs(SkillArguments):
    path: str = Field(description="File path, relative to the workspace folder.")
    content: str = Field(description="The whole new text of the file.")


class WriteFile(_FileSkill):
    name = wire.TOOL_WRITE_FILE
    kind = "edit"
    description = (
        "Create a file, or replace its whole text. "
        "Prefer edit_file for changes to existing files."
    )
    arguments = WriteFileArgs

    async def run(self, args: WriteFileArgs, token: CancellationToken) -> SkillOutput:
        path = self.workspace.resolve(args.path, for_write=True)
        rel = self.workspace.relative(path)
        if path.is_dir():
            raise ToolError("failed", f"{rel} is a directory")
        original = await self.workspace.read_text(path) if path.exists() else None
        if original is None:
            replacements: tuple[TextReplacement, ...] = (TextReplacement(0, 0, args.content),)
        else:
            replacements = minimal_replacement(original, args.content)
        change = WriteText(path, original, args.content, replacements)
        await self.workspace.apply(change, self.label(rel), token)
        verb = "Created" if original is None else "Replaced"
        return SkillOutput(f"{verb} {rel} ({len(args.content.splitlines()):,} lines)", (rel,))


class EditFileArgs(SkillArguments):
    path: str = Field(description="File path, relative to the workspace folder.")
    old_text: str = Field(alias="oldText", min_length=1, description="Exact text to replace.")
    new_text: str = Field(alias="newText", description="Replacement text.")
    replace_all: bool = Field(
        default=False, alias="replaceAll", description="Replace every occurrence."
    )


class EditFile(_FileSkill):
    name = wire.TOOL_EDIT_FILE
    kind = "edit"
    description = (
        "Replace exact text in a file. Fails when oldText is absent, or occurs more than "
        "once without replaceAll (add surrounding lines to make it unique)."
    )
    arguments = EditFileArgs

    async def run(self, args: EditFileArgs, token: CancellationToken) -> SkillOutput:
        path = self.workspace.resolve(args.path, for_write=True)
        rel = self.workspace.relative(path)
        original = await self.workspace.read_text(path)
        starts = _occurrences(original, args.old_text)
        if not starts:
            raise ToolError("failed", f"oldText was not found in {rel}")
        if len(starts) > 1 and not args.replace_all:
            raise ToolError(
                "failed",
                f"oldText occurs {len(starts)} times in {rel}; add context to make it unique "
                "or set replaceAll",
            )
        end = len(args.old_text)
        replacements = tuple(TextReplacement(s, s + end, args.new_text) for s in starts)
        content = original.replace(args.old_text, args.new_text)
        change = WriteText(path, original, content, replacements)
        await self.workspace.apply(change, self.label(rel), token)
        line = original.count("\n", 0, starts[0]) + 1
        count = f"{len(starts)} occurrences" if len(starts) > 1 else "1 occurrence"
        return SkillOutput(f"Edited {rel}: replaced {count} (first at line {line})", (rel,))


class DeleteFileArgs(SkillArguments):
    path: str = Field(description="File path, relative to the workspace folder.")


class DeleteFileSkill(_FileSkill):
    name = wire.TOOL_DELETE_FILE
    kind = "delete"
    description = "Delete a file of the workspace."
    arguments = DeleteFileArgs

    async def run(self, args: DeleteFileArgs, token: CancellationToken) -> SkillOutput:
        path = self.workspace.resolve(args.path, for_write=True)
        rel = self.workspace.relative(path)
        if not path.is_file():
            raise ToolError("failed", f"{rel}: no such file")
        await self.workspace.apply(DeleteFile(path), self.label(rel), token)
        return SkillOutput(f"Deleted {rel}", (rel,))


class RenameFileArgs(SkillArguments):
    path: str = Field(description="File to rename, relative to the workspace folder.")
    new_path: str = Field(
        alias="newPath", description="New path, relative to the workspace folder."
    )


class RenameFileSkill(_FileSkill):
    name = wire.TOOL_RENAME_FILE
    kind = "move"
    description = "Rename or move a file within the workspace."
    arguments = RenameFileArgs

    def other_subjects(self, arguments: Mapping[str, Any]) -> tuple[str, ...]:
        new_path = arguments.get("newPath")
        return (self._relative(new_path),) if isinstance(new_path, str) and new_path else ()

    async def run(self, args: RenameFileArgs, token: CancellationToken) -> SkillOutput:
        path = self.workspace.resolve(args.path, for_write=True)
        new_path = self.workspace.resolve(args.new_path, for_write=True)
        rel, new_rel = self.workspace.relative(path), self.workspace.relative(new_path)
        if not path.is_file():
            raise ToolError("failed", f"{rel}: no such file")
        if new_path.exists():
            raise ToolError("failed", f"{new_rel} already exists")
        await self.workspace.apply(RenameFile(path, new_path), self.label(rel), token)
        return SkillOutput(f"Renamed {rel} to {new_rel}", (rel, new_rel))


def _occurrences(text: str, needle: str) -> list[int]:
    found: list[int] = []
    start = text.find(needle)
    while start != -1:
        found.append(start)
        start = text.find(needle, start + len(needle))
    return found


def builtin_skills(workspace: Workspace, max_output_chars: int) -> list[Skill[Any]]:
    kinds: tuple[type[_FileSkill], ...] = (
        ReadFile, ListDirectory, SearchText, WriteFile, EditFile, DeleteFileSkill, RenameFileSkill,
    )
    return [kind(workspace, max_output_chars) for kind in kinds]


def builtin_registry(
    workspace: Workspace,
    settings: SessionSettings,
    command_limits: Callable[[], CommandLimits] | None = None,
) -> SkillRegistry:
    """The seven tools of protocol §6 on ``workspace``, bounded by ``settings``, and
    ``run_command`` (protocol v2 §2) when ``command_limits`` reads its settings."""
    skills = builtin_skills(workspace, settings.max_tool_output_chars)
    if command_limits is not None:
        skills.append(RunCommand(workspace, command_limits))
    return SkillRegistry(
        skills,
        timeout_seconds=settings.tool_timeout_seconds,
        max_output_chars=settings.max_tool_output_chars,
    )
