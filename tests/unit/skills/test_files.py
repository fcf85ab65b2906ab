"""File tools on the disk workspace: confinement, encodings, bounds, minimal edits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nexus_lsp.config import SessionSettings
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.messages import ToolCall, ToolResult
from nexus_lsp.errors import PathRefused
from nexus_lsp.skills import DiskWorkspace, SkillRegistry, builtin_registry
from nexus_lsp.skills.workspace import FileChange, WriteText


class RecordingWorkspace(DiskWorkspace):
    """Disk workspace that also records the changes it was asked to apply."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.changes: list[tuple[FileChange, str]] = []

    async def apply(self, change: FileChange, label: str, cancel_token: CancellationToken) -> None:
        self.changes.append((change, label))
        await super().apply(change, label, cancel_token)


@pytest.fixture
def ws(tmp_path: Path) -> RecordingWorkspace:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def f():\n    return 1\n", encoding="utf-8")
    (root / ".git" / "hooks").mkdir(parents=True)
    return RecordingWorkspace(root)


@pytest.fixture
def registry(ws: RecordingWorkspace) -> SkillRegistry:
    return builtin_registry(ws, SessionSettings(max_tool_output_chars=400))


async def run(registry: SkillRegistry, name: str, **args: object) -> ToolResult:
    result, _ = await registry.run(ToolCall("c", name, dict(args)), CancellationToken())
    return result


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("read_file", {"path": "../outside.txt"}),
        ("read_file", {"path": "/etc/passwd"}),
        ("read_file", {"path": "link_out/secret.txt"}),
        ("read_file", {"path": "src/../../outside.txt"}),
        ("write_file", {"path": ".git/hooks/pre-commit", "content": "evil"}),
        ("write_file", {"path": ".nexus/nexus.db", "content": "x"}),
        ("write_file", {"path": "link_out/new.txt", "content": "x"}),
        ("edit_file", {"path": "/etc/hosts", "oldText": "a", "newText": "b"}),
        ("delete_file", {"path": ".git/HEAD"}),
        ("rename_file", {"path": "src/app.py", "newPath": "../stolen.py"}),
        ("list_directory", {"path": ".."}),
        ("search_text", {"pattern": "root", "path": "/etc"}),
    ],
)
async def test_the_confinement_corpus_is_refused(
    ws: RecordingWorkspace,
    registry: SkillRegistry,
    tmp_path: Path,
    tool: str,
    args: dict[str, object],
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret", encoding="utf-8")
    (tmp_path / "outside.txt").write_text("secret", encoding="utf-8")
    os.symlink(outside, ws.root / "link_out")
    result = await run(registry, tool, **args)
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith(f"{tool}: refused: ")
    assert ws.changes == []
    assert (tmp_path / "outside.txt").read_text(encoding="utf-8") == "secret"


def test_reads_inside_git_are_allowed_but_writes_are_not(ws: RecordingWorkspace) -> None:
    assert ws.resolve(".git/hooks") == ws.root / ".git" / "hooks"
    with pytest.raises(PathRefused):
        ws.resolve(".git/hooks/x", for_write=True)
    assert ws.resolve(f"file://{ws.root}/src/app.py") == ws.root / "src" / "app.py"


async def test_read_file_pages_and_says_what_was_cut(
    ws: RecordingWorkspace, registry: SkillRegistry
) -> None:
    (ws.root / "big.txt").write_text("".join(f"line {i}\n" for i in range(1, 1001)), "utf-8")
    result = await run(registry, "read_file", path="big.txt")
    assert result.output.startswith("[big.txt: lines 1–")
    assert "of 1,000; use offset/limit for more]" in result.output
    assert len(result.output) < 600
    page = await run(registry, "read_file", path="big.txt", offset=500, limit=2)
    assert page.output.endswith("line 500\nline 501\n")
    past = await run(registry, "read_file", path="big.txt", offset=5000)
    assert past.error == "read_file: failed: big.txt has 1,000 lines; offset 5,000 is past the end"


async def test_binary_and_non_utf8_files_are_handled_and_said(
    ws: RecordingWorkspace, registry: SkillRegistry
) -> None:
    (ws.root / "img.png").write_bytes(b"\x89PNG\x00\x00\x01")
    (ws.root / "latin.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    binary = await run(registry, "read_file", path="img.png")
    assert binary.error is not None and "binary" in binary.error
    lossy = await run(registry, "read_file", path="latin.txt")
    assert lossy.ok and "not valid UTF-8" in lossy.output and "caf\ufffd" in lossy.output
    edit = await run(registry, "edit_file", path="latin.txt", oldText="caf", newText="tea")
    assert edit.error is not None and "not valid UTF-8" in edit.error
    assert (ws.root / "latin.txt").read_bytes() == "caf\xe9\n".encode("latin-1")


async def test_edit_file_is_exact_and_refuses_absent_or_ambiguous_text(
    ws: RecordingWorkspace, registry: SkillRegistry
) -> None:
    (ws.root / "d.txt").write_text("x = 1\nx = 1\n", encoding="utf-8")
    absent = await run(registry, "edit_file", path="d.txt", oldText="y", newText="z")
    assert absent.error == "edit_file: failed: oldText was not found in d.txt"
    ambiguous = await run(registry, "edit_file", path="d.txt", oldText="x = 1", newText="x = 2")
    assert ambiguous.error is not None and "occurs 2 times" in ambiguous.error
    every = await run(
        registry, "edit_file", path="d.txt", oldText="x = 1", newText="x = 2", replaceAll=True
    )
    assert every.ok and "2 occurrences" in every.output
    assert (ws.root / "d.txt").read_text(encoding="utf-8") == "x = 2\nx = 2\n"
    change, label = ws.changes[-1]
    assert label == "Nexus: edit_file d.txt"
    assert isinstance(change, WriteText)
    assert [(r.start, r.end, r.text) for r in change.replacements] == [
        (0, 5, "x = 2"), (6, 11, "x = 2")
    ]


async def test_write_file_sends_the_minimal_change_and_writes_utf8(
    ws: RecordingWorkspace, registry: SkillRegistry
) -> None:
    new = "def f():\n    return 'héllo ✓'\n"
    result = await run(registry, "write_file", path="src/app.py", content=new)
    assert result.ok and result.output.startswith("Replaced src/app.py")
    change, _ = ws.changes[-1]
    assert isinstance(change, WriteText) and change.original == "def f():\n    return 1\n"
    (replacement,) = change.replacements
    assert (replacement.start, replacement.end) == (20, 21)  # only the changed range
    assert replacement.text == "'héllo ✓'"
    assert (ws.root / "src" / "app.py").read_bytes() == new.encode("utf-8")
    created = await run(registry, "write_file", path="new/dir/n.txt", content="n\n")
    assert created.output.startswith("Created new/dir/n.txt")
    assert not list(ws.root.rglob("*.nexus-tmp"))


async def test_delete_rename_list_and_search(
    ws: RecordingWorkspace, registry: SkillRegistry
) -> None:
    assert (await run(registry, "rename_file", path="src/app.py", newPath="src/main.py")).ok
    assert (ws.root / "src" / "main.py").exists()
    listing = await run(registry, "list_directory", path=".")
    assert listing.output.splitlines()[:2] == [".git/", "src/"]
    found = await run(registry, "search_text", pattern=r"return \d", glob="*.py")
    assert found.output == "src/main.py:2: return 1"
    bad = await run(registry, "search_text", pattern="(")
    assert bad.error is not None and bad.error.startswith("search_text: invalidArguments: pattern")
    assert (await run(registry, "delete_file", path="src/main.py")).ok
    assert not (ws.root / "src" / "main.py").exists()
    gone = await run(registry, "delete_file", path="src/main.py")
    assert gone.error == "delete_file: failed: src/main.py: no such file"
