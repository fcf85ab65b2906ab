"""The host without any protocol: settings layers, an editor door, a turn and its cancel.

A fake door implements EditorWorkspace's three methods the way a front door would;
the turn runs on the real session manager and a real SQLite store.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from nexus_lsp.config import Settings
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.messages import ToolCall
from nexus_lsp.errors import EditRejected, ToolError
from nexus_lsp.host.editor import EditorAnswer, EditorWorkspace
from nexus_lsp.host.notify import MessageLevel
from nexus_lsp.host.runtime import WorkspaceRuntime
from nexus_lsp.host.settings import SettingsLayers
from nexus_lsp.skills.disk import minimal_replacement
from nexus_lsp.skills.workspace import DeleteFile, FileChange, RenameFile, WriteText
from nexus_lsp.testing.fake_provider import FakeAnswer, FakeProvider


class Shown:
    def __init__(self) -> None:
        self.messages: list[tuple[MessageLevel, str]] = []

    def show_message(self, level: MessageLevel, text: str) -> None:
        self.messages.append((level, text))


class FakeDoor(EditorWorkspace):
    """An editor with buffers in a dict; edits wait for ``answer`` to be set."""

    def __init__(self, root: Path, layers: SettingsLayers, *, can_apply: bool = True) -> None:
        super().__init__(root, lambda: layers.settings.edits)
        self.buffers: dict[Path, str] = {}
        self.sent: list[tuple[FileChange, str, bool]] = []
        self.answers: list[asyncio.Future[EditorAnswer]] = []
        self.can_apply = can_apply
        self.auto = True

    def buffer_text(self, path: Path) -> str | None:
        return self.buffers.get(path)

    def cannot_apply(self, change: FileChange) -> str | None:
        return None if self.can_apply else "the fake editor cannot apply edits"

    def send_to_editor(
        self, change: FileChange, label: str, *, confirm: bool
    ) -> asyncio.Future[EditorAnswer]:
        self.sent.append((change, label, confirm))
        answer: asyncio.Future[EditorAnswer] = asyncio.get_running_loop().create_future()
        if self.auto:
            answer.set_result(EditorAnswer(True))
        self.answers.append(answer)
        return answer


def change_for(door: FakeDoor, name: str, old: str, new: str) -> WriteText:
    return WriteText(door.resolve(name), old, new, minimal_replacement(old, new))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "a.txt").write_text("one\n", encoding="utf-8")
    return tmp_path


def test_invalid_settings_are_named_to_the_user_and_the_layer_below_stays(root: Path) -> None:
    shown = Shown()
    changes: list[Settings] = []
    layers = SettingsLayers(shown, changes.append)
    layers.load_initial({"nexus": {"session": {"maxIterations": 4}}}, "files")
    layers.apply_client({"session": {"maxIterations": -1}, "edits": {"confirm": True}}, "client")
    assert layers.settings.session.max_iterations == 4
    assert layers.settings.edits.confirm is True
    ((level, text),) = shown.messages
    assert level == "warning" and "session.maxIterations" in text
    assert [s.edits.confirm for s in changes] == [False, True]


async def test_a_tracked_refresh_is_waited_for(root: Path) -> None:
    layers = SettingsLayers(Shown())
    release = asyncio.Event()

    async def refresh() -> Settings:
        await release.wait()
        return layers.apply_client({"session": {"maxIterations": 9}}, "client")

    layers.track(refresh())
    waiting = asyncio.ensure_future(layers.settled())
    await asyncio.sleep(0)
    assert not waiting.done()
    release.set()
    assert (await waiting).session.max_iterations == 9


async def test_reads_prefer_the_buffer_and_edits_go_to_the_editor(root: Path) -> None:
    door = FakeDoor(root, SettingsLayers(Shown()))
    path = door.resolve("a.txt")
    door.buffers[path] = "unsaved\n"
    assert await door.read_text(path) == "unsaved\n"
    await door.apply(change_for(door, "a.txt", "unsaved\n", "two\n"), "edit", CancellationToken())
    assert [label for _, label, _ in door.sent] == ["edit"]
    assert (root / "a.txt").read_text() == "one\n"  # the editor applies, not the host


async def test_a_stale_edit_a_refusal_and_the_disk_fallback(root: Path) -> None:
    layers = SettingsLayers(Shown())
    door = FakeDoor(root, layers)
    path = door.resolve("a.txt")
    door.buffers[path] = "changed meanwhile\n"
    with pytest.raises(ToolError, match="changed in the editor"):
        await door.apply(change_for(door, "a.txt", "one\n", "two\n"), "e", CancellationToken())
    door.buffers.clear()
    door.auto = False
    refused = asyncio.ensure_future(
        door.apply(change_for(door, "a.txt", "one\n", "two\n"), "e", CancellationToken())
    )
    await asyncio.sleep(0)
    door.answers[-1].set_result(EditorAnswer(False, "user said no"))
    with pytest.raises(EditRejected, match="user said no"):
        await refused
    door.can_apply = False
    await door.apply(change_for(door, "a.txt", "one\n", "two\n"), "e", CancellationToken())
    assert (root / "a.txt").read_text() == "two\n"
    layers.apply_client({"edits": {"fallbackToDisk": False}}, "client")
    with pytest.raises(ToolError, match="fallbackToDisk is off"):
        await door.apply(change_for(door, "a.txt", "two\n", "3\n"), "e", CancellationToken())


async def test_a_late_answer_after_cancel_is_not_counted_but_remembered(root: Path) -> None:
    door = FakeDoor(root, SettingsLayers(Shown()))
    door.auto = False
    token = CancellationToken()
    pending = asyncio.ensure_future(
        door.apply(change_for(door, "a.txt", "one\n", "two\n"), "e", token)
    )
    await asyncio.sleep(0)
    token.cancel("stop")
    with pytest.raises(BaseException) as caught:
        await pending
    assert type(caught.value).__name__ in {"Cancelled", "CancelledError"}
    door.answers[-1].set_result(EditorAnswer(True))
    await asyncio.sleep(0)
    # the editor holds the new text of a file it has not saved: reads see it
    assert await door.read_text(door.resolve("a.txt")) == "two\n"
    door.document_event(door.resolve("a.txt"))  # saved/closed: the disk is current again
    assert await door.read_text(door.resolve("a.txt")) == "one\n"


async def open_runtime(root: Path, *answers: FakeAnswer) -> tuple[WorkspaceRuntime[Any], FakeDoor]:
    layers = SettingsLayers(Shown())
    provider = FakeProvider(list(answers))
    doors: list[FakeDoor] = []

    def make(r: Path, s: SettingsLayers) -> FakeDoor:
        doors.append(FakeDoor(r, s))
        return doors[-1]

    runtime = await WorkspaceRuntime.open(root, layers, make, Shown(), lambda *_: provider)
    return runtime, doors[0]


async def test_a_turn_through_the_host_edits_via_the_door_and_is_stored(root: Path) -> None:
    call = ToolCall("c1", "edit_file", {"path": "a.txt", "oldText": "one", "newText": "two"})
    runtime, door = await open_runtime(
        root, FakeAnswer(tool_calls=[call]), FakeAnswer(text=["done"])
    )
    try:
        events: list[Any] = []
        session = await runtime.new_session(title="t")
        result = await runtime.run_turn(session.id, "fix it", events.append)
        assert result.stop_reason == "endTurn" and result.content == "done"
        assert [label for _, label, _ in door.sent] == ["Nexus: edit_file a.txt"]
        assert any(type(e).__name__ == "TurnEnded" for e in events)
        assert runtime.log_dir(session.id).startswith(".nexus/sessions/")
    finally:
        await runtime.aclose()
    stored = [r.session_id for r in await reopen_list(root)]
    assert stored == [session.id]


async def reopen_list(root: Path) -> list[Any]:
    runtime, _ = await open_runtime(root)
    try:
        return list(await runtime.manager.list_sessions())
    finally:
        await runtime.aclose()


async def test_a_cancelled_caller_ends_the_turn_before_the_cancel_goes_on(root: Path) -> None:
    runtime, _ = await open_runtime(root, FakeAnswer(text=["partial"], stall=True))
    try:
        session = await runtime.new_session()
        events: list[Any] = []
        streaming = asyncio.Event()

        def sink(event: Any) -> None:
            events.append(event)
            if type(event).__name__ == "ContentDelta":
                streaming.set()

        caller = asyncio.ensure_future(runtime.run_turn(session.id, "go", sink))
        await streaming.wait()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        # the turn ended (its end event went out) before the caller saw the cancel
        ends = [e for e in events if type(e).__name__ == "TurnEnded"]
        assert len(ends) == 1 and ends[0].result.stop_reason == "cancelled"
        assert not session.running
    finally:
        await runtime.aclose()


async def test_the_disk_fallback_never_writes_over_unsaved_changes(root: Path) -> None:
    layers = SettingsLayers(Shown())
    door = FakeDoor(root, layers, can_apply=False)
    a = door.resolve("a.txt")
    token = CancellationToken()
    unsaved = "typed, not saved\none\n"
    door.buffers[a] = unsaved
    with pytest.raises(ToolError) as caught:
        await door.apply(change_for(door, "a.txt", unsaved, unsaved + "two\n"), "edit", token)
    assert caught.value.for_tool("edit_file") == (
        "edit_file: failed: a.txt has unsaved changes in the editor and the editor can't "
        "apply edits; save it first"
    )
    assert a.read_text(encoding="utf-8") == "one\n"
    # nor deleted, nor renamed, nor created over an unsaved new buffer
    with pytest.raises(ToolError, match="unsaved changes"):
        await door.apply(DeleteFile(a), "delete", token)
    with pytest.raises(ToolError, match="unsaved changes"):
        await door.apply(RenameFile(a, door.resolve("b.txt")), "rename", token)
    new = door.resolve("new.txt")
    door.buffers[new] = "draft\n"
    with pytest.raises(ToolError, match="new.txt has unsaved changes"):
        await door.apply(WriteText(new, None, "x\n", ()), "create", token)
    assert a.exists() and not new.exists()

    # saved buffers (as editors send them: \n line ends, a closing newline) are written
    a.write_bytes(b"one\r\ntwo")
    door.buffers[a] = "one\ntwo\n"
    await door.apply(change_for(door, "a.txt", "one\ntwo\n", "one\n2\n"), "edit", token)
    assert a.read_text(encoding="utf-8") == "one\n2\n"
    door.buffers[new] = ""  # an empty new buffer holds nothing to lose
    await door.apply(WriteText(new, None, "x\n", ()), "create", token)
    assert new.read_text(encoding="utf-8") == "x\n"
