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
The heavy parts are imported when the client sends `initialized`: the handlers build
the settings (pydantic models: ~8 MiB with pydantic-core), the skills, the providers
(httpx), the store (sqlite3, aiosqlite) and the session manager, ~18 MiB over bare
pygls (see the import profile). Trimming modules cannot reach 1.2× (~47 MiB): the
settings models alone take the server past it. What would fix it: build the handlers
on the first `nexus/*` request or command instead of in `initialized` (the store's
`.nexus` folder and the settings pull would then happen at first use, and that first
request pays ~0.3 s of imports). It is not made here because it changes what users
and tests see: `.nexus` would no longer exist right after `initialized`, and invalid
settings would be reported at the first request instead of at start-up; that is the
server's owner's call.
""",
    "turn": """
Not a single hot spot: the answer is ~20k SSE events and each costs nexus-lsp more
than the ~10 µs per event the scripted server takes to produce it. Per event, B′
(no raw log) pays httpx's chunked-body reader, httpx-sse's chain of nested async
generators (about five `__anext__` hops per event), `json.loads`, the decoder, and
the session's events to two sinks (store and LSP reporter); B adds ~18 µs per event
for `raw.jsonl` (a JSON line and an OS write+flush per chunk). Fixed on the way:
a `race()` per event (two tasks each) in the provider took 3.7 s per turn, redaction
walked every chunk's JSON, and a first delta waited a whole coalescing window. What
would fix the rest: parse every SSE event of one network read in one synchronous pass
(an SSE line splitter over `aiter_bytes`) and hand the session one merged delta per
read, so the per-event awaits disappear; write `raw.jsonl` chunk lines buffered and
flush them with the store (every second and at turn end) instead of per line.

First output: nexus-lsp's own share is small (a one-chunk answer shows its first
update ~2.5 ms after the bare client's first byte); the spread of the per-pair
difference comes from the scripted server, which computes all 20k chunks of an
answer before its first byte and takes 15–30 ms to do so, differently for each
request, so the difference of medians moves by a few ms from run to run.
""",
    "store": """
With one flush per turn (2,000 flushes) a large part of the store's time goes to the
flushes: each is five round trips to aiosqlite's thread (`BEGIN`, three
`executemany`, `COMMIT`, ~0.15 ms each here) for ~30 rows. The rest is recording:
every event and message also goes to `context.md`/`verbose.md`, with a write and a
flush to the OS per entry (~44k of them), and through redaction. Flushed when the
store decides (B′, in the notes) the same rows take much less time: WAL and batching
do their part, the per-turn commits are what B pays for. Fixed on the way: the
retention query walked up to 50k index entries on every flush (now only when a
session may be over retention) and redaction walked every value of every row. What
would fix the rest: run a flush as one call in the database thread (one round trip
instead of five), and append transcript entries in one write per flush rather than
one per event.
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
}
