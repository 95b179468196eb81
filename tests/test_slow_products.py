"""Products that take time (issue 20): declared windows, concurrent cells, the journal that
resumes, the plan, people, the request budget (docs/slow-products.md).

Small delays throughout (tests/adapters_slow.py: windows of 0.02 - 0.4 s); the long figures
(0.2 s and 30 s delays) are measured in benchmarks/slow_products.py, never asserted here.
"""
from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from certconform import mdm
from certconform.conformance.product import CellAdapter, RequestBudget, SharedProduct, cell_prefix, prefixed
from certconform.conformance.replay import CellRecord, Recorder, ReplayAdapter
from certconform.mdm import capabilities
from certconform.mdm.mock import MockMDM
from certconform.mdm.observe_since import apply_changes
from certconform.steps.driver import Driver

try:
    from tests.adapters_realistic import WINDOWS_SCEP_SETUP as SETUP
    from tests.adapters_slow import RandomWithin
    from tests.test_realistic_proof import _run
except ImportError:  # tests/ on sys.path (rootdir-relative import mode)
    from adapters_realistic import WINDOWS_SCEP_SETUP as SETUP
    from adapters_slow import RandomWithin
    from test_realistic_proof import _run

ROOT = Path(__file__).resolve().parent.parent


def run(*args, timeout: float = 600, env: dict | None = None, budget: str | None = "pass:8") -> subprocess.CompletedProcess:
    """`python -m certconform.cli ARGS` (or pytest when args[0] is "pytest") from the project root,
    with a small stateful budget (tests/mutants.py CERTCONFORM_CATALOGUE_BUDGET)."""
    return _run(list(args), budget, timeout, env)


def verdicts(report_dir: Path) -> dict[str, str]:
    results = json.loads((report_dir / "results.json").read_text())
    return {sid: s["verdict"] for sid, s in results["statements"].items()}


# ----------------------------------------------------------------------------- whole runs
def test_the_latency_keys_parse_and_bad_values_are_one_line_naming_the_key():
    caps = capabilities.parse({"settle_s": 7200, "windows": {"delivery": 14400, "revocation": 900},
                               "max_requests_per_s": 50, "needs_person": {"wipe": "re-enrol {device}"}, "cells": 8})
    assert caps.settle_s == 7200 and caps.window("delivery") == 14400 and caps.window("removal") == 7200
    assert caps.max_requests_per_s == 50 and caps.cells == 8 and caps.needs_person == {"wipe": "re-enrol {device}"}
    for bad, key in (({"windows": {"sync": 1}}, "'windows'"), ({"windows": {"removal": -1}}, "'windows' removal"),
                     ({"windows": []}, "'windows'"), ({"max_requests_per_s": 0}, "'max_requests_per_s'"),
                     ({"needs_person": {"check_in": "x"}}, "'needs_person'"),
                     ({"needs_person": {"wipe": "two\nlines"}}, "'needs_person'"), ({"cells": 0}, "'cells'"),
                     ({"settle_s": float("nan")}, "'settle_s'")):
        with pytest.raises(ValueError) as info:
            capabilities.parse(bad)
        assert key in str(info.value) and "\n" not in str(info.value)


def test_which_window_a_change_gets():
    caps = capabilities.parse({"windows": {"delivery": 10, "revocation": 60, "removal": 30, "propagation": 100,
                                           "device_action": 5}})
    assert caps.required_window("retire", "revocation") == (60, "revocation")  # max(aspect, cause)
    assert caps.required_window("remove_member", "removal") == (100, "propagation")
    assert caps.required_window("check_in", "delivery") == (10, "delivery")
    assert caps.forbidden_window("lose_license") == (100, "propagation")
    assert caps.forbidden_window("check_in") == (60, "revocation")  # revocation, removal, delivery
    assert capabilities.parse({"settle_s": 3}).forbidden_window("wipe") == (3, "revocation")  # settle_s for every class


def test_typical_latencies_parse_within_their_windows_and_bad_ones_are_one_line():
    caps = capabilities.parse({"windows": {"delivery": 100, "revocation": 60, "removal": 30, "propagation": 200,
                                           "device_action": 50},
                               "typical": {"delivery": 5, "removal": 3, "propagation": 20}, "observation_s": 0.5})
    assert caps.typical == {"delivery": 5, "removal": 3, "propagation": 20} and caps.observation_s == 0.5
    assert caps.typical_latency("check_in", {"delivery"}) == 5
    assert caps.typical_latency("remove_member", {"removal"}) == 23  # the cause reaches the product, then the device
    assert caps.typical_latency("retire", {"removal"}) == 50  # device_action has no typical figure: its window
    assert caps.typical_latency("retire", {"removal", "revocation"}) == 60  # revocation: its window, capped there
    assert capabilities.parse({"settle_s": 4}).typical_latency("wipe", {"removal"}) == 4  # none declared: the bound
    for bad, key in (({"windows": {"delivery": 10}, "typical": {"delivery": 11}}, "'typical' delivery"),
                     ({"typical": {"sync": 1}}, "'typical'"), ({"typical": {"removal": -1}}, "'typical' removal"),
                     ({"typical": [1]}, "'typical'"), ({"observation_s": "1"}, "'observation_s'")):
        with pytest.raises(ValueError) as info:
            capabilities.parse(bad)
        assert key in str(info.value) and "\n" not in str(info.value)


def test_the_plan_waits_a_required_change_until_polling_sees_its_typical_latency_and_a_stay_its_window():
    from certconform.conformance.cells import expected_waits, seen_at

    windows = {"delivery": 100.0, "revocation": 100.0, "removal": 100.0, "propagation": 0.0, "device_action": 0.0}
    bounds = capabilities.parse({"windows": windows})
    typical = capabilities.parse({"windows": windows, "typical": {"delivery": 7.0, "removal": 3.0, "revocation": 5.0}})
    device, profile = SETUP[2]["device"], SETUP[5]["profile"]
    assert expected_waits(SETUP, bounds)[-1] == (100.0, 100.0)
    assert expected_waits(SETUP, typical)[-1] == (7.0, 100.0)  # the check-in's delivery, seen when it lands
    retire = SETUP + [{"type": "retire", "device": device}]  # revoked (5 s) and removed (3 s): the slower
    assert expected_waits(retire, typical)[-1] == (5.0, 100.0)
    update = SETUP + [{"type": "update_profile", "profile": profile}]  # open: judged after its whole window
    assert expected_waits(update, typical)[-1] == (100.0, 100.0)
    # the driver polls from window/100: a change landing at 7 s is seen at the first poll after it
    assert seen_at(7.0, 100.0) == pytest.approx(7.0) and seen_at(7.5, 100.0) == pytest.approx(8.0)
    assert seen_at(300.0, 28800.0) == pytest.approx(576.0)  # Intune's 8 h window: polls every 4.8 min at first
    assert seen_at(500.0, 100.0) == 100.0 and seen_at(0.0, 100.0) == 0.0


def test_the_plan_counts_typical_latencies_and_the_declared_observation_cost():
    from certconform.conformance.cells import sequence_cell
    from certconform.plan import plan_of

    windows = {"delivery": 100.0, "revocation": 100.0, "removal": 100.0, "propagation": 0.0, "device_action": 0.0}
    retire = SETUP + [{"type": "retire", "device": SETUP[2]["device"]}]

    def plan(**extra):
        caps = capabilities.parse({"windows": windows, **extra})
        return plan_of([sequence_cell("s:x:1", 1, "t", retire, caps)], caps, 1)

    bounds, typical = plan(), plan(typical={"delivery": 7.0, "removal": 3.0, "revocation": 5.0})
    observed = plan(typical={"delivery": 7.0, "removal": 3.0, "revocation": 5.0}, observation_s=2.0)
    assert bounds["waits_seconds"] > 200 and typical["waits_seconds"] < 20  # check-in 7 s, retire 5 s
    assert typical["wall_seconds_at_the_windows"] == bounds["expected_wall_seconds"]  # the bound, beside it
    assert observed["waits_seconds"] == pytest.approx(typical["waits_seconds"] + 2.0 * len(retire))
    assert typical["requests_at_most"] == bounds["requests_at_most"]  # polls counted at the windows


# ----------------------------------------------------------------------------- whole runs
def test_a_check_in_s_deliveries_are_awaited_within_the_delivery_window():
    mock = MockMDM(realistic=True, revocation_delay=0.01, removal_delay=0.01, delivery_delay=0.15)
    d = Driver(mock, caps=capabilities.parse(mock.capabilities()))
    d.reset()
    for ev in SETUP:
        d.apply(ev)
    held = {r["profile"] for r in d.last_inventory if r["installed"]}
    assert held == {"r", "p"} and not d.failures()  # the check-in waited for them


# ----------------------------------------------------------------------------- whole runs
def test_cells_get_their_own_names_and_see_only_their_own_records():
    mock = MockMDM(realistic=True, revocation_delay=0.0, removal_delay=0.0)
    product = SharedProduct(mock, capabilities.parse(mock.capabilities()))
    a, b = CellAdapter(product, cell_prefix(1)), CellAdapter(product, cell_prefix(2, 2))
    for cell in (a, b):
        for ev in SETUP:
            cell.apply(ev)  # the same contract names in both cells
    assert {r["device"] for r in mock.observe()} == {"c1-d", "c2x2-d"}
    for cell in (a, b):
        records = cell.observe()
        assert {(r["device"], r["profile"]) for r in records} == {("d", "r"), ("d", "p")}
    with pytest.raises(ValueError) as info:
        a.apply({"type": "create_user", "user": "u"})
    assert "c1-" not in str(info.value)  # the product's message in the cell's names
    assert prefixed(" u1", "c1-") == " c1-u1" and prefixed("u1 ", "c1-") == "c1-u1 " and prefixed("", "c1-") == ""


def test_one_observation_serves_every_cell_waiting_for_it():
    mock = MockMDM(realistic=True)
    product = SharedProduct(mock, capabilities.parse(mock.capabilities()))
    cells = [CellAdapter(product, cell_prefix(i)) for i in range(1, 9)]
    later = time.monotonic() + 0.1
    threads = [threading.Thread(target=c.observe_after, args=(later,)) for c in cells]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert product.observations <= 2  # (one, unless a thread was descheduled past the first)


class _LosesChanges:
    """The realistic mock whose observe_since answers report new records but forget changes to
    records the client already holds (a lossy extension whose answers still add up)."""

    def __init__(self, broken: bool):
        self.mock, self.broken = MockMDM(realistic=True, revocation_delay=0.0, removal_delay=0.0), broken
        self._held = 0

    def __getattr__(self, name):
        return getattr(self.mock, name)

    def observe_since(self, cursor=None):
        answer = self.mock.observe_since(cursor)
        if self.broken and not answer["full"]:
            answer = dict(answer, changes=[c for c in answer["changes"] if c["index"] >= self._held])
        self._held = answer["count"]
        return answer


@pytest.mark.parametrize("broken", [True, False])
def test_the_hub_checks_observe_since_answers_and_reports_a_lossy_one_once(broken):
    product_of = _LosesChanges(broken)
    product = SharedProduct(product_of, capabilities.parse(product_of.capabilities()))
    cell = CellAdapter(product, cell_prefix(1))
    for ev in [*SETUP, {"type": "retire", "device": "d"}, {"type": "check_in", "device": "d"}]:
        cell.apply(ev)
        cell.observe()
    for _ in range(64):  # a copy that missed a change is caught at the next check (at most 64 answers on)
        seen = cell.observe()
    assert seen == [{k: (v[3:] if k in ("device", "user", "profile") and isinstance(v, str) else v)
                     for k, v in r.items()} for r in product_of.mock.observe()]
    if broken:  # the retire's changes were left out, and caught: the cell saw them all the same
        assert [f["extension"] for f in product.contract_findings] == ["observe_since"]
        assert "left out changes" in product.contract_findings[0]["message"]
    else:
        assert product.contract_findings == [] and product._since


def test_the_request_budget_spaces_every_call():
    budget = RequestBudget(100)
    start = time.monotonic()
    for _ in range(21):
        budget.take()
    assert time.monotonic() - start >= 0.2 - 0.001  # 20 gaps of 10 ms, whatever the load


class _Clock:
    """A monotonic clock that moves only when told (the mock's delays, frozen between two reads)."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    def monotonic_ns(self):
        return int(self.now * 1e9)


def test_the_mock_s_observe_since_rebuilds_what_observe_answers(monkeypatch):
    from certconform.mdm.mock import service

    clock = _Clock()
    monkeypatch.setattr(service, "time", clock)
    rng = random.Random(7)
    mock = RandomWithin(seed=3, window=0.01)
    copy, cursor = [], None
    for ev in SETUP:
        mock.apply(ev)
    devices = ["d"]
    for i in range(150):
        kind = rng.choice(["enroll", "check_in", "retire", "update", "remove"])
        try:
            if kind == "enroll":
                devices.append(f"e{i}")
                mock.apply({"type": "enroll", "device": devices[-1], "platform": rng.choice(["ios", "windows"]), "user": "u"})
                mock.apply({"type": "add_member", "group": "g", "member": devices[-1]})
            elif kind == "check_in":
                mock.apply({"type": "check_in", "device": rng.choice(devices)})
            elif kind == "retire":
                mock.apply({"type": "retire", "device": rng.choice(devices)})
            elif kind == "update":
                mock.apply({"type": "update_profile", "profile": "p"})
        except (ValueError, mdm.EventRejected):
            pass
        clock.now += rng.choice([0.0, 0.002, 0.004, 0.02])
        answer = mock.observe_since(cursor)
        copy, cursor = apply_changes(copy, answer)
        assert copy == mock.observe(), i


def test_a_replayed_cell_is_judged_as_the_live_driver_would_judge_it():
    """The driver over the journaled answers finds what a driver over the product finds."""
    from certconform.conformance.cells import ExpectOnly

    def events():
        return SETUP + [{"type": "retire", "device": "d"}, {"type": "check_in", "device": "d"},
                        {"type": "wipe", "device": ""}]

    live_mock = MockMDM(realistic=True, revocation_delay=0.01, removal_delay=0.01)
    caps = capabilities.parse(live_mock.capabilities())
    live = Driver(live_mock, caps=caps)
    live.reset()
    for ev in events():
        live.apply(ev)
    record = CellRecord("x", 1, "c1-")
    acting = Driver(MockMDM(realistic=True, revocation_delay=0.01, removal_delay=0.01), caps=caps,
                    recorder=Recorder(record), judge=ExpectOnly())
    acting.reset()
    for ev in events():
        acting.apply(ev)
    replaying = Driver(ReplayAdapter(record), caps=caps, replay=True)
    replaying.reset()
    for ev in events():
        replaying.apply(ev)
    strip = [re.sub(r"[0-9A-F]{16,}", "S", f.message) for res in live.results for f in res.findings]
    assert strip == [re.sub(r"[0-9A-F]{16,}", "S", f.message) for res in replaying.results for f in res.findings]
    assert [len(r.checks) for r in live.results] == [len(r.checks) for r in replaying.results]


# ----------------------------------------------------------------------------- whole runs
def test_shrinking_by_batches_stops_at_its_deadline_and_says_so():
    from certconform.conformance.minimize import Replay, minimize_batched

    events = [{"type": "e", "n": i} for i in range(12)]
    culprits = (events[3], events[8])

    def run_batch(candidates):  # fails when both culprits are in (the signature "x")
        return [Replay(c, "x" if all(any(e is x for e in c) for x in culprits) else None) for c in candidates]

    shortest, minimal, replays = minimize_batched(events, run_batch, deadline=time.monotonic() + 60)
    assert [e["n"] for e in shortest] == [3, 8] and minimal and replays > 1
    shortest, minimal, replays = minimize_batched(events, run_batch, deadline=time.monotonic() - 1)
    assert shortest == events and not minimal and replays == 1
