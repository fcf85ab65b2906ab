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
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from nexus_lsp.testing import ScriptedModelServer

SCRIPT = Path(__file__).resolve().parent / "vim" / "ale.vim"
README = Path(__file__).resolve().parents[2] / "README.md"
ALE_PACKAGE = Path("/usr/share/vim/vimfiles/pack/dist-bundle/opt/ale")
RUN_TIMEOUT = 90.0  # stops a hung Vim only; a run takes a few seconds


def find_vim() -> str:
    found = shutil.which("vim.nox") or shutil.which("vim")
    if found is None or not ALE_PACKAGE.exists():
        pytest.fail("Vim + ALE not found: run `make editors-setup` (as root: installs "
                    "vim-nox and vim-ale from Debian, and Emacs 30)")
    return found


def readme_snippet(model_url: str) -> str:
    """The README's Vim setup, pointed at this venv's server and the scripted model."""
    section = README.read_text(encoding="utf-8").split("### Vim (ALE)", 1)[1]
    match = re.search(r"```vim\n(.*?)```", section, re.S)
    assert match, "README: no vim block in the Vim section"
    snippet = match.group(1)
    for old, new in [
        ("'executable': 'nexus-lsp'",
         f"'executable': '{Path(sys.executable).parent / 'nexus-lsp'}'"),
        ("http://localhost:11434/v1", model_url),
        ("qwen2.5-coder:7b", "scripted"),
    ]:
        assert old in snippet, f"README's Vim snippet lacks {old}"
        snippet = snippet.replace(old, new)
    return snippet


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
        snippet = tmp_path / "readme.vim"
        snippet.write_text(readme_snippet(model.openai_base_url), encoding="utf-8")
        env = {
            **os.environ,
            "HOME": str(tmp_path),
            # the README's settings name no key variable: the default one, a dummy value
            "OPENAI_API_KEY": "vim-test-dummy",
            "NEXUS_TEST_README_VIM": str(snippet),
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
