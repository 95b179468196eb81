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
    sent: list[dict] = []
    try:
        driver.reset()
        for ev, bad in zip(events, intended_bad):
            if not bad and expected_outcome(driver.world, ev, driver.last_inventory or [])[0] == "invalid":
                continue  # its names or its certificate went with a dropped event
            sent.append(ev)
            result = driver.apply(ev)
            signature = judge(driver, ev, result, driver.violations[-1])
            if signature is not None:
                return Replay(sent, signature)
    except Exception:  # noqa: BLE001 - a crash while replaying is not the failure we are after
        return Replay(sent, None)
    return Replay(sent, None)


def minimize(adapter, events: list[dict], intended_bad: list[bool], judge: Judge,
             max_replays: int = 300, driver_options: dict | None = None) -> list[dict]:
    """A sub-sequence of `events` that fails with the same signature as `events`, as short as
    the replay budget allows; `events` itself when it does not fail on replay (flaky)."""
    first = replay(adapter, events, intended_bad, judge, driver_options)
    if first.signature is None:
        return list(events)
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
    changed = True
    while changed and budget[0] > 0:
        changed = False
        for i in range(len(current) - 1, -1, -1):
            if i >= len(current):
                continue
            shorter = fails(current[:i] + current[i + 1:])
            if shorter is not None:
                current, changed = shorter, True
    return current
