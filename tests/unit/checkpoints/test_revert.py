"""Revert and fork through the SessionManager, the real store and files on disk."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from nexus_lsp.config import ProviderSettings, parse_settings
from nexus_lsp.core.messages import ToolCall
from nexus_lsp.errors import SessionBusy, UnknownSession, UnknownTurn
from nexus_lsp.providers.base import Provider, RawLogger
from nexus_lsp.session.manager import SessionManager
from nexus_lsp.skills import DiskWorkspace
from nexus_lsp.storage import SessionStore
from nexus_lsp.testing.fake_provider import FakeAnswer, FakeProvider


def assert_valid_history(messages: Sequence[object]) -> None:
    """What providers accept: each tool call answered once, right after it, in order."""
    i = 0
    while i < len(messages):
        message = messages[i]
        assert message.role != "tool", f"result without a call at {i}"  # type: ignore[attr-defined]
        i += 1
        calls = getattr(message, "tool_calls", ())
        if message.role == "assistant" and calls:  # type: ignore[attr-defined]
            ids = [m.tool_call_id for m in messages[i : i + len(calls)]]  # type: ignore[attr-defined]
            assert ids == [c.id for c in calls]
            i += len(calls)


class Providers:
    """FakeProviders sharing one script; every request any of them got, in order."""

    def __init__(self, *answers: FakeAnswer) -> None:
        self.answers = list(answers)
        self.made: list[FakeProvider] = []

    def add(self, *answers: FakeAnswer) -> None:
        self.answers.extend(answers)

    def __call__(self, settings: ProviderSettings, raw: RawLogger | None) -> Provider:
        provider = FakeProvider(self.answers, model=settings.model)
        self.made.append(provider)
        return provider

    @property
    def requests(self) -> list[list[object]]:
        return [r for p in self.made for r in p.requests]


async def open_manager(root: Path, providers: Providers) -> SessionManager:
    settings, problems = parse_settings(None)
    assert problems == []
    store = await SessionStore.open(root, settings.logging)
    return SessionManager(root, settings, DiskWorkspace(root), store, providers)


def tools(*calls: tuple[str, dict[str, object]]) -> FakeAnswer:
    return FakeAnswer(tool_calls=[
        ToolCall(f"call-{name}-{i}-{sorted(args.items())!r:.20}", name, args)
        for i, (name, args) in enumerate(calls)
    ])


def done(text: str = "Done.") -> FakeAnswer:
    return FakeAnswer(text=[text])


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "edit.py").write_text("a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n", encoding="utf-8")
    (tmp_path / "gone.txt").write_text("keep me\n", encoding="utf-8")
    (tmp_path / "old.txt").write_text("moving\n", encoding="utf-8")
    return tmp_path


FOUR_KINDS = tools(
    ("edit_file", {"path": "edit.py", "oldText": "b = 2", "newText": "b = 20"}),
    ("write_file", {"path": "new/created.py", "content": "print('new')\n"}),
    ("delete_file", {"path": "gone.txt"}),
    ("rename_file", {"path": "old.txt", "newPath": "moved/new.txt"}),
)


def tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text("utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".nexus" not in p.parts
    }


async def test_revert_of_a_turn_that_edited_created_deleted_and_renamed(root: Path) -> None:
    before = tree(root)
    providers = Providers(FOUR_KINDS, done())
    manager = await open_manager(root, providers)
    result = await manager.send(None, "change things")
    assert [c.status for c in result.tool_calls] == ["completed"] * 4
    assert tree(root) != before

    reverted = await manager.revert(result.session_id, 1)

    assert tree(root) == before
    actions = {f.path: f.action for f in reverted.files}
    assert actions == {
        "edit.py": "restored", "new/created.py": "deleted", "gone.txt": "recreated",
        "old.txt": "restored", "moved/new.txt": "deleted",
    }
    assert reverted.conflicts == [] and reverted.not_restored == []
    assert reverted.messages_reverted == 7  # user, assistant, 4 results, answer
    # Reverting again finds nothing left of that turn.
    with pytest.raises(UnknownTurn, match="reverted"):
        await manager.revert(result.session_id, 1)
    await manager.aclose()


async def test_two_turns_reverted_at_once_and_the_conversation_continues(root: Path) -> None:
    before = tree(root)
    providers = Providers(
        tools(("edit_file", {"path": "edit.py", "oldText": "a = 1", "newText": "a = 10"})),
        done("first"),
        tools(("edit_file", {"path": "edit.py", "oldText": "a = 10", "newText": "a = 100"}),
              ("write_file", {"path": "two.txt", "content": "2\n"})),
        done("second"),
        done("third"),
    )
    manager = await open_manager(root, providers)
    first = await manager.send(None, "one")
    await manager.send(first.session_id, "two")
    reverted = await manager.revert(first.session_id, 1)
    assert tree(root) == before
    assert {f.path: f.action for f in reverted.files} == {
        "edit.py": "restored", "two.txt": "deleted"}
    assert reverted.messages_reverted == 9

    third = await manager.send(first.session_id, "three")
    assert third.turn_id == 3  # turn ids are never reused
    sent = providers.requests[-1]
    assert [m.role for m in sent] == ["system", "user"]  # type: ignore[attr-defined]
    loaded = await manager.load(first.session_id)
    assert [m.content for m in loaded.messages[1:]] == ["three", "third"]
    listed = await manager.reverted_messages(first.session_id)
    assert [turn for turn, _ in listed] == [1, 1, 1, 1, 2, 2, 2, 2, 2]
    assert listed[0][1].content == "one"
    context_md = manager.store.transcript_path(first.session_id).read_text("utf-8")
    assert "## Rewind: turns 1–2 reverted" in context_md
    await manager.aclose()


async def test_conversation_only_and_code_only(root: Path) -> None:
    providers = Providers(
        tools(("write_file", {"path": "x.txt", "content": "x\n"})), done(),
    )
    manager = await open_manager(root, providers)
    result = await manager.send(None, "make x")
    only_talk = await manager.revert(result.session_id, 1, code=False)
    assert only_talk.files == [] and only_talk.messages_reverted == 4
    assert (root / "x.txt").read_text("utf-8") == "x\n"  # code untouched
    # The code of turn 1 can still be reverted afterwards.
    only_code = await manager.revert(result.session_id, 1, conversation=False)
    assert [(f.path, f.action) for f in only_code.files] == [("x.txt", "deleted")]
    assert only_code.messages_reverted == 0
    assert not (root / "x.txt").exists()
    await manager.aclose()


async def test_code_only_keeps_the_conversation(root: Path) -> None:
    providers = Providers(tools(("write_file", {"path": "x.txt", "content": "x\n"})), done())
    manager = await open_manager(root, providers)
    result = await manager.send(None, "make x")
    reverted = await manager.revert(result.session_id, 1, conversation=False)
    assert not (root / "x.txt").exists() and reverted.messages_reverted == 0
    loaded = await manager.load(result.session_id)
    assert len(loaded.messages) == 5
    await manager.aclose()


async def test_user_edits_elsewhere_are_kept_and_overlapping_ones_are_conflicts(
    root: Path,
) -> None:
    providers = Providers(
        tools(
            ("edit_file", {"path": "edit.py", "oldText": "b = 2", "newText": "b = 20"}),
            ("write_file", {"path": "other.py", "content": "x = 1\ny = 2\n"}),
        ),
        done(),
    )
    (root / "other.py").write_text("x = 0\ny = 0\n", encoding="utf-8")
    manager = await open_manager(root, providers)
    result = await manager.send(None, "edit")
    # The user changes edit.py elsewhere, and other.py on the lines the agent changed.
    (root / "edit.py").write_text("a = 1\nb = 20\nc = 3\nd = 4\ne = 50\n", encoding="utf-8")
    (root / "other.py").write_text("x = 1\ny = 2  # mine\n", encoding="utf-8")

    reverted = await manager.revert(result.session_id, 1)

    assert (root / "edit.py").read_text("utf-8") == "a = 1\nb = 2\nc = 3\nd = 4\ne = 50\n"
    assert (root / "other.py").read_text("utf-8") == "x = 1\ny = 2  # mine\n"
    assert [(c.path, "overlap" in c.reason) for c in reverted.conflicts] == [("other.py", True)]
    assert {f.path: f.action for f in reverted.files} == {
        "edit.py": "restored", "other.py": "unchanged"}
    await manager.aclose()


async def test_a_file_that_is_not_utf8_now_is_refused_clearly(root: Path) -> None:
    providers = Providers(
        tools(("write_file", {"path": "data.txt", "content": "text\n"}),
              ("edit_file", {"path": "edit.py", "oldText": "a = 1", "newText": "a = 2"})),
        done(),
    )
    manager = await open_manager(root, providers)
    result = await manager.send(None, "write")
    (root / "data.txt").write_bytes(b"caf\xe9\n")  # replaced by something not UTF-8
    reverted = await manager.revert(result.session_id, 1)
    (problem,) = reverted.not_restored
    assert problem.path == "data.txt"
    assert "not valid UTF-8" in problem.reason and "text files only" in problem.reason
    assert (root / "data.txt").read_bytes() == b"caf\xe9\n"  # untouched
    assert (root / "edit.py").read_text("utf-8").startswith("a = 1\n")  # the rest reverted
    await manager.aclose()


async def test_a_deleted_binary_file_is_reported_not_restored(root: Path) -> None:
    (root / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    providers = Providers(tools(("delete_file", {"path": "blob.bin"})), done())
    manager = await open_manager(root, providers)
    result = await manager.send(None, "delete it")
    reverted = await manager.revert(result.session_id, 1)
    assert [(p.path, "binary" in p.reason) for p in reverted.not_restored] == [("blob.bin", True)]
    assert not (root / "blob.bin").exists()
    await manager.aclose()


async def test_unknown_session_and_turn(root: Path) -> None:
    providers = Providers(done())
    manager = await open_manager(root, providers)
    result = await manager.send(None, "hi")
    with pytest.raises(UnknownSession):
        await manager.revert("20250101-000000-abcdef", 1)
    with pytest.raises(UnknownTurn, match="has no turn 2: it has 1 turn"):
        await manager.revert(result.session_id, 2)
    with pytest.raises(UnknownTurn):
        await manager.fork(result.session_id, 5)
    with pytest.raises(UnknownSession):
        await manager.fork("nope", None)
    await manager.aclose()


async def test_a_revert_while_a_turn_runs_is_refused(root: Path) -> None:
    providers = Providers(done(), FakeAnswer(stall=True))
    manager = await open_manager(root, providers)
    result = await manager.send(None, "hi")
    import asyncio

    turn = asyncio.ensure_future(manager.send(result.session_id, "stall"))
    provider = providers.made[0]
    await provider.stalled.wait()
    with pytest.raises(SessionBusy):
        await manager.revert(result.session_id, 1)
    manager.cancel(result.session_id)
    await turn
    await manager.aclose()


async def test_revert_after_a_restart(root: Path) -> None:
    before = tree(root)
    manager = await open_manager(root, Providers(FOUR_KINDS, done()))
    result = await manager.send(None, "change")
    await manager.aclose()
    again = await open_manager(root, Providers())
    reverted = await again.revert(result.session_id, 1)
    assert tree(root) == before and reverted.messages_reverted == 7
    await again.aclose()


async def test_fork_then_continue_both_sessions(root: Path) -> None:
    providers = Providers(
        tools(("write_file", {"path": "a.txt", "content": "a\n"})), done("one"),
        done("two"),
        done("parent three"), done("fork three"),
    )
    manager = await open_manager(root, providers)
    first = await manager.send(None, "one")
    await manager.send(first.session_id, "two")
    fork = await manager.fork(first.session_id, 1)
    assert fork.parent_id == first.session_id and fork.title.endswith("(fork)")
    assert fork.turn_count == 0 or fork.turn_count == 1
    records = {r.session_id: r for r in await manager.list_sessions()}
    assert records[fork.session_id].parent_id == first.session_id
    assert records[fork.session_id].turn_count == 1

    parent_turn = await manager.send(first.session_id, "three")
    fork_turn = await manager.send(fork.session_id, "three")
    assert parent_turn.turn_id == 3 and fork_turn.turn_id == 2
    parent_sent, fork_sent = providers.requests[-2], providers.requests[-1]
    assert_valid_history(parent_sent)  # type: ignore[arg-type]
    assert_valid_history(fork_sent)  # type: ignore[arg-type]
    assert [m.content for m in parent_sent if m.role == "user"] == [  # type: ignore[attr-defined]
        "one", "two", "three"]
    assert [m.content for m in fork_sent if m.role == "user"] == [  # type: ignore[attr-defined]
        "one", "three"]
    assert (root / "a.txt").exists()  # a fork leaves the code alone
    await manager.aclose()


async def test_the_journal_is_written_before_the_change(root: Path) -> None:
    """The row must be committed when the change is made (kill -9 right after)."""
    seen: list[int] = []
    providers = Providers(tools(("write_file", {"path": "x.txt", "content": "x\n"})), done())
    manager = await open_manager(root, providers)
    workspace = manager.workspace
    assert isinstance(workspace, DiskWorkspace)
    original = workspace.apply_to_disk
    db = root / ".nexus" / "nexus.db"

    def spy(change: object, token: object = None) -> None:
        with sqlite3.connect(db) as conn:  # another connection: only committed rows
            seen.append(conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0])
        original(change, token)  # type: ignore[arg-type]

    workspace.apply_to_disk = spy  # type: ignore[method-assign]
    await manager.send(None, "x")
    assert seen == [1]
    await manager.aclose()
