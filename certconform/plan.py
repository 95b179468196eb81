"""What a run will do, before it does it: `certconform plan --mdm SPEC` (docs/slow-products.md).

What this module knows: how to sum up a run's cells (conformance/cells.py: their planned events,
from dry runs against the reference model and the generated stateful sequences) into what a
person deciding to start it needs: cells, events, destructive actions, steps that need a person,
requests, and the expected wall time from the declared windows and the pool; how that wall time
is estimated (each event waits what its windows imply, conformance/cells.py `expected_waits`: a
required change until the driver's polling sees it at its declared typical latency, or at its
window where none is declared, a "stays" its whole window; plus the declared `observation_s` and
the suite's own work per event;
the cells are laid out in order on `limit` slots within the device pool, as the scheduler admits
them; a request budget bounds it from below); and the pytest plugin that prints it
(`certconform plan` runs pytest's collection with `--certconform-plan`, so the plan covers
exactly the tests a run with the same arguments would run). It touches the implementation only
through capabilities() (and whatever its adapter's constructor does to connect): never reset,
apply or observe.
What it does not know: how the run goes; results.json puts the plan beside what happened.
"""
from __future__ import annotations

import heapq
from collections import Counter

from certconform.conformance.cells import DESTRUCTIVE, expected_waits
from certconform.steps.driver import poll_step

EVENT_OVERHEAD_S = 0.0015  # seconds of the suite's own CPU per event (act, journal, judge; in process, measured)
CALLS_PER_EVENT = 2  # an apply and the observation after it


def polls_for(wait: float) -> int:
    """Observations the driver asks for while waiting `wait` seconds (its back-off: a tenth of the
    time waited so far, at least wait/100, at most wait/10), at most."""
    if wait <= 0:
        return 0
    t, n = 0.0, 0
    while t < wait:
        t += poll_step(t, wait)
        n += 1
    return n


def plan_of(specs, caps, limit: int, unattended: bool = False) -> dict:
    """The plan of a run made of `specs` (CellSpec) on `limit` slots."""
    events_by_type: Counter = Counter()
    destructive: Counter = Counter()
    people: Counter = Counter()
    skipped: list = []
    durations, bounded = [], []  # (spec, seconds): at the typical latencies; every change at its window
    requests = 0
    kinds = Counter()
    for spec in specs:
        kinds[spec.id.split(":", 1)[0]] += 1
        events = spec.planned()
        person = [(e["type"], i) for e, i in ((e, caps.needs_person.get(e.get("type"))) for e in events
                                              if isinstance(e, dict)) if i]
        if unattended and person:
            skipped.append(spec.id)
            continue
        if not spec.waits:
            spec.waits = expected_waits(events, spec.caps)
        for e in events:
            if isinstance(e, dict):
                events_by_type[e.get("type")] += 1
                if e.get("type") in DESTRUCTIVE:
                    destructive[e["type"]] += 1
        for etype, instruction in person:
            people[(etype, instruction)] += 1
        requests += len(events) * CALLS_PER_EVENT + sum(polls_for(w.at_most) for w in spec.waits)
        per_event = EVENT_OVERHEAD_S + caps.observation_s
        durations.append((spec, spec.expected_s() + per_event * len(events)))
        bounded.append((spec, sum(w.at_most for w in spec.waits) + per_event * len(events)))
    makespan, longest = _layout(durations, caps, limit)
    # The suite's own work runs in one process (one interpreter lock): while cells wait it
    # overlaps their waits, but it also delays them; half of it added to the layout matched
    # the realistic mock's runs (benchmarks/README.md) within a few per cent.
    cpu = EVENT_OVERHEAD_S * sum(events_by_type.values())
    floor = requests / caps.max_requests_per_s if caps.max_requests_per_s else 0.0

    def wall_of(span: float) -> float:
        return max(span + cpu / 2, cpu, floor)
    return {
        "cells": len(specs), "scenarios": kinds.get("f", 0), "sequences": kinds.get("s", 0),
        "in_flight_at_most": limit, "not_run_unattended": len(skipped),
        "events": sum(events_by_type.values()), "events_by_type": dict(sorted(events_by_type.items())),
        "destructive_actions": dict(destructive),
        "steps_needing_a_person": [{"event": e, "instruction": i, "count": n} for (e, i), n in sorted(people.items())],
        "requests_at_most": requests,
        "waits_seconds": round(sum(d for _, d in durations), 2),
        "typical_latencies": bool(caps.typical), "observation_seconds": caps.observation_s,
        "longest_cell_seconds": round(longest, 2),
        "expected_wall_seconds": round(wall_of(makespan), 2),
        # every required change at its whole window (what a product that uses its bounds takes)
        "wall_seconds_at_the_windows": round(wall_of(_layout(bounded, caps, limit)[0]), 2),
    }


def _layout(durations, caps, limit: int) -> tuple[float, float]:
    """(makespan, longest cell) of the cells in order on `limit` slots within the device pool."""
    now, running, free = 0.0, [], {}  # running: heap of (end, seq, needs)
    seq = 0
    longest = 0.0
    for spec, seconds in durations:
        longest = max(longest, seconds)
        needs = spec.needs() if caps.devices is not None else {}
        while len(running) >= limit or not _fits(needs, free, caps):
            if not running:
                break
            end, _, done = heapq.heappop(running)
            now = max(now, end)
            for p, n in done.items():
                free[p] = free.get(p, 0) - n
        for p, n in needs.items():
            free[p] = free.get(p, 0) + n
        seq += 1
        heapq.heappush(running, (now + seconds, seq, needs))
    makespan = max([now] + [end for end, _, _ in running])
    return makespan, longest


def _fits(needs: dict, used: dict, caps) -> bool:
    return all(caps.pool(p) is None or used.get(p, 0) + n <= caps.pool(p) for p, n in needs.items())


def format_plan(plan: dict, spec: str, caps) -> str:
    """The plan as a person reads it (what `certconform plan` prints)."""
    lines = [f"certconform plan for --mdm {spec}: {caps.describe()}"]
    lines.append(f"  cells: {plan['cells']} ({plan['scenarios']} scenarios, {plan['sequences']} stateful sequences), "
                 f"at most {plan['in_flight_at_most']} in flight"
                 + (f"; {plan['not_run_unattended']} not run (--unattended)" if plan["not_run_unattended"] else ""))
    by_type = ", ".join(f"{t} {n}" for t, n in plan["events_by_type"].items())
    lines.append(f"  events: {plan['events']} ({by_type})")
    destructive = ", ".join(f"{t} {n}" for t, n in plan["destructive_actions"].items()) or "none"
    lines.append(f"  destructive actions: {destructive}")
    people = "; ".join(f"{p['count']} x {p['event']}: {p['instruction']}" for p in plan["steps_needing_a_person"])
    lines.append(f"  steps that need a person: {people or 'none'}")
    budget = f" (budget {caps.max_requests_per_s:g}/s)" if caps.max_requests_per_s else ""
    lines.append(f"  requests: at most {plan['requests_at_most']}{budget}")
    basis = "the declared typical latencies" if plan["typical_latencies"] else "every change at its window"
    lines.append(f"  expected wall time: {_duration(plan['expected_wall_seconds'])} "
                 f"(waits {_duration(plan['waits_seconds'])} in all, the longest cell {_duration(plan['longest_cell_seconds'])}; "
                 f"{basis})")
    if plan["typical_latencies"]:
        lines.append(f"  at most, every required change at its whole window: "
                     f"{_duration(plan['wall_seconds_at_the_windows'])}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# ----------------------------------------------------------------------------- the pytest side
def print_plan(session) -> dict:
    """Called by certconform/plugin.py at collection's end under --certconform-plan."""
    from certconform.conformance.cellrun import CellRun
    from certconform.plugin import ADAPTER_KEY, capabilities_of, cells_limit

    config = session.config
    caps = capabilities_of(config)
    limit = cells_limit(config, caps)
    run = CellRun(config, config.stash[ADAPTER_KEY], caps, limit)
    specs = run.build_features(session.items) + run.build_sequences(session.items)
    plan = plan_of(specs, caps, limit, bool(config.getoption("unattended")))
    text = format_plan(plan, config.getoption("mdm"), caps)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(text)
    else:
        print(text)
    return plan
