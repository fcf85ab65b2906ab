"""The editor's diagnostics (protocol v2 §4): where they come from, how the model reads
them, and the ``get_diagnostics`` tool.

A front door that can ask its editor (the LSP door: ``nexus/editor/diagnostics`` to a
client that declared ``clientFeatures.diagnostics``) gives the session core a
:class:`DiagnosticsSource`. Diagnostics are LSP ``Diagnostic`` objects as JSON
(``range``, ``severity`` 1–4, ``message``, ``source?``, ``code?``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from pydantic import Field

from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.errors import ToolError
from nexus_lsp.skills.base import Skill, SkillArguments, SkillOutput
from nexus_lsp.skills.workspace import Workspace

__all__ = [
    "DiagnosticsSource",
    "GetDiagnostics",
    "diagnostic_key",
    "format_diagnostic",
    "format_report",
]

Diagnostic = Mapping[str, Any]
SEVERITY = {1: "error", 2: "warning", 3: "info", 4: "hint"}


class DiagnosticsSource(Protocol):
    """The editor's diagnostics for workspace-relative ``paths`` (all it has when empty).

    Returns ``{path: [Diagnostic, ...]}``; raises on failure (the caller says so)."""

    async def diagnostics(self, paths: Sequence[str]) -> dict[str, list[Diagnostic]]: ...


def severity(diagnostic: Diagnostic) -> int:
    value = diagnostic.get("severity")
    return value if isinstance(value, int) and value in SEVERITY else 1  # unset: an error


def diagnostic_key(path: str, diagnostic: Diagnostic) -> tuple[str, int, str, str, str]:
    """What makes two diagnostics "the same" across an edit: not the range (an edit
    above moves it), but the file, severity, message, source and code."""
    return (path, severity(diagnostic), str(diagnostic.get("message", "")),
            str(diagnostic.get("source") or ""), str(diagnostic.get("code") or ""))


def format_diagnostic(path: str, diagnostic: Diagnostic) -> str:
    start = diagnostic.get("range", {}).get("start", {})
    line = int(start.get("line", 0)) + 1
    column = int(start.get("character", 0)) + 1
    where = f"{path}:{line}:{column}"
    origin = " ".join(str(x) for x in (diagnostic.get("source"), diagnostic.get("code")) if x)
    suffix = f" [{origin}]" if origin else ""
    message = " ".join(str(diagnostic.get("message", "")).split())
    return f"{where}: {SEVERITY[severity(diagnostic)]}: {message}{suffix}"


def format_report(items: Iterable[tuple[str, Diagnostic]]) -> str:
    lines = [f"- {format_diagnostic(path, d)}" for path, d in items]
    return "\n".join(lines)


class GetDiagnosticsArgs(SkillArguments):
    path: str | None = Field(
        default=None,
        description="File, relative to the workspace folder; omit for every file the "
        "editor reports on.",
    )


class GetDiagnostics(Skill[GetDiagnosticsArgs]):
    name = "get_diagnostics"
    description = (
        "The errors and warnings the editor's language servers report (compiler, type "
        "checker, linter), for one file or for every file the editor has open."
    )
    arguments = GetDiagnosticsArgs
    read_only = True
    kind = "read"  # protocol v2 §1 (the permission branch adds kinds on every skill)
    MAX_ITEMS = 200

    def __init__(self, workspace: Workspace, source: DiagnosticsSource) -> None:
        self.workspace = workspace
        self.source = source

    async def run(self, args: GetDiagnosticsArgs, token: CancellationToken) -> SkillOutput:
        paths: list[str] = []
        if args.path is not None:
            paths.append(self.workspace.relative(self.workspace.resolve(args.path)))
        try:
            found = await self.source.diagnostics(paths)
        except Exception as exc:
            raise ToolError("failed", f"the editor did not give its diagnostics: {exc}") from None
        items = sorted(
            ((path, d) for path, ds in found.items() for d in ds),
            key=lambda item: (severity(item[1]), item[0]),
        )
        if not items:
            where = paths[0] if paths else "the files the editor reports on"
            return SkillOutput(f"No diagnostics in {where}.", tuple(paths))
        shown = items[: self.MAX_ITEMS]
        more = len(items) - len(shown)
        text = format_report(shown) + (f"\n[{more} more not shown]" if more else "")
        return SkillOutput(text, tuple(paths))
