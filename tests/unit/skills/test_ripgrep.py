"""search_text with ripgrep: .gitignore, confinement, the cap, cancel killing ``rg`` (by its
pid), the Python fallback when the binary is missing, undecodable names, open buffers,
and the file listing the checkpoint scan can use."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_lsp.config import SessionSettings
from nexus_lsp.core.cancel import CancellationToken, Cancelled
from nexus_lsp.core.messages import ToolCall, ToolResult
from nexus_lsp.skills import DiskWorkspace, SkillRegistry, builtin_registry, ripgrep
from nexus_lsp.skills.ripgrep import find_rg, rg_files, rg_search

REAL_RG = find_rg()


class HeldWorkspace(DiskWorkspace):
    """A disk workspace with an editor's buffers (texts that differ from the files)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.buffers: dict[Path, str] = {}

    def held_texts(self) -> dict[Path, str]:
        return dict(self.buffers)


@pytest.fixture
def ws(tmp_path: Path) -> HeldWorkspace:
    root = tmp_path / "ws"
    for rel, text in {
        "src/app.py": "needle = 1\n",
        "src/util.py": "x = 2\nneedle = 3\n",
        "build/out.py": "needle = 'built'\n",
        "debug.log": "needle in a log\n",
        ".github/ci.yml": "needle: hidden files are searched\n",
        ".git/config": "needle in git\n",
        ".nexus/sessions/s/context.md": "needle in a session\n",
        ".GIT/x": "needle in a case-insensitive .git\n",
        "node_modules/m/index.js": "needle in a dependency\n",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / ".gitignore").write_text("build/\n*.log\n", encoding="utf-8")
    return HeldWorkspace(root)


@pytest.fixture
def registry(ws: DiskWorkspace) -> SkillRegistry:
    return builtin_registry(ws, SessionSettings(tool_timeout_seconds=20))


@pytest.fixture(params=["rg", "python"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each search test runs with the binary, and with it missing (the fallback)."""
    assert REAL_RG is not None, "the ripgrep package installs rg beside this Python"
    if request.param == "python":
        monkeypatch.setattr(ripgrep, "find_rg", lambda: None)
    yield str(request.param)


def write_undecodable_name(folder: Path) -> None:
    with open(os.fsencode(folder) + b"/caf\xe9.txt", "wb") as handle:
        handle.write(b"needle in a strange file\n")


async def run(registry: SkillRegistry, name: str, **args: object) -> ToolResult:
    result, _ = await registry.run(ToolCall("c", name, dict(args)), CancellationToken())
    return result


EXPECTED = ("src/app.py:1: needle = 1\nsrc/util.py:2: needle = 3")


async def test_gitignore_and_protected_folders(registry: SkillRegistry, engine: str) -> None:
    found = await run(registry, "search_text", pattern="needle")
    if engine == "rg":  # .gitignore honoured; hidden files searched
        assert found.output == ".github/ci.yml:1: needle: hidden files are searched\n" + EXPECTED
    else:  # the Python walk knows no .gitignore (as before ripgrep)
        assert "build/out.py" in found.output and "debug.log" in found.output
    for never in (".git/", ".GIT/", ".nexus/", "node_modules/"):
        assert never not in found.output
    assert (await run(registry, "search_text", pattern="needle", path="src",
                      glob="util*")).output == "src/util.py:2: needle = 3"


async def test_a_python_only_pattern_falls_back_to_python(registry: SkillRegistry) -> None:
    # A look-ahead: valid Python, refused by rg's regex engine.
    found = await run(registry, "search_text", pattern=r"needle(?= = 3)", path="src")
    assert found.output == "src/util.py:2: needle = 3"


async def test_confinement(registry: SkillRegistry, ws: DiskWorkspace, tmp_path: Path,
                           engine: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("needle outside\n", encoding="utf-8")
    os.symlink(outside, ws.root / "src" / "link_out")
    os.symlink(outside / "secret.py", ws.root / "src" / "file_out.py")
    found = await run(registry, "search_text", pattern="needle", path="src")
    assert found.output == EXPECTED
    refused = await run(registry, "search_text", pattern="needle", path=str(outside))
    assert refused.error is not None and refused.error.startswith("search_text: refused: ")
    through = await run(registry, "search_text", pattern="needle", path="src/link_out")
    assert through.error is not None and through.error.startswith("search_text: refused: ")


async def test_the_cap_is_stated(registry: SkillRegistry, ws: DiskWorkspace, engine: str) -> None:
    (ws.root / "many.txt").write_text("hit\n" * 250, encoding="utf-8")
    found = await run(registry, "search_text", pattern="hit")
    lines = found.output.splitlines()
    assert len(lines) == 201 and lines[0] == "many.txt:1: hit" and lines[199] == "many.txt:200: hit"
    assert lines[-1] == "[first 200 matches shown; narrow the search]"


async def test_undecodable_names_are_escaped(registry: SkillRegistry, ws: DiskWorkspace,
                                             engine: str) -> None:
    write_undecodable_name(ws.root / "src")
    found = await run(registry, "search_text", pattern="needle", path="src")
    assert found.output == ("src/app.py:1: needle = 1\nsrc/caf\\xe9.txt:1: needle in a strange "
                            "file\nsrc/util.py:2: needle = 3")


async def test_open_buffers_are_searched_instead_of_the_files(
        registry: SkillRegistry, ws: HeldWorkspace, engine: str) -> None:
    ws.buffers[ws.root / "src" / "app.py"] = "unsaved\nneedle = 'edited'\n"
    found = await run(registry, "search_text", pattern="needle", path="src")
    assert found.output == "src/app.py:2: needle = 'edited'\nsrc/util.py:2: needle = 3"


@pytest.mark.parametrize("how", ["token", "task"])
async def test_cancel_kills_rg(ws: DiskWorkspace, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """A real rg, blocked reading a named pipe it was given: the cancel kills and reaps it."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    pid_file = tmp_path / "rg.pid"
    wrapper = tmp_path / "rg-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho $$ > "{pid_file}"\nexec "{REAL_RG}" "$@" "{fifo}"\n',
                       encoding="utf-8")
    wrapper.chmod(0o755)
    monkeypatch.setattr(ripgrep, "find_rg", lambda: str(wrapper))
    token = CancellationToken()
    task = asyncio.create_task(rg_search(ws.root, ws.root, "needle", None, max_matches=200,
                                         token=token))
    for _ in range(1000):  # rg starts within 10 s
        if pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.01)
    pid = int(pid_file.read_text())
    os.kill(pid, 0)  # running (blocked on the pipe)
    if how == "token":
        token.cancel("stop")
        with pytest.raises(Cancelled):
            await task
    else:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    with pytest.raises(ProcessLookupError):  # killed and reaped: no such process
        os.kill(pid, 0)


async def test_a_search_that_times_out_says_so(ws: DiskWorkspace, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    wrapper = tmp_path / "rg-wrapper"
    wrapper.write_text(f'#!/bin/sh\nexec "{REAL_RG}" "$@" "{fifo}"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    monkeypatch.setattr(ripgrep, "find_rg", lambda: str(wrapper))
    result = await rg_search(ws.root, ws.root, "needle", None, max_matches=200,
                             token=CancellationToken(), seconds=0.5)
    assert result.timed_out


async def test_rg_files_lists_the_workspace_as_git_would(ws: DiskWorkspace) -> None:
    files = await rg_files(ws.root)
    assert [f.relative_to(ws.root).as_posix() for f in files] == [
        ".github/ci.yml", ".gitignore", "src/app.py", "src/util.py"]


async def test_rg_files_without_the_binary(ws: DiskWorkspace,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ripgrep, "find_rg", lambda: None)
    with pytest.raises(ripgrep.RgUnavailable, match="no rg binary"):
        await rg_files(ws.root)
