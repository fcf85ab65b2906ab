"""nexus-lsp in a real Emacs 30 (eglot 1.17), headless: ``emacs --batch -Q -l ask.el``.

The script (tests/editors/emacs/ask.el) loads the README's Emacs snippet (pointed
at this venv's server and the scripted model), runs a code action (the turn edits
the open file, then answers), asks a free prompt with the README's ``nexus-ask``
and cancels it with its ``nexus-cancel``. Emacs is installed by ``make editors-setup`` (Debian's bookworm-backports);
without it this test fails saying so.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nexus_lsp.testing import ScriptedModelServer

SCRIPTS = Path(__file__).resolve().parent / "emacs"
README = Path(__file__).resolve().parents[2] / "README.md"
RUN_TIMEOUT = 90.0  # stops a hung Emacs only; a run takes a few seconds


def find_emacs() -> str:
    found = shutil.which("emacs")
    if found is None:
        pytest.fail("emacs not found: run `make editors-setup` (as root: installs Emacs 30 "
                    "from bookworm-backports and Vim + ALE)")
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=False)
    major = int(version.stdout.split()[2].split(".")[0]) if version.stdout else 0
    if major < 30:
        pytest.fail(f"{found} is Emacs {major}; eglot needs Emacs 30 (eglot 1.17) here: "
                    "run `make editors-setup`")
    return found


def readme_snippet(model_url: str) -> str:
    """The README's Emacs setup, pointed at this venv's server and the scripted model."""
    section = README.read_text(encoding="utf-8").split("### Emacs", 1)[1]
    match = re.search(r"```elisp\n(.*?)```", section, re.S)
    assert match, "README: no elisp block in the Emacs section"
    snippet = match.group(1)
    for old, new in [
        ('. ("nexus-lsp"', f'. ("{Path(sys.executable).parent / "nexus-lsp"}"'),
        ("http://localhost:11434/v1", model_url),
        ("qwen2.5-coder:7b", "scripted"),
    ]:
        assert old in snippet, f"README's Emacs snippet lacks {old}"
        snippet = snippet.replace(old, new)
    return snippet


async def run_emacs(script: str, workspace: Path, model: ScriptedModelServer,
                    file: Path, tmp_path: Path) -> dict[str, Any]:
    snippet = tmp_path / "readme.el"
    snippet.write_text(readme_snippet(model.openai_base_url), encoding="utf-8")
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        # the README's settings name no key variable: the default one, a dummy value
        "OPENAI_API_KEY": "emacs-test-dummy",
        "NEXUS_TEST_README_EL": str(snippet),
        "NEXUS_TEST_FILE": str(file),
    }
    (tmp_path / "home").mkdir(exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        find_emacs(), "--batch", "-Q", "-l", str(SCRIPTS / script),
        cwd=workspace, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
    text = out.decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if line.startswith("{")]
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if proc.returncode != 0 or not report or "error" in report:
        pytest.fail(f"{script} failed (exit {proc.returncode}): {report}\n--- stderr\n"
                    f"{err.decode('utf-8', 'replace')[-4000:]}")
    return report


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / ".git").mkdir()  # the project root eglot finds
    (root / "src" / "app.py").write_text("def greet(name):\n    return 'hi ' + name\n")
    return root


async def test_eglot_code_action_edit_answer_and_cancel(
    workspace: Path, tmp_path: Path
) -> None:
    async with ScriptedModelServer() as model:
        model.extend([
            {"toolCalls": [{"id": "e1", "name": "edit_file", "arguments": {
                "path": "src/app.py", "oldText": "'hi '", "newText": "'hello '"}}]},
            {"text": "Fixed the greeting.\nIt now says hello."},
            {"text": "Once upon a time", "chunkSize": 4, "fault": {"stallAfterChunks": 2}},
        ])
        report = await run_emacs("ask.el", workspace, model,
                                 workspace / "src" / "app.py", tmp_path)
        prompts = [r.json["messages"][-1]["content"] for r in model.requests]
    assert report["server"] == "nexus-lsp"
    assert report["readme-entry"] == str(Path(sys.executable).parent / "nexus-lsp")
    assert report["actions"] == ["Nexus: Explain this code", "Nexus: Fix this code"]
    assert report["answer"].startswith("3 Nexus: Fixed the greeting.")  # 3: Info
    assert ".nexus/sessions/" in report["answer"]
    # the edit landed in the buffer (through workspace/applyEdit)
    assert report["buffer"] == "def greet(name):\n    return 'hello ' + name\n"
    # the transcript opened at the answer
    assert report["transcript-line"] == "Fixed the greeting."
    assert report["started"] is True
    assert prompts[-1] == "tell me a long story"  # the README's nexus-ask sent it
    assert report["cancelled"] == 1
    assert report["cancel-message"].startswith("3 Nexus: cancelled: Once up")
    assert report["transcript-line-2"] == "Once upo"  # the partial answer, selected
