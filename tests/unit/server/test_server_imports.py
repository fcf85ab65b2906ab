"""Import rules: only nexus_lsp/server imports pygls/lsprotocol; the serve path is light."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nexus_lsp

PACKAGE = Path(nexus_lsp.__file__).parent
LSP_PACKAGES = {"pygls", "lsprotocol"}
# What answering ``initialize`` must not wait for (imported after it, on first use).
HEAVY = {
    "httpx", "httpx_sse", "pydantic", "aiosqlite", "aiohttp", "sqlite3",
    "nexus_lsp.config", "nexus_lsp.providers", "nexus_lsp.session", "nexus_lsp.skills",
    "nexus_lsp.storage", "nexus_lsp.testing", "nexus_lsp.server.handlers",
    "nexus_lsp.server.runtime", "nexus_lsp.server.params",
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_only_the_server_package_imports_pygls_or_lsprotocol() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if (PACKAGE / "server") in path.parents:
            continue
        for module in imported_modules(path):
            if module.split(".")[0] in LSP_PACKAGES:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}: {module}")
    assert offenders == []


def test_the_scan_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import pygls.server\nfrom lsprotocol import types\nfrom . import x\n")
    assert imported_modules(sample) == {"pygls.server", "lsprotocol"}


def test_the_serve_path_is_light_until_initialize() -> None:
    """Everything the stdio server imports before answering ``initialize``."""
    code = (
        "import json, sys\n"
        "from nexus_lsp.server.serve import _new_server\n"
        "import nexus_lsp.cli, nexus_lsp.server.__main__\n"
        "import gc\n"
        "_new_server(None)\n"
        "print(json.dumps([gc.get_freeze_count(), sorted(sys.modules)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    frozen, names = json.loads(out)
    modules = set(names)
    # What start-up imported is out of the collector's reach: no full collection
    # walks it just before the initialize answer.
    assert frozen > 10_000
    loaded = {m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)}
    assert loaded == set()
    assert "pygls.lsp.server" in modules  # the probe does load the server itself
