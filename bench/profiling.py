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
import io
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
    return (sys.executable, "-m", "cProfile", "-o", str(stats_file), "-m", "nexus_lsp")


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


def format_stats(stats_file: Path, limit: int = 12) -> str:
    """Top entries by own time, then nexus_lsp functions by cumulative time."""
    if not stats_file.exists():
        return f"(no profile: {stats_file.name} was not written)"
    out = io.StringIO()
    stats = pstats.Stats(str(stats_file), stream=out)
    out.write(f"cProfile, top {limit} by own time:\n")
    stats.sort_stats("tottime").print_stats(limit)
    out.write(f"\ncProfile, nexus_lsp functions, top {limit} by cumulative time:\n")
    stats.sort_stats("cumulative").print_stats(r"nexus_lsp/", limit)
    kept: list[str] = []
    for line in out.getvalue().splitlines():
        text = _short(line.rstrip())
        # pstats' own header (date, stats file, sort order) says nothing the caption does
        # not; keep the totals line and the tables.
        if not text or re.match(r"^\w{3} \w{3} +\d+ |^\s*(Ordered by|List reduced)|\S+\.prof$",
                                text.strip()):
            continue
        kept.append(text)
    return "\n".join(kept)


_IMPORTS = "import nexus_lsp.cli, nexus_lsp.server.serve; import nexus_lsp.server.handlers"


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
    "import nexus_lsp.server.serve\n"
    "before = set(sys.modules)\n"
    "import nexus_lsp.server.handlers\n"
    "print(' '.join(m for m in sys.modules if m not in before and ('.' not in m or\n"
    "      m.count('.') == 1 and m.startswith('nexus_lsp.'))))\n"
)


def rss_by_import() -> str:
    """VmRSS after each import step of the server, in a fresh interpreter per step list."""
    probe = subprocess.run([sys.executable, "-c", _LATE_MODULES], capture_output=True, text=True,
                           check=True, timeout=120)
    late = [m for m in probe.stdout.split() if not m.startswith("_")]
    steps = ["pygls.lsp.server", "nexus_lsp.server.serve", *late, "nexus_lsp.server.handlers"]
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
    out = ["VmRSS after each import, in the order the server loads them (MiB, +delta):"]
    previous = 0
    for line in done.stdout.splitlines():
        name, kb = line.rsplit(" ", 1)
        value = int(kb)
        delta = f"+{(value - previous) / 1024:.1f}" if previous else ""
        out.append(f"{value / 1024:7.1f} {delta:>6}  {name}")
        previous = value
    return "\n".join(out)
