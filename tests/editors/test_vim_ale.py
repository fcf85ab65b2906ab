"""nexus-lsp in a real Vim + ALE, headless: ``vim -Nu NONE -i NONE -es -S ale.vim``.

ALE declares no ``workspace/applyEdit``, so the agent's edits go to disk — unless
the buffer has unsaved changes, then the edit is refused (protocol v2 §7). The
answers reach Vim only as ``window/showMessage`` (with
``g:ale_lsp_show_message_severity = 'information'``). Vim and ALE are installed by
``make editors-setup`` (Debian's vim-nox, vim-ale); without them this test fails
saying so.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from nexus_lsp.testing import ScriptedModelServer

SCRIPT = Path(__file__).resolve().parent / "vim" / "ale.vim"
ALE_PACKAGE = Path("/usr/share/vim/vimfiles/pack/dist-bundle/opt/ale")
RUN_TIMEOUT = 90.0  # stops a hung Vim only; a run takes a few seconds
API_KEY_ENV = "NEXUS_VIM_TEST_KEY"


def find_vim() -> str:
    found = shutil.which("vim.nox") or shutil.which("vim")
    if found is None or not ALE_PACKAGE.exists():
        pytest.fail("Vim + ALE not found: run `make editors-setup` (as root: installs "
                    "vim-nox and vim-ale from Debian, and Emacs 30)")
    return found


async def test_ale_code_actions_edit_saved_files_and_refuse_unsaved_ones(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / ".git").mkdir()
    app = root / "src" / "app.py"
    app.write_text("def greet(name):\n    return 'hi ' + name\n")
    report_file = tmp_path / "report.json"
    edit = {"toolCalls": [{"id": "e", "name": "edit_file", "arguments": {
        "path": "src/app.py", "oldText": "' + name", "newText": "!' + name"}}]}
    async with ScriptedModelServer() as model:
        model.extend([edit, {"text": "Added an exclamation mark."},
                      edit, {"text": "Save src/app.py first, then ask again."}])
        options = {
            "provider": {"kind": "openai", "baseUrl": model.openai_base_url,
                         "model": "scripted", "apiKeyEnv": API_KEY_ENV, "maxRetries": 0},
            "session": {"maxIterations": 4},
            "codeActions": [{"title": "Nexus: Fix", "prompt": "Fix this code."}],
        }
        env = {
            **os.environ,
            "HOME": str(tmp_path),
            API_KEY_ENV: "vim-test-key",
            "NEXUS_TEST_PYTHON": sys.executable,
            "NEXUS_TEST_INIT": json.dumps(options),
            "NEXUS_TEST_FILE": str(app),
            "NEXUS_TEST_REPORT": str(report_file),
        }
        proc = await asyncio.create_subprocess_exec(
            find_vim(), "-Nu", "NONE", "-i", "NONE", "-es", "-S", str(SCRIPT),
            cwd=root, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(RUN_TIMEOUT):
                out, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            out, err = await proc.communicate()
        tool_results = [m["content"] for r in model.requests
                        for m in r.json["messages"] if m["role"] == "tool"]
    report: dict[str, Any] = (
        json.loads(report_file.read_text()) if report_file.exists() else {}
    )
    if proc.returncode != 0 or not report or "error" in report:
        pytest.fail(f"ale.vim failed (exit {proc.returncode}): {report}\n--- output\n"
                    f"{out.decode('utf-8', 'replace')[-3000:]}"
                    f"{err.decode('utf-8', 'replace')[-3000:]}")
    assert report["first"].startswith("Info:nexus: Nexus: Added an exclamation mark.")
    assert report["after_first"] == ["def greet(name):", "    return 'hi !' + name"]
    assert report["second"].startswith("Info:nexus: Nexus: Save src/app.py first")
    assert tool_results[-1] == (
        "edit_file: failed: src/app.py has unsaved changes in the editor and the editor "
        "can't apply edits; save it first"
    )
    # neither the agent's edit nor the unsaved line reached the disk
    assert report["disk"] == ["def greet(name):", "    return 'hi !' + name"]
    assert report["modified"] == 1
