"""File tools against what a workspace may hold besides text files: named pipes,
names that are not UTF-8, and protected folders spelled as a case-insensitive
file system would still match them."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_lsp.config import SessionSettings
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.messages import ToolCall, ToolResult
from nexus_lsp.errors import PathRefused, ToolError
from nexus_lsp.skills import DiskWorkspace, SkillRegistry, builtin_registry, disk
from nexus_lsp.skills.base import Skill, SkillArguments, SkillOutput


@pytest.fixture
def ws(tmp_path: Path) -> DiskWorkspace:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("needle = 1\n", encoding="utf-8")
    (root / ".git" / "hooks").mkdir(parents=True)
    return DiskWorkspace(root)


@pytest.fixture
def registry(ws: DiskWorkspace) -> SkillRegistry:
    # The timeout only bounds the old behaviour (a read stuck on the pipe).
    return builtin_registry(ws, SessionSettings(tool_timeout_seconds=5))


@pytest.fixture
def fifo(ws: DiskWorkspace) -> Iterator[Path]:
    path = ws.root / "src" / "pipe"
    os.mkfifo(path)
    yield path
    # Release any reader still blocked on it, so a failing run does not hang the tests.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def is_fifo(path: Path) -> bool:
    return stat.S_ISFIFO(os.stat(path).st_mode)


def write_undecodable_name(folder: Path, data: bytes) -> None:
    """Create ``caf\\xe9.txt`` in ``folder``: a name that is Latin-1, not UTF-8."""
    with open(os.fsencode(folder) + b"/caf\xe9.txt", "wb") as handle:
        handle.write(data)


async def run(registry: SkillRegistry, name: str, **args: object) -> ToolResult:
    result, _ = await registry.run(ToolCall("c", name, dict(args)), CancellationToken())
    return result


async def test_a_named_pipe_is_refused_by_every_file_tool_and_skipped_by_search(
    ws: DiskWorkspace, registry: SkillRegistry, fifo: Path
) -> None:
    for tool, args in [
        ("read_file", {"path": "src/pipe"}),
        ("write_file", {"path": "src/pipe", "content": "x"}),
        ("edit_file", {"path": "src/pipe", "oldText": "a", "newText": "b"}),
    ]:
        result = await run(registry, tool, **args)
        assert result.error == (
            f"{tool}: failed: src/pipe is a named pipe (FIFO), not a regular file; "
            "only files can be read"
        ), tool
    found = await run(registry, "search_text", pattern="needle")
    assert found.output == "src/app.py:1: needle = 1"
    only_pipe = await run(registry, "search_text", pattern="x", path="src/pipe")
    assert only_pipe.output == "no matches for 'x'"
    listing = await run(registry, "list_directory", path="src")
    assert listing.output == "app.py\npipe"
    assert is_fifo(fifo)  # not replaced by write_file


async def test_many_reads_of_a_pipe_leave_the_file_tools_working(
    registry: SkillRegistry, fifo: Path
) -> None:
    for _ in range(50):
        result = await run(registry, "read_file", path="src/pipe")
        assert result.error is not None and "named pipe" in result.error
    assert (await run(registry, "read_file", path="src/app.py")).output == "needle = 1\n"


async def test_a_file_swapped_for_a_pipe_after_the_check_is_refused_on_open(
    ws: DiskWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = ws.root / "swap"
    target.write_text("text", encoding="utf-8")
    real_open = os.open

    def swapping_open(path: object, flags: int, *args: object) -> int:
        if Path(str(path)) == target:  # between the stat and the open
            target.unlink()
            os.mkfifo(target)
            assert flags & os.O_NONBLOCK, "a FIFO must be opened without blocking"
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", swapping_open)
    with pytest.raises(Exception, match=r"swap is a named pipe \(FIFO\), not a regular file"):
        await ws.read_text(target)


async def test_names_that_are_not_utf8_reach_the_model_escaped(
    ws: DiskWorkspace, registry: SkillRegistry
) -> None:
    write_undecodable_name(ws.root / "src", b"needle in a strange file\n")
    listing = await run(registry, "list_directory", path="src")
    assert listing.output == "app.py\ncaf\\xe9.txt"
    found = await run(registry, "search_text", pattern="needle")
    assert found.output == (
        "src/app.py:1: needle = 1\nsrc/caf\\xe9.txt:1: needle in a strange file"
    )
    for result in (listing, found):
        json.dumps(result.output, ensure_ascii=False).encode("utf-8")  # what httpx sends
    # The escaped name the model saw leads back to the file.
    read = await run(registry, "read_file", path="src/caf\\xe9.txt")
    assert read.output == "needle in a strange file\n"


def test_display_name_escapes_only_what_cannot_be_encoded() -> None:
    assert disk.display_name("café.txt") == "café.txt"
    assert disk.display_name(os.fsdecode(b"caf\xe9.txt")) == "caf\\xe9.txt"
    assert disk.display_name("lone\ud800") == "lone\\ud800"


@pytest.mark.parametrize(
    "path",
    [
        ".GIT/hooks/pre-commit",
        ".Git/config",
        ".NEXUS/nexus.db",
        ".Nexus/x",
        ".git./hooks/pre-commit",
        ".git /hooks/pre-commit",
        ".git. . /x",
        "src/.gIt/x",
    ],
)
async def test_protected_folders_are_refused_in_any_spelling(
    ws: DiskWorkspace, registry: SkillRegistry, path: str
) -> None:
    with pytest.raises(PathRefused):
        ws.resolve(path, for_write=True)
    result = await run(registry, "write_file", path=path, content="evil")
    assert result.error is not None and result.error.startswith("write_file: refused: ")
    assert not (ws.root / path).exists()


def test_protected_names_compare_after_normalisation() -> None:
    assert disk.is_protected_name(".git")
    assert disk.is_protected_name(".GiT")
    assert disk.is_protected_name(".nexus  ..")
    assert not disk.is_protected_name(".github")
    assert not disk.is_protected_name("git")
    assert not disk.is_protected_name(".gitignore")


class _Echo(SkillArguments):
    text: str


class _UndecodedSkill(Skill[_Echo]):
    """A third-party skill handing back an OS name as it came (surrogate-escaped)."""

    name = "undecoded"
    description = "returns an undecoded name"
    arguments = _Echo

    async def run(self, args: _Echo, token: CancellationToken) -> SkillOutput:
        if args.text == "fail":
            raise ToolError("failed", os.fsdecode(b"no such file: caf\xe9"))
        return SkillOutput(os.fsdecode(b"caf\xe9.txt"))


async def test_the_registry_escapes_undecoded_text_of_any_skill() -> None:
    registry = SkillRegistry([_UndecodedSkill()])
    assert (await run(registry, "undecoded", text="ok")).output == "caf\\xe9.txt"
    failed = await run(registry, "undecoded", text="fail")
    assert failed.error == "undecoded: failed: no such file: caf\\xe9"


async def test_search_does_not_read_through_a_symlink_leading_out(
    ws: DiskWorkspace, registry: SkillRegistry, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("needle outside\n", encoding="utf-8")
    os.symlink(secret, ws.root / "src" / "link.txt")
    os.symlink(ws.root / "src" / "app.py", ws.root / "inner.py")
    found = await run(registry, "search_text", pattern="needle")
    # rg follows no symlink: the file inside is found once, under its own path.
    assert found.output == "src/app.py:1: needle = 1"
