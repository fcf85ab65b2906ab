"""``nexus-lsp demo``: offline, no key, the sample project fixed as scripted."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

from nexus_lsp.cli import EXIT_OK
from nexus_lsp.testing import Script

TIMEOUT = 90.0


def test_the_demo_script_matches_the_sample_project() -> None:
    # edit_file's oldText must occur exactly once, or the demo's edit would fail.
    package = resources.files("nexus_lsp")
    script = Script.load(Path(str(package / "testing" / "scripts" / "demo.json")))
    calls = [call for response in script.responses for call in response.tool_calls]
    sample = package / "demo_workspace"
    for call in calls:
        args = call.arguments or {}
        if call.name in ("read_file", "edit_file"):
            text = (sample / args["path"]).read_text(encoding="utf-8")
            if call.name == "edit_file":
                assert text.count(args["oldText"]) == 1
    assert {call.name for call in calls} >= {"read_file", "edit_file", "write_file"}


def test_demo_runs_offline_and_shows_the_diff(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "NO_COLOR": "1"}
    env = {k: v for k, v in env.items() if not k.endswith("_API_KEY")}
    proc = subprocess.run(
        [sys.executable, "-m", "nexus_lsp", "demo", "--keep"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == EXIT_OK, err

    # The answer streamed, the tools ran, the diff and the .nexus log are shown.
    assert "Fixed:" in out
    assert "⚙ read_file greet.py … ok" in out
    assert "⚙ edit_file greet.py … ok" in out
    assert "⚙ write_file test_greet.py … ok" in out
    assert "✓ done" in out
    assert '-    return "".join(part[1] for part in full_name.split()).upper()' in out
    assert '+    return "".join(part[0] for part in full_name.split()).upper()' in out
    assert "+++ b/test_greet.py" in out
    assert "context.md" in out and "nexus.db" in out

    # --keep leaves the workspace where it says; the fix works.
    match = re.search(r"Kept the demo folder: (.+)", out)
    assert match, out
    workspace = Path(match.group(1).strip())
    assert workspace.is_relative_to(tmp_path)
    assert (workspace / "test_greet.py").is_file()
    greeting = subprocess.run(
        [sys.executable, "greet.py"], cwd=workspace, capture_output=True, text=True, timeout=30
    )
    assert greeting.stdout == "Hello, Ada Lovelace (AL)!\n"
    sessions = list((workspace / ".nexus" / "sessions").iterdir())
    assert len(sessions) == 1
    assert "initials" in (sessions[0] / "context.md").read_text(encoding="utf-8")
