"""Delta debugging over a failing event sequence: the shortest replay that still fails the same way.

What this module knows: how to replay a list of contract events against a FRESH adapter
(adapter.reset(), then every event through steps.driver.Driver, which judges each one), and how
to search for a shorter sub-sequence (ddmin, then one-event removals until nothing more can go)
that fails with the same signature. The caller says what "failing" means and what the signature
is (a `judge` callable), so a change in how events are judged needs no change here.

While replaying a candidate, an event that was well formed in the original run but has become
bad input (it names a user, group, device or profile whose creating event was dropped, or a
certificate that was never delivered) is dropped from the candidate instead of being sent:
such an event only makes the counterexample longer. Events that were bad input in the original
run (the state machine sends some on purpose) are kept and sent as they are.

What it does not know: what the document requires, or which implementation is plugged in.
Deterministic: the same events, the same judge and an implementation that answers the same
events the same way give the same result (the search order is fixed; the budget counts
replays, not seconds).

Against a product that takes time (cells, conformance/scheduler.py) a replay costs its windows,
so `minimize_batched` tries every candidate of a round at once (each a cell of its own: the
caller's `run_batch`) and stops at a deadline instead of a replay count; it takes the same
candidate a sequential round would (the first that fails the same way) and says whether the
result is 1-minimal (its last pass, over every single event, found none it could drop) or the
deadline ran out first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable

from certconform.model.oracle import expected_outcome
from certconform.steps.driver import Driver

# judge(driver, event, result, violations) -> None (the event conformed) or a hashable signature
Judge = Callable[[Driver, dict, object, list], Hashable | None]


@dataclass
class Replay:
    events: list[dict]  # the events actually sent, up to and including the failing one
    signature: Hashable | None  # None: the sequence did not fail


def replay(adapter, events: list[dict], intended_bad: list[bool], judge: Judge,
           driver_options: dict | None = None) -> Replay:
    """Send `events` to a freshly reset adapter; stop at the first failing event.
    `driver_options`: the run's Driver settings (capabilities, settle polling)."""
    driver = Driver(adapter, **(driver_options or {}))
    try:
        driver.reset()
    except Exception:  # noqa: BLE001 - a crash while replaying is not the failure we are after
        return Replay([], None)
    return replay_on(driver, events, intended_bad, judge)


def replay_on(driver: Driver, events: list[dict], intended_bad: list[bool], judge: Judge | None) -> Replay:
    """`events` through `driver` (reset already); stop at the first failing event (`judge` None:
    judge nothing, send them all: what a cell acting a candidate does)."""
    sent: list[dict] = []
    try:
        for ev, bad in zip(events, intended_bad):
            if not bad and expected_outcome(driver.world, ev, driver.last_inventory or [])[0] == "invalid":
                continue  # its names or its certificate went with a dropped event
            sent.append(ev)
            result = driver.apply(ev)
            signature = judge(driver, ev, result, driver.violations[-1]) if judge is not None else None
            if signature is not None:
                return Replay(sent, signature)
    except Exception:  # noqa: BLE001 - a crash while replaying is not the failure we are after
        return Replay(sent, None)
    return Replay(sent, None)


def minimize(adapter, events: list[dict], intended_bad: list[bool], judge: Judge,
             max_replays: int = 300, driver_options: dict | None = None) -> list[dict]:
    """A sub-sequence of `events` that fails with the same signature as `events`, as short as
    the replay budget allows; `events` itself when it does not fail on replay (flaky)."""
    return minimize_report(adapter, events, intended_bad, judge, max_replays, driver_options)[0]


def minimize_report(adapter, events: list[dict], intended_bad: list[bool], judge: Judge,
                    max_replays: int = 300, driver_options: dict | None = None) -> tuple[list[dict], bool]:
    """(minimize's result, whether it is 1-minimal: the replay budget did not run out first)."""
    first = replay(adapter, events, intended_bad, judge, driver_options)
    if first.signature is None:
        return list(events), False
    target = first.signature
    flags = {id(ev): bad for ev, bad in zip(events, intended_bad)}
    current = first.events
    budget = [max_replays - 1]

    def fails(candidate: list[dict]) -> list[dict] | None:
        if budget[0] <= 0:
            return None
        budget[0] -= 1
        r = replay(adapter, candidate, [flags[id(ev)] for ev in candidate], judge, driver_options)
        return r.events if r.signature == target else None

    # ddmin: remove chunks, halving the chunk size when no chunk can go
    n = 2
    while len(current) >= 2 and budget[0] > 0:
        size = max(1, len(current) // n)
        chunks = [current[i:i + size] for i in range(0, len(current), size)]
        for i in range(len(chunks)):
            candidate = [ev for j, c in enumerate(chunks) if j != i for ev in c]
            shorter = fails(candidate)
            if shorter is not None:
                current, n = shorter, max(n - 1, 2)
                break
        else:
            if size == 1:
                break
            n = min(len(current), n * 2)
    # one event at a time, from the end, until a whole pass removes nothing
    changed, minimal = True, False
    while changed and budget[0] > 0:
        changed = False
        for i in range(len(current) - 1, -1, -1):
            if i >= len(current):
                continue
            if budget[0] <= 0:
                changed = True  # (the pass did not finish)
                break
            shorter = fails(current[:i] + current[i + 1:])
            if shorter is not None:
                current, changed = shorter, True
        minimal = not changed
    return current, minimal


def minimize_batched(events: list[dict], run_batch, deadline: float) -> tuple[list[dict], bool, int]:
    """(the shortest failing sub-sequence found, 1-minimal?, replays) with every candidate of a
    round replayed at once: `run_batch(candidates) -> [Replay]` (each candidate a list of events
    from `events`; the Replay's events are those actually sent). Stops starting rounds at
    `deadline` (time.monotonic())."""
    import time

    first = run_batch([list(events)])[0]
    replays = 1
    if first.signature is None:
        return list(events), False, replays
    target, current = first.signature, first.events

    def first_failing(candidates):
        nonlocal replays
        results = run_batch(candidates)
        replays += len(candidates)
        return next((r.events for r in results if r.signature == target), None)

    n = 2
    while len(current) >= 2 and time.monotonic() < deadline:
        size = max(1, len(current) // n)
        chunks = [current[i:i + size] for i in range(0, len(current), size)]
        shorter = first_failing([[ev for j, c in enumerate(chunks) if j != i for ev in c] for i in range(len(chunks))])
        if shorter is not None:
            current, n = shorter, max(n - 1, 2)
            continue
        if size == 1:
            break
        n = min(len(current), n * 2)
    while time.monotonic() < deadline:
        shorter = first_failing([current[:i] + current[i + 1:] for i in range(len(current) - 1, -1, -1)])
        if shorter is None:
            return current, True, replays
        current = shorter
    return current, False, replays
