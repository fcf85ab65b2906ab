"""The layout's rules (docs/architecture.md), read from the code's own imports.

- pygls/lsprotocol only in the LSP door (``lsp/``) and the headless client
  (``client/``); the ACP package only in ``acp/``; the MCP SDK only in ``mcp/``;
- nothing in ``host/`` or below (the session core) imports a front door, the client
  or the entry points; the doors do not import each other, and the client shares
  only the JSON-RPC converter with the LSP door;
- no import circles between modules (lazy and type-checking imports included: a
  circle is a circle in the design even when Python tolerates it);
- the serve path stays light until ``initialize``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nexus_lsp

PACKAGE = Path(nexus_lsp.__file__).parent
ROOT = PACKAGE.name  # "nexus_lsp"

# third-party package → the only subpackages allowed to import it
LIBRARY_HOMES = {
    "pygls": {"lsp", "client"},
    "lsprotocol": {"lsp", "client"},
    "acp": {"acp"},
    "mcp": {"mcp"},
}
FRONT = {"lsp", "acp", "client", "cli", "demo", "__main__"}
# what each outer part may import of the others (everything else of ours is below)
ALLOWED_FRONT = {
    "lsp": {"lsp"},
    "acp": {"acp"},
    "client": {"client", "lsp.converter"},
    "cli": FRONT,
    "demo": {"client", "demo"},
    "__main__": {"cli"},
}
# What answering ``initialize`` must not wait for (imported after it, on first use).
HEAVY = {
    "httpx", "pydantic", "aiosqlite", "aiohttp", "sqlite3",
    "nexus_lsp.config", "nexus_lsp.providers", "nexus_lsp.session", "nexus_lsp.skills",
    "nexus_lsp.storage", "nexus_lsp.testing", "nexus_lsp.host", "nexus_lsp.lsp.handlers",
    "nexus_lsp.lsp.runtime", "nexus_lsp.lsp.params",
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every module ``path`` imports (at any depth, lazily or for type checking only).

    ``from a import b`` names the module ``a.b`` when it is one of ``known``;
    otherwise the deepest known package of the dotted name.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{alias.name}" for alias in node.names}
            found.update(subs & known or {node.module})
    return found


def our_modules(root: Path = PACKAGE.parent, package: str = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}


def part_of(module: str) -> str:
    """``nexus_lsp.lsp.app`` → ``lsp``; ``nexus_lsp.cli`` → ``cli``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def inner(module: str) -> str:
    """``nexus_lsp.lsp.converter`` → ``lsp.converter``."""
    return module.split(".", 1)[1] if "." in module else ""


def owner(name: str, modules: set[str]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {owner(name, known) for name in imports_of(path, known)}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def library_offenders(modules: dict[str, Path]) -> list[str]:
    known = set(modules)
    offenders = []
    for module, path in modules.items():
        for name in imports_of(path, known):
            homes = LIBRARY_HOMES.get(name.split(".")[0])
            if homes is not None and part_of(module) not in homes:
                offenders.append(f"{module}: {name}")
    return offenders


def layer_offenders(graph: dict[str, set[str]]) -> list[str]:
    offenders = []
    for module, targets in graph.items():
        allowed = ALLOWED_FRONT.get(part_of(module), set())
        for target in targets:
            if part_of(target) not in FRONT:
                continue  # the core and the host: anyone may import them
            if part_of(target) in allowed or inner(target) in allowed:
                continue
            offenders.append(f"{module} → {target}")
    return offenders


def test_protocol_libraries_stay_in_their_doors() -> None:
    assert library_offenders(our_modules()) == []


def test_the_core_and_host_import_no_door_and_doors_import_no_other_door() -> None:
    assert layer_offenders(import_graph(our_modules())) == []


def test_no_import_circles() -> None:
    assert circles(import_graph(our_modules())) == []


def write_package(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = tmp_path / ROOT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return our_modules(tmp_path)


def test_the_checks_see_what_they_forbid(tmp_path: Path) -> None:
    modules = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "host/__init__.py": "",
            "host/runtime.py": "from nexus_lsp.lsp.app import Server\nimport pygls.server\n",
            "lsp/__init__.py": "",
            "lsp/app.py": "def f():\n    from nexus_lsp.lsp import handlers\n",
            "lsp/handlers.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from nexus_lsp.lsp.app import Server\n",
            "client/__init__.py": "",
            "client/ask.py": "from nexus_lsp.lsp.converter import c\n"
            "from nexus_lsp.lsp import app\n",
            "lsp/converter.py": "from lsprotocol import types\n",
            "acp/__init__.py": "import acp\nfrom lsprotocol import types\n",
        },
    )
    graph = import_graph(modules)
    assert sorted(library_offenders(modules)) == [
        "nexus_lsp.acp: lsprotocol",
        "nexus_lsp.host.runtime: pygls.server",
    ]
    assert sorted(layer_offenders(graph)) == [
        "nexus_lsp.client.ask → nexus_lsp.lsp.app",
        "nexus_lsp.host.runtime → nexus_lsp.lsp.app",
    ]
    assert circles(graph) == [["nexus_lsp.lsp.app", "nexus_lsp.lsp.handlers"]]


def test_the_serve_path_is_light_until_initialize() -> None:
    """Everything the stdio server imports before answering ``initialize``."""
    code = (
        "import json, sys\n"
        "from nexus_lsp.lsp.serve import _new_server\n"
        "import nexus_lsp.cli, nexus_lsp.lsp.__main__\n"
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
