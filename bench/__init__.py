"""Benchmarks of nexus-lsp, each side by side with a baseline in the same run.

``python -m bench`` (``make bench``) runs every measure and writes
``docs/benchmarks.md``; ``python -m bench --help`` lists the options (sizes, a
subset of measures, profiles). The measures:

========== ==================================================== =====================
key        what                                                 compared with
========== ==================================================== =====================
startup    spawn → ``initialize`` result                        a bare pygls server
rss        idle RSS after ``initialize``                        a bare pygls server
turn       a 20k-token streamed turn, end to end                a bare httpx client
cancel     ``$/cancelRequest`` → -32800 mid-stream               (targets only)
store      10k messages + 50k events into ``.nexus``            commit-per-insert sqlite3
load       ``nexus/session/load`` of a 10k-message session       (target only)
edit       ``edit_file`` on an open 5 MB document                (target only)
========== ==================================================== =====================

Machines here are shared and noisy: results are medians with spread and ratios of
interleaved runs, never single times (see :mod:`bench.stats`).
"""
