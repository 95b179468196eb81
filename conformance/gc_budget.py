"""Fewer garbage-collector passes while the state machine runs.

What this module knows: CPython's generational collector. The stateful exploration allocates
millions of small, short-lived objects (event dicts, inventory records, Hypothesis's choice
nodes); with the default thresholds (700, 10, 10) the collector ran tens of thousands of times
per run, and each full pass walked every object the interpreter had imported. Inside
`fewer_gc_passes()` the objects that exist on entry (modules, the behaviour table, Hypothesis's
internals) are frozen (`gc.freeze`: never walked again) and a young-generation pass waits for
GEN0_THRESHOLD new objects instead of 700; on exit both are put back as they were. Reference
counting frees almost everything anyway: only cycles wait for a pass, and they are still found.
What it does not know: anything about the test (it changes no result, only when memory of
unreachable cycles is reclaimed). Measured: ~0.35 s less CPU for the `ci` stateful run
(benchmarks/README.md).
"""
from __future__ import annotations

import gc
from contextlib import contextmanager

GEN0_THRESHOLD = 10_000


@contextmanager
def fewer_gc_passes():
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(before[0], GEN0_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
