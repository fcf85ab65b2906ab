"""``run_command`` over the wire (protocol v2 §2): real processes, real pids.

Every test runs in ``auto`` mode (permissions are tested in test_server_permissions.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import API_KEY_ENV, WAIT, TestEditor, connected, server_env, settings


def call(call_id: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "name": wire.TOOL_RUN_COMMAND, "arguments": arguments}


def auto(model: ScriptedModelServer, **sections: Any) -> Any:
    sections.setdefault("session", {"maxIterations": 10, "maxToolOutputChars": 4000})
    return settings(model.openai_base_url, permissions={"mode": "auto"}, **sections)


def tool_results(model: ScriptedModelServer) -> dict[str, str]:
    out: dict[str, str] = {}
    for request in model.requests:
        for m in request.json["messages"]:
            if m["role"] == "tool":
                out[m["tool_call_id"]] = m["content"]
    return out


def final_update(editor: TestEditor, call_id: str) -> dict[str, Any]:
    (update,) = [u for u in editor.updates if u.get("toolCallId") == call_id
                 and u["kind"] == "toolCallUpdate" and u["status"] not in ("running",)]
    return update


def streamed(editor: TestEditor, call_id: str) -> list[str]:
    return [u["output"] for u in editor.updates if u.get("toolCallId") == call_id
            and u["kind"] == "toolCallUpdate" and u["status"] == "running" and "output" in u]


def alive(pid: int) -> bool:
    """A process that still runs (a zombie waiting for its reaper is dead)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in (b"Z", b"X")


# The shell starts two grandchildren in its group and records their pids; one of them
# ignores SIGTERM, so only the SIGKILL that follows ends it.
SPAWNER = (
    "sleep 300 & echo $! > pids.txt; "
    "(trap '' TERM; sleep 300) & echo $! >> pids.txt; "
    "echo started; wait"
)


def pids_of(workspace: Path) -> list[int]:
    return [int(line) for line in (workspace / "pids.txt").read_text().split()]


async def test_output_streams_and_ends_with_the_exit_status(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected("visual-studio-code", workspace, auto(model)) as editor:
        model.extend([
            {"toolCalls": [call("c1", command="echo out; echo err >&2; exit 3", cwd="src")]},
            {"text": "it failed"},
        ])
        result = await editor.send("run it")
        assert [c["status"] for c in result["toolCalls"]] == ["completed"]  # exit 3 is normal
        assert "".join(streamed(editor, "c1")) == "out\nerr\n"
        final = final_update(editor, "c1")
        assert final["status"] == "completed"
        assert (final["exitCode"], final["signal"], final["truncated"]) == (3, None, False)
        assert isinstance(final["durationMs"], int)
        text = tool_results(model)["c1"]
        assert text.startswith("$ echo out; echo err >&2; exit 3\nout\nerr\n[exit code 3;")
        kinds = [u.get("toolKind") for u in editor.updates if u["kind"] == "toolCall"]
        assert kinds == ["execute"]


async def test_a_timeout_kills_the_whole_group(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected("visual-studio-code", workspace, auto(model)) as editor:
        model.extend([{"toolCalls": [call("t1", command=SPAWNER, timeoutSeconds=1)]},
                      {"text": "too slow"}])
        result = await editor.send("spawn")
        assert result["stopReason"] == "endTurn"
        pids = pids_of(workspace)
        assert len(pids) == 2
        assert not any(alive(pid) for pid in pids), [p for p in pids if alive(p)]
        assert "timeout: stopped after 1 s (the process group was killed)" in (
            tool_results(model)["t1"])
        final = final_update(editor, "t1")
        assert final["timedOut"] is True and final["exitCode"] is None


async def test_cancel_kills_the_whole_group(model: ScriptedModelServer, workspace: Path) -> None:
    async with connected("visual-studio-code", workspace, auto(model)) as editor:
        session = await editor.request(wire.SESSION_NEW, {})
        model.extend([{"toolCalls": [call("k1", command=SPAWNER)]}, {"text": "never"}])
        sending = editor.start_request(
            wire.SESSION_SEND, {"sessionId": session["sessionId"], "prompt": "spawn"})
        await editor.wait_for_update(lambda u: u.get("output") == "started\n")
        pids = pids_of(workspace)
        assert all(alive(pid) for pid in pids)
        editor.protocol.notify(wire.SESSION_CANCEL, {"sessionId": session["sessionId"]})
        result = await asyncio.wait_for(sending, WAIT)
        assert result["stopReason"] == "cancelled"
        assert [c["status"] for c in result["toolCalls"]] == ["cancelled"]
        assert not any(alive(pid) for pid in pids), [p for p in pids if alive(p)]


async def test_background_jobs_do_not_outlive_the_call(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected("visual-studio-code", workspace, auto(model)) as editor:
        model.extend([{"toolCalls": [call("b1", command="sleep 300 & echo $! > pids.txt")]},
                      {"text": "ok"}])
        await editor.send("background")
        (pid,) = pids_of(workspace)
        assert not alive(pid)
        assert final_update(editor, "b1")["exitCode"] == 0


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


async def test_fifty_megabytes_of_output_are_bounded(
    model: ScriptedModelServer, workspace: Path
) -> None:
    limit = 256 * 1024
    async with connected("visual-studio-code", workspace,
                         auto(model, commands={"maxStoredOutputBytes": limit})) as editor:
        process = editor.server_process
        assert process is not None
        model.extend([{"text": "warm up"}])
        await editor.send("warm up")  # the store, the session and the provider exist
        before = peak_rss_kib(process.pid)
        big = "head -c 52428800 /dev/zero | tr '\\0' 'x'; echo; echo THE END"
        model.extend([{"toolCalls": [call("f1", command=big)]}, {"text": "ok"}])
        await editor.send("flood")
        growth_mib = (peak_rss_kib(process.pid) - before) / 1024
        assert growth_mib < 30, f"the server's peak RSS grew by {growth_mib:.1f} MiB"
        text = tool_results(model)["f1"]
        assert len(text) <= 4000 and text.rstrip().endswith("ms]")
        assert "THE END" in text and "characters cut; 52,428,809 in all" in text
        shown = streamed(editor, "f1")
        assert sum(len(chunk) for chunk in shown) <= limit + 200
        assert "".join(shown).endswith(
            "\n[output shown up to 262,144 bytes; the rest is cut here]\n")
        assert len(shown) < 100  # coalesced, never a notification per read
        assert final_update(editor, "f1")["truncated"] is True
    stored = sum(f.stat().st_size for f in (workspace / ".nexus").rglob("*") if f.is_file())
    assert stored < 4 * 1024 * 1024, stored
    with contextlib.closing(sqlite3.connect(workspace / ".nexus" / "nexus.db")) as db:
        (kept,) = db.execute("SELECT sum(length(json_extract(data, '$.text'))) FROM events"
                             " WHERE type = 'toolOutput'").fetchone()
    assert limit // 2 < kept <= limit + 200  # the streamed output is what the store keeps


async def test_secrets_are_not_in_the_commands_environment(
    model: ScriptedModelServer, workspace: Path
) -> None:
    env = server_env(MY_SERVICE_TOKEN="tok-123", DB_PASSWORD="pw-123", NEXUS_PLAIN="visible")
    async with connected("visual-studio-code", workspace, auto(model), env=env) as editor:
        model.extend([{"toolCalls": [call("v1", command="env")]}, {"text": "ok"}])
        await editor.send("env")
        text = tool_results(model)["v1"]
        assert "NEXUS_PLAIN=visible" in text
        for name, value in ((API_KEY_ENV, "e2e-secret-key"), ("MY_SERVICE_TOKEN", "tok-123"),
                            ("DB_PASSWORD", "pw-123")):
            assert name not in text and value not in text


HOSTILE_CWDS = ["..", "../", "/etc", "src/../..", "file:///etc", "escape", "README.md",
                "missing", "a\x00b"]


async def test_hostile_cwd_values_are_refused(
    model: ScriptedModelServer, workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (workspace / "escape").symlink_to(outside)
    options = auto(model, session={"maxIterations": 12})
    async with connected("visual-studio-code", workspace, options) as editor:
        model.extend([{"toolCalls": [call(f"h{i}", command="touch ran.txt", cwd=cwd)]}
                      for i, cwd in enumerate(HOSTILE_CWDS)] + [{"text": "ok"}])
        result = await editor.send("hostile")
        assert [c["status"] for c in result["toolCalls"]] == ["failed"] * len(HOSTILE_CWDS)
        results = tool_results(model)
        for i, cwd in enumerate(HOSTILE_CWDS):
            text = results[f"h{i}"]
            assert text.startswith(("run_command: refused: ", "run_command: failed: cwd: ")), (
                cwd, text)
    assert not (outside / "ran.txt").exists()
    assert not (workspace / "ran.txt").exists()
