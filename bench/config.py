"""How big and how often: the sizes of a full run (``make bench``) and of the smoke test.

Full sizes are the brief's (20k-token turn, 10k messages + 50k events, a 5 MB
document); run counts keep the whole run within a few minutes on 2 cores. The
store baseline (a commit per row, ~1 ms each on this disk) is the slowest part, so
it runs fewer times than the store itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["FULL", "SMOKE", "ProfileMode", "Sizes"]

ProfileMode = Literal["missed", "always", "never"]


@dataclass(frozen=True, slots=True)
class Sizes:
    warmups: int = 1  # uncounted runs of each side before the counted ones
    startup_runs: int = 8  # spawns of each server (start-up and idle RSS)
    turn_runs: int = 6  # streamed turns of each side
    turn_chars: int = 80_000  # ~20k tokens
    turn_chunk: int = 4  # characters per streamed chunk
    cancel_runs: int = 20
    store_turns: int = 2_000  # 5 messages and 25 events per turn: 10k + 50k
    store_pairs: int = 3  # interleaved (baseline, store) pairs: 3 consecutive runs
    load_turns: int = 2_000  # a 10k-message session
    load_runs: int = 6
    edit_bytes: int = 5_000_000
    edit_runs: int = 10
    compaction_messages: int = 2_000  # a 2,000-message session compacted
    compaction_runs: int = 10
    diagnostics_runs: int = 10
    permission_runs: int = 20  # permission questions answered (round trip)
    command_runs: int = 5  # interleaved (bare, run_command) pairs
    command_bytes: int = 10_000_000
    revert_files: int = 100  # a turn that changed 100 files, 1 MB in all
    revert_bytes: int = 1_000_000
    revert_runs: int = 5
    journal_runs: int = 20  # edits journaled (round trip vs the journal's share)
    scan_files: int = 10_000
    scan_runs: int = 10
    mcp_runs: int = 20  # interleaved (direct SDK, through a turn) MCP calls
    search_files: int = 10_000  # the generated tree search_text searches
    search_runs: int = 6
    memory_sessions: int = 20  # sessions loaded at once
    memory_turns: int = 200  # 5 messages each: 1k-message sessions
    memory_runs: int = 3  # spawns of the server

    def scaled(self, **changes: int) -> Sizes:
        return replace(self, **changes)


FULL = Sizes()

# The smoke test: every measure once through, tiny, in a few seconds.
SMOKE = Sizes(
    warmups=0,
    startup_runs=1,
    turn_runs=2,
    turn_chars=2_000,
    turn_chunk=8,
    cancel_runs=2,
    store_turns=4,
    store_pairs=2,
    load_turns=4,
    load_runs=2,
    edit_bytes=20_000,
    edit_runs=2,
    compaction_messages=50,
    compaction_runs=2,
    diagnostics_runs=2,
    permission_runs=2,
    command_runs=2,
    command_bytes=100_000,
    revert_files=5,
    revert_bytes=5_000,
    revert_runs=2,
    journal_runs=2,
    scan_files=50,
    scan_runs=2,
    mcp_runs=2,
    search_files=60,
    search_runs=2,
    memory_sessions=2,
    memory_turns=3,
    memory_runs=1,
)
