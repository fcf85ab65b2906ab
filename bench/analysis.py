"""Why a missed target is missed, and what would fix it: read off the profiles.

Rendered by :mod:`bench.report` under a measure only when that measure missed a
target in the run being reported. Keep each entry in step with the code: when a
fix lands, the entry goes (or says what is left).
"""

from __future__ import annotations

__all__ = ["ANALYSIS"]

ANALYSIS: dict[str, str] = {
    "startup": """
Both servers spend ~90% of the time importing pygls and lsprotocol (`lsprotocol.types`
alone is ~250 ms here) and building lsprotocol's converter. Before it answers,
nexus-lsp adds ~15 ms of its own imports (`argparse`, `nexus_lsp.cli`, `errors`,
`server.app`, `converter`, `logs`, `rpc_errors`: see the profile) and ~6 ms building
its command-line parser with the `ask` and `demo` sub-commands: ~5% of a ~400 ms
start, so the ratio sits at the 1.10× line and the machine's noise (per-pair ratios
spread over ±0.1) decides the side. Fixed on the way: `nexus_lsp.core` (~8 ms) is no
longer imported before `initialize`, and a full garbage collection (15–30 ms, walking
every imported module's objects) no longer falls just before the answer: the server
`gc.freeze()`s what start-up imported. What would fix the rest: build only the serving
options when `nexus-lsp` is started without a sub-command (`cli.py`), and defer
`rpc_errors`/`logs` until after `initialize`.
""",
    "rss": """
Since the runtime is built on first use, `initialized` imports nothing heavy: the
idle server is pygls plus nexus-lsp's small LSP door (see the import profile). A
miss here is the machine's noise on a ratio that sits near 1.0; the memory measure
shows what the first turn adds.
""",
    "turn": """
Fixed in this round: SSE is parsed by the provider itself, one synchronous pass per
network read (`providers/sse.py`, `reads.py`: HTTP chunks already buffered are
joined without an await each), the session gets one merged delta per read (~70
`content` updates instead of ~20k deltas), `raw.jsonl` gets one line per read, and
plain text chunks of a learned shape skip `json.loads` and the re-serialisation for
`raw.jsonl` (`text_template.py`); until the first delta is out, a read's events are
decoded one at a time. Without `raw` (B′) nexus-lsp now keeps up with the bare
client. With `raw`, each chunk still passes the key guard (`storage/raw_chunks.py`:
a regular expression per chunk, and a walk of the chunks that may start a key) and
the line is redacted: that is B − B′. Both sides read the same stream at once, so
on this shared 2-core machine the ratio moves with the load (the model server, the
bare client and nexus-lsp compete for the cores). What would fix the rest: a guard
that checks one read's text per field instead of each chunk, and writing the raw
lines from a worker thread.

First output: not explained yet. In-process, the provider's first text delta comes
with the first body byte (the first read's events are decoded one at a time until
one is shown), and the pre-change code measured +4.7 ms (median) in a run on this
machine the same hour, against +9 to +41 ms with this round's code: the gap is
between `send` and the request (the prompt's commit, the store's queued transcript
writes) or between the delta and its notification. What would fix it: time each step
of a turn's first 50 ms in the server (the bench's profile covers whole turns only).
""",
    "store": """
The flushes are cheap now: one round trip to aiosqlite's thread each (the whole
transaction runs there at once: `Database.transaction_in_thread`) and one write per
transcript file (entries are queued and written at flushes and turn ends); compare
B with B′, which flushes only when the store decides. What is left is recording:
the history feeds 334k events through the sink (292k of them streamed deltas, 146
per turn, as the old streaming path emitted them; a live session now sends one per
network read), each event row is redacted and JSON-encoded, and the transcripts are
rendered (see the profile). The baseline's cost is the disk's commit (fsync with
`synchronous=FULL`): it swings by 2× and more between runs on this shared disk
(~0.5 ms per commit in this run), and the ratio with it. What would fix the rest:
encode event rows and render transcript entries at the flush, in the database
thread, instead of per event on the loop.
""",
    "load": """
About a third is reading and rebuilding the history in the server: fetching ~6.5 MB
of rows in aiosqlite's thread, building 10k frozen `Message` and `StoredMessage`
dataclasses (`message_from_row`, see the profile), the repair check, and creating the
live session (its context estimates every message's tokens). Another third is the
6.5 MB answer itself: `json.dumps` in the server, the pipe, and parsing in the
client. Fixed on the way: each load created an httpx client loading the CA bundle
(~20 ms), cattrs copied every value of the result before `json.dumps` (~17 ms), and
the full garbage collection the 10k new objects trigger walked every loaded module's
objects too (now frozen with `gc.freeze()`).
What would fix the rest: build `Message` objects without the frozen dataclass
`__init__` (or keep rows as tuples until a turn needs them), and page the history
(`nexus/session/load` returning the last N messages with a cursor) so an editor does
not wait for 10k messages it will not show.
""",
    "command": """
The target compares a reader of the pipe with a command that writes to /dev/null: the
kernel copies the 10 MB into the pipe and out of it, and the reader must be woken for
it, none of which /dev/null does. The A′ row is a bare asyncio subprocess that only
reads the pipe: it alone measures 1.5–1.9× (medians of three runs; 0.9–2.5× per pair
on this shared 2-core machine), so 1.5× against /dev/null leaves a reader of the pipe
nothing for its own work; B/A′ measured 2.5–3.1×. Reading is not
where nexus-lsp spends: in-process, `run_command` takes ~7 ms of CPU for the 10 MB
(20 runs, the same with or without decoding the middle of the output, so it is
decoded). The rest is the first `commands.maxStoredOutputBytes` (1 MiB) that streams
to the editor and into the store, ~30 ms of CPU per MiB, measured piece by piece
in-process: the wire's JSON ~5 ms, the store's redaction of each chunk's JSON line ~13
ms (`storage/redact.py` `json_line`: a lowered copy and a dozen substring scans per
line), its SQLite insert ~10 ms (the writer thread), the client's parse ~3 ms; with the
stream cap at 64 KiB B/A drops to ~2.2×. Changed here: the server's
stdout pipe is grown to 1 MiB (`lsp/serve.py`; the synchronous writes no longer stop
the loop every 64 KiB: a 256 KiB write waited up to ~10 ms, now ~0.1–1 ms); the output
is coalesced where it is read (`skills/stream.py`: at once after a quiet spell, then one
report per 4 ms or 64 KiB; a quiet machine read 10 MB in up to 256 reports per run, now
≤ 17), so fewer events, stored rows and notifications; a read across the bound is shown
up to it. B/A did not move measurably (noise ±1× between runs). What would fix the
rest: a cheaper redaction for streamed output (one pass, or checked once per tool call
rather than per chunk), storing a command's output once at its end instead of per chunk,
or a live-output bound for the editor smaller than what the store keeps; and a target
measured against A′ (a reader of the same pipe), which is what a server can be held to.
""",
    "search": """
`search_text` runs `rg` (started from a worker thread, its pipes read by the loop)
and is as fast as `rg` itself. The loop-lag check is absolute (10 ms); row C, the
same ticker with nothing running, shows that on this shared 2-core machine the
scheduler alone delays a 1 ms sleep by up to ~10 ms, so a run of B that crosses
the line by a few ms says more about the machine than about the search. What is
left on the loop: parsing `rg`'s JSON lines (a few hundred for this tree).
""",
    "memory": """
Idle is now tiny (the runtime is built on first use), so the ratio compares 20
loaded 1,000-message sessions plus the whole runtime (pydantic settings, httpx,
sqlite, the store; see "after the first turn") against pygls alone. Each loaded
session keeps its history in memory (~1.1 MB of Python objects for ~0.65 MB of
text), and loading them made ~20 large JSON answers whose freed memory the
allocator keeps. What would fix it: keep a loaded session's history as the stored
rows (or on disk) until a turn needs it, page `nexus/session/load`, and release a
session that has been idle for a while.
""",
    "cancel": """
Nothing in this round touches the cancel path beyond the provider's read (a cancel
still interrupts the read's await at once: see the model server's side, a few ms).
The -32800 answer's tail comes from the machine: this run had a load average of 4–5
on 2 cores, and the same path measured p95 3.0 ms on a quiet machine (the previous
report). What would fix it: a quieter machine for the run; nothing in the code is on
that path for more than a few hundred µs.
""",
    "edit": """
The edit itself is the same as before this round (one exact-range TextDocumentEdit
of ~316 bytes); the time is spread over both processes (applyEdit sent, the bench
client applying 5 MB, the answer, the store recording the tool's end) and doubled
with the machine's load in this run (load average 4–5 on 2 cores; the previous
report measured 26 ms). What would fix it: a quieter machine for the run.
""",
}
