"""Profiles for the report: where the time (or the memory) goes when a target is missed.

- :func:`profiled_server` is the nexus-lsp command under ``cProfile`` (the stats
  file is written when the server exits after ``shutdown``/``exit``);
- :func:`in_process` profiles a coroutine of the bench process itself;
- :func:`format_stats` renders the top entries (own time, and cumulative time of
  nexus-lsp's own functions) with short paths;
- :func:`import_times` (``-X importtime``) and :func:`rss_by_import` explain
  start-up time and idle memory by module.
"""

from __future__ import annotations

import cProfile
import pstats
import re
import subprocess
import sys
import sysconfig
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["format_stats", "import_times", "in_process", "profiled_server", "rss_by_import"]

T = TypeVar("T")

_ROOT = str(Path(__file__).resolve().parent.parent) + "/"
_SITE = sysconfig.get_paths()["purelib"] + "/"
_STDLIB = sysconfig.get_paths()["stdlib"] + "/"


def profiled_server(stats_file: Path) -> tuple[str, ...]:
    """The server command under cProfile (see ``bench/profiled_server.py``)."""
    script = Path(__file__).with_name("profiled_server.py")
    return (sys.executable, str(script), str(stats_file))


async def in_process(work: Callable[[], Awaitable[T]], stats_file: Path) -> T:
    profile = cProfile.Profile()
    profile.enable()
    try:
        return await work()
    finally:
        profile.disable()
        profile.dump_stats(str(stats_file))


def _short(text: str) -> str:
    return text.replace(_ROOT, "").replace(_SITE, "").replace(_STDLIB, "")


# Start-up work (importing, compiling, building classes) is in every server profile;
# it is measured by the start-up bench, so the tables leave it out.
_IMPORT_NOISE = re.compile(
    r"importlib|<frozen |\(<module>\)$|"
    r"<built-in method (builtins\.(compile|exec|__build_class__)|marshal\.loads|_imp\.)|"
    r"attr/_make\.py|typing\.py|dataclasses\.py|enum\.py|"
    r"pydantic/_internal/_(generate_schema|model_construction|fields|decorators)")


def _label(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name  # a built-in, already "{method 'x' of 'y' objects}"
    return f"{_short(filename)}:{line}({name})"


def format_stats(stats_file: Path, limit: int = 12) -> str:
    """Top entries by own time, then nexus_lsp functions by cumulative time."""
    if not stats_file.exists():
        return f"(no profile: {stats_file.name} was not written)"
    stats = pstats.Stats(str(stats_file)).stats  # type: ignore[attr-defined]
    rows = [(_label(key), calls, own, cumulative)
            for key, (_, calls, own, cumulative, _) in stats.items()]
    rows = [r for r in rows if not _IMPORT_NOISE.search(r[0])]
    total = sum(r[2] for r in rows)

    def table(title: str, picked: list[tuple[str, int, float, float]]) -> list[str]:
        out = [title, f"{'own s':>8} {'cum s':>8} {'calls':>8}  function"]
        out += [f"{own:8.3f} {cum:8.3f} {calls:8d}  {label}" for label, calls, own, cum in picked]
        return out

    by_own = sorted(rows, key=lambda r: r[2], reverse=True)[:limit]
    ours = sorted((r for r in rows if r[0].startswith("nexus_lsp/")),
                  key=lambda r: r[3], reverse=True)[:limit]
    lines = [f"cProfile: {total:.3f} s of own time outside start-up imports."]
    lines += table(f"Top {limit} by own time:", by_own)
    lines += ["", *table(f"nexus_lsp functions, top {limit} by cumulative time:", ours)]
    return "\n".join(lines)


_IMPORTS = "import nexus_lsp.cli, nexus_lsp.lsp.serve; import nexus_lsp.lsp.handlers"


def import_times(limit: int = 12) -> str:
    """``-X importtime`` of what the server imports, top modules by cumulative time."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", _IMPORTS],
                          capture_output=True, text=True, check=True, timeout=120)
    rows: list[tuple[int, int, str]] = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match and len(match.group(3)) <= 3:  # top-level and their direct imports
            rows.append((int(match.group(2)), int(match.group(1)), match.group(4)))
    rows.sort(reverse=True)
    out = ["-X importtime (cumulative / own, ms) of the server's imports:"]
    out += [f"{cum / 1000:8.1f} {own / 1000:8.1f}  {name}" for cum, own, name in rows[:limit]]
    return "\n".join(out)


# Which packages (and nexus_lsp modules) load after the server answered initialize?
_LATE_MODULES = (
    "import sys\n"
    "import nexus_lsp.lsp.serve\n"
    "before = set(sys.modules)\n"
    "import nexus_lsp.lsp.handlers\n"
    "print(' '.join(m for m in sys.modules if m not in before and ('.' not in m or\n"
    "      m.count('.') == 1 and m.startswith('nexus_lsp.'))))\n"
)


def rss_by_import() -> str:
    """VmRSS after each import step of the server, in a fresh interpreter per step list."""
    probe = subprocess.run([sys.executable, "-c", _LATE_MODULES], capture_output=True, text=True,
                           check=True, timeout=120)
    late = [m for m in probe.stdout.split() if not m.startswith("_")]
    steps = ["pygls.lsp.server", "nexus_lsp.lsp.serve", *late, "nexus_lsp.lsp.handlers"]
    script = (
        "import importlib\n"
        "def rss():\n"
        "    with open('/proc/self/status') as f:\n"
        "        return next(int(l.split()[1]) for l in f if l.startswith('VmRSS:'))\n"
        "print('python', rss())\n"
        f"for name in {steps!r}:\n"
        "    importlib.import_module(name)\n"
        "    print(name, rss())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120)
    out = ["VmRSS after each import, in the order the server loads them (MiB, +delta;",
           "imports that add under 0.1 MiB are folded into the next line):"]
    previous = 0
    for line in done.stdout.splitlines():
        name, kb = line.rsplit(" ", 1)
        value = int(kb)
        if previous and value - previous < 100:  # under 0.1 MiB: not worth a line
            continue
        delta = f"+{(value - previous) / 1024:.1f}" if previous else ""
        out.append(f"{value / 1024:7.1f} {delta:>6}  {name}")
        previous = value
    return "\n".join(out)
