"""Files changed by run_command: journaled by a scan before/after, restored from a git
snapshot in a git workspace (index and working tree untouched by the snapshot),
reported outside git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nexus_lsp.checkpoints.scan import changes_since, take_snapshot
from nexus_lsp.config import ProviderSettings, parse_settings
from nexus_lsp.core.messages import ToolCall
from nexus_lsp.providers.base import Provider, RawLogger
from nexus_lsp.session.manager import SessionManager
from nexus_lsp.skills import DiskWorkspace
from nexus_lsp.storage import SessionStore
from nexus_lsp.testing.fake_provider import FakeAnswer, FakeProvider


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=root, check=True, capture_output=True, text=True,
    ).stdout


def make_repo(root: Path) -> None:
    git(root, "init", "-q")
    (root / ".gitignore").write_text("build/\n", encoding="utf-8")
    (root / "tracked.txt").write_text("tracked\n", encoding="utf-8")
    (root / "staged.txt").write_text("staged\n", encoding="utf-8")
    git(root, "add", ".gitignore", "tracked.txt")
    git(root, "commit", "-q", "-m", "start")
    git(root, "add", "staged.txt")  # in the index, not committed: must stay so
    (root / "untracked.txt").write_text("untracked\n", encoding="utf-8")
    (root / "build").mkdir()
    (root / "build" / "out.txt").write_text("ignored\n", encoding="utf-8")


COMMAND = (
    "printf 'changed\\n' > tracked.txt; rm untracked.txt; echo made > made.txt; "
    "echo rebuilt > build/out.txt; touch staged.txt"
)


async def run_and_revert(root: Path, command: str) -> tuple[object, object]:
    answers = [FakeAnswer(tool_calls=[ToolCall("c1", "run_command", {"command": command})]),
               FakeAnswer(text=["ran"])]

    def provider(settings: ProviderSettings, raw: RawLogger | None) -> Provider:
        return FakeProvider(answers, model=settings.model)

    settings, problems = parse_settings({"permissions": {"mode": "auto"}})
    assert problems == []
    store = await SessionStore.open(root, settings.logging)
    manager = SessionManager(root, settings, DiskWorkspace(root), store, provider)
    try:
        result = await manager.send(None, "run it")
        assert [c.status for c in result.tool_calls] == ["completed"], result.tool_calls
        return result, await manager.revert(result.session_id, 1)
    finally:
        await manager.aclose()


async def test_a_command_in_a_git_workspace_is_reverted_from_the_snapshot(
    tmp_path: Path,
) -> None:
    make_repo(tmp_path)
    index = (tmp_path / ".git" / "index").read_bytes()
    status = git(tmp_path, "status", "--porcelain")

    _, reverted = await run_and_revert(tmp_path, COMMAND)

    assert (tmp_path / "tracked.txt").read_text("utf-8") == "tracked\n"
    assert (tmp_path / "untracked.txt").read_text("utf-8") == "untracked\n"
    assert not (tmp_path / "made.txt").exists()
    # Ignored paths are not the journal's (nor are .git and .nexus).
    assert (tmp_path / "build" / "out.txt").read_text("utf-8") == "rebuilt\n"
    actions = {f.path: f.action for f in reverted.files}  # type: ignore[attr-defined]
    assert actions == {"made.txt": "deleted", "tracked.txt": "restored",
                       "untracked.txt": "recreated"}
    assert reverted.not_restored == []  # type: ignore[attr-defined]
    # The snapshot left the repository's index alone.
    assert (tmp_path / ".git" / "index").read_bytes() == index
    assert git(tmp_path, "status", "--porcelain") == status


async def test_a_command_outside_git_is_reported_not_restored(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a\n", encoding="utf-8")
    _, reverted = await run_and_revert(
        tmp_path, "printf 'changed\\n' > a.txt; echo made > made.txt")
    assert (tmp_path / "a.txt").read_text("utf-8") == "changed\n"
    assert not (tmp_path / "made.txt").exists()  # created by it: deleting restores
    (problem,) = reverted.not_restored  # type: ignore[attr-defined]
    assert problem.path == "a.txt" and "outside a git repository" in problem.reason


async def test_a_file_changed_again_after_the_command_is_a_conflict(tmp_path: Path) -> None:
    make_repo(tmp_path)
    answers = [
        FakeAnswer(tool_calls=[ToolCall("c1", "run_command",
                                        {"command": "printf 'cmd\\n' > tracked.txt"})]),
        FakeAnswer(text=["ran"]),
    ]

    def provider(settings: ProviderSettings, raw: RawLogger | None) -> Provider:
        return FakeProvider(answers, model=settings.model)

    settings, _ = parse_settings({"permissions": {"mode": "auto"}})
    store = await SessionStore.open(tmp_path, settings.logging)
    manager = SessionManager(tmp_path, settings, DiskWorkspace(tmp_path), store, provider)
    result = await manager.send(None, "run")
    (tmp_path / "tracked.txt").write_text("cmd\nmine\n", encoding="utf-8")
    reverted = await manager.revert(result.session_id, 1)
    assert (tmp_path / "tracked.txt").read_text("utf-8") == "cmd\nmine\n"
    assert [c.path for c in reverted.conflicts] == ["tracked.txt"]
    await manager.aclose()


@pytest.mark.parametrize("repo", [True, False])
def test_the_scan_sees_only_real_changes(tmp_path: Path, repo: bool) -> None:
    if repo:
        make_repo(tmp_path)
    else:
        (tmp_path / "tracked.txt").write_text("tracked\n", encoding="utf-8")
    before = take_snapshot(tmp_path)
    assert before.git is repo
    assert changes_since(before) == []
    (tmp_path / "tracked.txt").write_text("tracked\n", encoding="utf-8")  # same text
    (tmp_path / "new.txt").write_text("n\n", encoding="utf-8")
    changes = changes_since(before)
    expected = ["new.txt"] if repo else ["new.txt", "tracked.txt"]
    assert [c.path for c in changes] == expected
    assert not changes[0].existed and changes[0].exists
