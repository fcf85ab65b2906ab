"""``python -m bench`` (``make bench``): run the measures, write ``docs/benchmarks.md``.

Options: ``--smoke`` (tiny sizes, seconds), ``--only startup,turn,...`` (a subset;
the report is then written only with an explicit ``--output``), ``--profile
missed|always|never`` (cProfile / import profiles for measures that missed a
target, by default), ``--output PATH``, ``--no-write``. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import (
    acp,
    cancel,
    checkpoints,
    command,
    context,
    edit,
    load,
    mcp_call,
    memory,
    search,
    startup,
    store,
    turn,
)
from bench.config import FULL, SMOKE, ProfileMode, Sizes
from bench.report import Machine, render, write
from bench.stats import MeasureResult

__all__ = ["MEASURES", "main", "run_measures"]

Measure = Callable[[Sizes, ProfileMode, Path], Awaitable[list[MeasureResult]]]

# key → (the keys of the results it produces, the measure)
MEASURES: dict[str, tuple[tuple[str, ...], Measure]] = {
    "startup": (("startup", "rss"), startup.run),
    "turn": (("turn",), turn.run),
    "cancel": (("cancel",), cancel.run),
    "store": (("store",), store.run),
    "load": (("load",), load.run),
    "edit": (("edit",), edit.run),
    "compaction": (("compaction",), context.run_compaction),
    "diagnostics": (("diagnostics",), context.run_diagnostics),
    "command": (("permission", "command"), command.run),
    "checkpoints": (("revert", "journal", "scan"), checkpoints.run),
    "acp_turn": (("acp_turn",), acp.run_turn),
    "acp_startup": (("acp_startup",), acp.run_startup),
    "mcp": (("mcp",), mcp_call.run),
    "search": (("search",), search.run),
    "memory": (("memory",), memory.run),
}
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def _log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


async def run_measures(keys: list[str], sizes: Sizes, profile: ProfileMode,
                       workdir: Path) -> list[MeasureResult]:
    results: list[MeasureResult] = []
    for key in keys:
        started = time.perf_counter()
        _log(f"bench: {key} ...")
        found = await MEASURES[key][1](sizes, profile, workdir)
        for result in found:
            marks = ", ".join(("✓ " if c.passed else "✗ ") + c.measured for c in result.checks)
            _log(f"bench:   {result.title}: {marks}")
        _log(f"bench:   ({time.perf_counter() - started:.0f} s)")
        results += found
    return results


def _keys(only: str | None) -> list[str]:
    if not only:
        return list(MEASURES)
    keys = [k.strip() for k in only.split(",") if k.strip()]
    unknown = [k for k in keys if k not in MEASURES]
    if unknown:
        raise SystemExit(f"python -m bench: error: --only: unknown measure(s) "
                         f"{', '.join(unknown)}; choose from {', '.join(MEASURES)}")
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (the smoke test's)")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(MEASURES)}")
    parser.add_argument("--profile", choices=["missed", "always", "never"], default="missed",
                        help="profile the measures that missed a target (default), all, none")
    parser.add_argument("--output", type=Path, help=f"report file (default {DEFAULT_OUTPUT})")
    parser.add_argument("--no-write", action="store_true", help="print the report instead")
    args = parser.parse_args(argv)
    keys = _keys(args.only)
    sizes = SMOKE if args.smoke else FULL
    machine = Machine.probe()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nexus-bench-") as tmp:
        results = asyncio.run(run_measures(keys, sizes, args.profile, Path(tmp)))
    seconds = time.perf_counter() - started
    text = render(results, machine.finished(), seconds=seconds,
                  command="make bench" if not args.smoke else "python -m bench --smoke",
                  sizes_name="smoke (tiny)" if args.smoke else "full (the brief's)")
    output = args.output
    if output is None and not args.no_write and len(keys) < len(MEASURES):
        _log("bench: a subset ran; the report is printed (give --output to write it)")
        args.no_write = True
    if args.no_write:
        sys.stdout.write(text)
    else:
        target = output or DEFAULT_OUTPUT
        write(target, text)
        _log(f"bench: wrote {target}")
    missed = sum(not r.passed for r in results)
    _log(f"bench: {len(results) - missed} of {len(results)} measures met every target "
         f"({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
