"""Cells: every feature scenario and every stateful sequence as an independent unit of work.

What this module knows:
  - `CellSpec`: one cell's id (what the journal calls it), its test, how it acts on a live
    driver (`act`), the capabilities its driver uses, its planned events, the pool devices it
    binds, the events that need a person, and how long it is expected to take.
  - feature cells: a scenario's steps, found through pytest-bdd's own registries (the rendered
    scenario of a collected item; the step definitions of steps/), are run outside pytest by
    calling the step functions with the cell's driver and a stand-in `request` (its node's name,
    markers and a scratch user_properties). Every step runs, Then steps included, so the
    journal holds every call the test's replay will make; a step that raises ends the cell (the
    test raises the same at the same step). A feature's events are known before it runs from
    a dry run of the same steps against the reference model (model/reference.py), for the pool,
    `--unattended` and the plan.
  - sequence cells: a sequence generated beforehand (conformance/sequences.py), applied event by
    event.
  - `expected_waits`: per event, the wait its windows imply (a required change: its typical
    latency as the driver's polling sees it, at most its window; a "stays": the longest window
    that could carry a change), from a replay of the events against the reference model; the
    plan (certconform/plan.py) uses it (the scheduler works it out for results.json's plan while
    cells wait; it does not order the cells by it).
What it does not know: scheduling (conformance/scheduler.py) or judging (the tests).
"""
from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field, replace
from typing import Callable, NamedTuple

from certconform import mdm
from certconform.mdm.capabilities import Capabilities
from certconform.model.judge import Judged
from certconform.model.oracle import StepResult, expectation, validate_inventory, world_follows
from certconform.model.settle import settle_state
from certconform.model.world import DEVICE_ACTIONS, World
from certconform.steps.driver import poll_step

CELL_POOL = 4  # devices of one platform a generated sequence may bind (the realistic mock's old pool)
DESTRUCTIVE = frozenset({"wipe", "retire"})  # remote actions that destroy a device's data


@dataclass
class CellSpec:
    id: str  # "f:<nodeid>" / "s:<shard>:<n>" / "m:<n>" (a minimisation replay)
    index: int  # numbers the name prefix (conformance/product.py cell_prefix)
    test: str  # the nodeid of the test that judges it
    act: Callable  # act(driver): the cell's steps on a live driver
    caps: Capabilities  # its driver's capabilities
    events: list | None = None  # planned events (None until `prepare` ran)
    prepare: Callable | None = None  # () -> planned events (a dry run)
    skip: str | None = None  # not run: the reason (its test reports it not-supported)
    waits: list = field(default_factory=list)  # per planned event, its Wait (expected_waits)
    cleanup: bool = True  # release its pool devices when it ends

    def planned(self) -> list:
        if self.events is None:
            self.events = self.prepare() if self.prepare is not None else []
        return self.events

    def needs(self) -> dict[str, int]:
        """Pool devices per platform it binds (never more than the pool: past it the driver skips)."""
        out: dict[str, int] = {}
        for ev in self.planned():
            if isinstance(ev, dict) and ev.get("type") == "enroll" and isinstance(ev.get("platform"), str):
                out[ev["platform"]] = out.get(ev["platform"], 0) + 1
        if self.caps.devices is not None:
            out = {p: min(n, self.caps.pool(p)) for p, n in out.items()}
        return {p: n for p, n in out.items() if n}

    def person_events(self) -> list[tuple[str, str]]:
        return [(ev["type"], self.caps.needs_person[ev["type"]]) for ev in self.planned()
                if isinstance(ev, dict) and ev.get("type") in self.caps.needs_person]

    def expected_s(self) -> float:
        return sum(w.expected for w in self.waits)


# ----------------------------------------------------------------------------- the act-phase judge
class ExpectOnly:
    """The judge of a cell's live driver: only what the driver needs to go on (the expectation,
    which decides whether the world follows, and whether the observation was well formed). The
    cell's test judges the journaled answers with the full judge."""

    def reset(self) -> None:
        pass

    def __call__(self, world, event, outcome, before, after, detail="", seen_serials=frozenset()) -> Judged:
        return Judged(StepResult(event, outcome), [], expectation(world, event, before), [],
                      not validate_inventory(after))


# ----------------------------------------------------------------------------- the reference, as seen
class SeenReference:
    """The reference model as an implementation that observes only `observes` would report it;
    it records the events applied to it (a dry run's planned events)."""

    def __init__(self, observes):
        from certconform.model.reference import ReferenceMDM

        self.inner, self.observes, self.applied = ReferenceMDM(), frozenset(observes), []

    def reset(self) -> None:
        self.inner.reset()
        self.applied = []

    def apply(self, event) -> None:
        self.applied.append(copy.deepcopy(event))
        self.inner.apply(event)

    def observe(self) -> list[dict]:
        return [r for r in self.inner.observe() if r["kind"] in self.observes]


def synchronous(caps: Capabilities) -> Capabilities:
    """`caps` without latencies (what a dry run against the reference uses)."""
    return replace(caps, settle_s=0.0, windows={})


# ----------------------------------------------------------------------------- feature scenarios
class _ActNode:
    """What the step functions read of `request.node`: its name, markers, user properties."""

    def __init__(self, item):
        self.name, self._item, self.user_properties = item.name, item, []

    def iter_markers(self, name=None):
        return self._item.iter_markers(name)

    def get_closest_marker(self, name):
        return self._item.get_closest_marker(name)


class _ActRequest:
    def __init__(self, item):
        self.node = _ActNode(item)
        self.config = item.config


_TEMPLATES: dict[str, object] = {}  # "<feature file>: <scenario name>" -> pytest-bdd ScenarioTemplate


def scenario_of(item):
    """The rendered pytest-bdd scenario of a collected scenario item, or None. pytest-bdd gives a
    scenario's test function the docstring "<feature file>: <scenario name>"; the features are
    parsed again with its public get_features (what `scenarios()` read) and the item's example
    rendered in."""
    doc = getattr(getattr(item, "function", None), "__doc__", None)
    if not doc:
        return None
    if not _TEMPLATES:
        from pytest_bdd.feature import get_features

        from certconform import features_dir

        for feature in get_features([str(features_dir())]):
            for template in feature.scenarios.values():
                _TEMPLATES[f"{feature.filename}: {template.name}"] = template
    template = _TEMPLATES.get(doc)
    if template is None:
        return None
    params = getattr(getattr(item, "callspec", None), "params", {}) or {}
    return template.render(params.get("_pytest_bdd_example") or {})


def run_steps(scenario, item, driver) -> None:
    """Every step of `scenario`, through the step definitions of steps/ (steps/registry.py), on `driver`."""
    from certconform.steps.registry import definition

    request = _ActRequest(item)
    fixtures = {"driver": driver, "request": request, "pytestconfig": item.config}
    for step in scenario.steps:
        found = definition(step.type, step.name)
        if found is None:
            raise LookupError(f"no step definition for {step.type} {step.name!r}")
        parser, func = found
        params = inspect.signature(func).parameters
        args = parser.parse_arguments(step.name) or {}
        kwargs = {k: v for k, v in args.items() if k in params}
        for name in params:
            if name not in kwargs:
                kwargs[name] = fixtures[name]
        func(**kwargs)


def feature_cell(item, index: int, caps: Capabilities, options: dict) -> CellSpec | None:
    """The cell of one collected scenario (None: not a scenario, or one skipped before any step)."""
    from certconform.steps.driver import Driver
    from certconform.steps.scenario_steps import node_statement_ids

    scenario = scenario_of(item)
    ids = node_statement_ids(item)
    if scenario is None or not ids:
        return None
    from certconform.model.behaviour import default as behaviour

    b = behaviour()
    if any(sid in b.by_id and b.by_id[sid].status == "not-validated" for sid in ids):
        return None  # skipped before its first step (certconform/plugin.py pytest_bdd_before_scenario)

    def act(driver):
        run_steps(scenario, item, driver)

    def prepare():
        reference = SeenReference(caps.observes)
        d = Driver(reference, caps=synchronous(caps), unattended=options.get("unattended", False))
        d.reset()
        try:
            run_steps(scenario, item, d)
        except BaseException:  # noqa: BLE001 - a skip or a failing step: the events so far are the plan
            pass
        return reference.applied

    return CellSpec(f"f:{item.nodeid}", index, item.nodeid, act, caps, prepare=prepare)


def sequence_cell(cell_id: str, index: int, test: str, events: list, caps: Capabilities) -> CellSpec:
    def act(driver):
        for ev in events:
            if driver.unsupported(ev) is None:
                driver.apply(ev)

    return CellSpec(cell_id, index, test, act, caps, events=list(events))


# ----------------------------------------------------------------------------- expected waits
class Wait(NamedTuple):
    """What one event is planned to wait: `expected` seconds (a required change when it typically
    lands, as the driver's polling sees it; a "stays" its whole window) and `at_most` seconds (every
    required change at its whole window)."""
    expected: float
    at_most: float


def expected_waits(events: list, caps: Capabilities) -> list[Wait]:
    """Per event, the wait its windows imply: a required change (a revocation, a removal, a
    delivery) is awaited until the driver's polling sees it land (at its typical latency,
    `Capabilities.typical_latency`; at most its window), a "stays" until the longest window that
    could carry a change; an event that reaches no installed certificate and delivers nothing
    waits nothing. Worked out on the reference model (what a conforming product does)."""
    if not caps.latent:
        return [Wait(0.0, 0.0)] * len(events)
    reference = SeenReference(caps.observes)
    world = World(observes=caps.observes)
    out = []
    for ev in events:
        before = reference.observe()
        try:
            reference.apply(copy.deepcopy(ev))
            outcome = "applied"
        except mdm.EventRejected:
            outcome = "rejected"
        except (ValueError, KeyError, TypeError):
            outcome = "invalid"
        after = reference.observe()
        expect = expectation(world, ev, before)
        wait = Wait(0.0, 0.0)
        if outcome == "applied" and expect.preferred != "invalid":
            state = settle_state(world, ev, before, after)
            etype = ev["type"]
            if state.requires_change:
                aspects = _changed_aspects(before, after)
                if aspects:
                    bound = max(caps.required_window(etype, a)[0] for a in aspects)
                    wait = Wait(seen_at(caps.typical_latency(etype, aspects), bound), bound)
            if state.reach and (state.may_change or not state.requires_change):
                quiet = caps.forbidden_window(etype)[0]
                wait = Wait(max(wait.expected, quiet), max(wait.at_most, quiet))
        out.append(wait)
        if world_follows(expect, outcome):
            world.apply(ev)
    return out


def seen_at(lands: float, window: float) -> float:
    """When the driver's polling (steps/driver.py `poll_step`) first observes a change
    that lands `lands` seconds after its event, within a `window`."""
    if lands <= 0 or window <= 0:
        return 0.0
    t = 0.0
    while t < lands:
        t += poll_step(t, window)
    return min(t, window)


def _changed_aspects(before: list[dict], after: list[dict]) -> set[str]:
    old = {r["serial"]: r for r in before}
    aspects = set()
    for r in after:
        o = old.get(r["serial"])
        if o is None:
            aspects.add("delivery")
            continue
        if r["revoked"] and not o["revoked"]:
            aspects.add("revocation")
        if o["installed"] and not r["installed"]:
            aspects.add("removal")
    return aspects


__all__ = ["CellSpec", "ExpectOnly", "SeenReference", "Wait", "feature_cell", "sequence_cell", "expected_waits", "seen_at",
           "run_steps", "scenario_of", "synchronous", "CELL_POOL", "DESTRUCTIVE", "DEVICE_ACTIONS"]
