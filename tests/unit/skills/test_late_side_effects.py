"""No side effect lands after the model was told the call did not happen (issue 11 #8).

A file tool's disk work runs in a worker thread, which a timeout or a cancel
cannot stop. Its commit step (the rename or unlink) is decided under the call's
token: either it lands and the call is reported done, or it is reported
``timeout``/``cancelled`` and never lands.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from nexus_lsp.core.cancel import CancellationToken, Cancelled
from nexus_lsp.core.messages import ToolCall
from nexus_lsp.skills import DiskWorkspace, SkillRegistry
from nexus_lsp.skills.files import builtin_skills
from nexus_lsp.skills.workspace import FileChange

WAIT_S = 30.0  # a bound for waits that end as soon as the other side acts


class SlowDisk(DiskWorkspace):
    """Disk work that stalls, in its thread, before or after it lands."""

    def __init__(self, root: Path, *, stall_after: bool = False) -> None:
        super().__init__(root)
        self.stall_after = stall_after
        self.started = threading.Event()
        self.go_on = threading.Event()
        self.finished = threading.Event()
        self.landed = threading.Event()
        self.failure: BaseException | None = None

    def apply_to_disk(self, change: FileChange,
                      cancel_token: CancellationToken | None = None) -> None:
        self.started.set()
        try:
            if not self.stall_after:
                self.go_on.wait(WAIT_S)  # slow disk: still writing when answered
            if cancel_token is None:  # what nexus-lsp did before issue 11 #8
                super().apply_to_disk(change)
            else:
                super().apply_to_disk(change, cancel_token)
            self.landed.set()
            if self.stall_after:  # landed; still busy when the call is given up on
                for _ in range(int(WAIT_S / 0.005)):
                    if cancel_token is None or cancel_token.cancelled:
                        break
                    threading.Event().wait(0.005)
        except BaseException as exc:
            self.failure = exc
            raise
        finally:
            self.finished.set()


def registry(disk: DiskWorkspace, timeout: float) -> SkillRegistry:
    return SkillRegistry(builtin_skills(disk, 10_000), timeout_seconds=timeout)


def write(path: str) -> ToolCall:
    return ToolCall("c1", "write_file", {"path": path, "content": "late\n"})


async def finish(disk: SlowDisk) -> None:
    disk.go_on.set()
    assert await asyncio.to_thread(disk.finished.wait, WAIT_S)


async def test_a_write_answered_timeout_never_lands(tmp_path: Path) -> None:
    disk = SlowDisk(tmp_path)
    result, _ = await registry(disk, 0.05).run(write("new.txt"), CancellationToken())
    assert result.status == "failed" and result.error == (
        "write_file: timeout: did not finish within 0.05 seconds")
    await finish(disk)  # the thread carries on after the answer...
    assert isinstance(disk.failure, Cancelled)  # ...and is stopped at its commit
    assert not (tmp_path / "new.txt").exists()
    assert os.listdir(tmp_path) == []  # no temporary file left either


async def test_a_delete_answered_cancelled_never_lands(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("keep\n", encoding="utf-8")
    disk = SlowDisk(tmp_path)
    token = CancellationToken()
    call = ToolCall("c1", "delete_file", {"path": "keep.txt"})
    running = asyncio.create_task(registry(disk, 60).run(call, token))
    assert await asyncio.to_thread(disk.started.wait, WAIT_S)
    token.cancel("stopped by the user")
    with pytest.raises(Cancelled):
        await running
    await finish(disk)
    assert (tmp_path / "keep.txt").read_text(encoding="utf-8") == "keep\n"


async def test_a_write_that_landed_before_the_cancel_is_reported_done(tmp_path: Path) -> None:
    disk = SlowDisk(tmp_path, stall_after=True)
    token = CancellationToken()
    running = asyncio.create_task(registry(disk, 60).run(write("new.txt"), token))
    assert await asyncio.to_thread(disk.landed.wait, WAIT_S)
    token.cancel("stopped by the user")  # too late for this call: it is done
    result, output = await running
    assert result.status == "completed", result.error
    assert output.locations == ("new.txt",)
    assert (tmp_path / "new.txt").read_text(encoding="utf-8") == "late\n"
