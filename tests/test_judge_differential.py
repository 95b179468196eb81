"""Differential self-test: the incremental judge (model/judge.py IncrementalJudge, what the driver
uses) returns exactly what the reference judge (full_judge: the oracle and every invariant over
the whole inventory) returns, event by event: the same findings with the same messages in the
same order, the same checks, the same invariant violations, the same expectation.

The events come from the conformance state machine (conformance/test_stateful.py) run by
Hypothesis against the mock, the reference model, every entry of the mutant catalogue
(tests/mutants.py), the faulty and malformed adapters, and a few adapters below that break the
inventory rules the incremental judge relies on (a record naming an unknown device or profile, a
record that changes its device, a dropped record, flags that stop being bools). A finding does
not stop a sequence here: the machine keeps going, so findings on later events (a record that
stays wrong, a required change that never happens) are compared too.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, assume, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from certconform import mdm
from certconform.conformance import test_stateful
from certconform.model.judge import IncrementalJudge, full_judge
from certconform.model.reference import ReferenceMDM
from certconform.steps.driver import Driver
from tests import adapters_broken, adapters_faulty, adapters_malformed, mutants


class CheckingJudge:
    """Judges every event both ways, fails at the first difference, and counts how often the
    incremental judge actually worked incrementally."""

    def __init__(self):
        self.incremental = IncrementalJudge()
        self.events = 0
        self.crashes = 0

    def reset(self):
        self.incremental.reset()

    def __call__(self, world, event, outcome, before, after, detail="", seen_serials=frozenset()):
        self.events += 1
        where = f"event {self.events} {event!r} ({outcome})"
        got, got_error = attempt(self.incremental, world, event, outcome, before, after, detail, seen_serials)
        want, want_error = attempt(full_judge, world, event, outcome, before, after, detail, seen_serials)
        assert got_error == want_error, where
        if want_error is not None:  # both judges fail alike (e.g. an adapter that performs bad input):
            self.crashes += 1       # that is the same verdict; the sequence cannot go on
            assume(False)
        assert got.result.findings == want.result.findings, where
        assert got.result.checks == want.result.checks, where
        assert got.violations == want.violations, where
        assert got.expect == want.expect, where
        assert set(seen_serials) | set(got.new_serials) == set(seen_serials) | set(want.new_serials), where
        return got


def attempt(judge, *args):
    """(the judge's answer, None) or (None, (exception type, message))."""
    try:
        return judge(*args), None
    except Exception as exc:  # compared, not hidden: both judges must fail the same way
        return None, (type(exc).__name__, str(exc))


class LenientDriver(Driver):
    """The scenario driver, except that an inventory it must read as the next event's 'before' is
    taken as it is: the real driver ends the sequence there (a malformed inventory is an adapter
    error), but both judges must also agree on an event whose 'before' is malformed."""

    def observe(self):
        return self.adapter.observe()


def machine_for(adapter, judge: CheckingJudge, name: str):
    """The conformance state machine on a driver with the checking judge, never stopping at a
    finding (every event of every sequence is compared)."""
    base = test_stateful.build_machine(adapter, [], strict=False, tally=test_stateful.Tally())

    class Machine(base):
        def __init__(self):
            super().__init__()
            self.driver = LenientDriver(adapter, judge=judge)
            self.driver.reset()

        def _failing(self, result):
            return []

        def installed(self):  # also for inventories a strict reader would refuse
            inventory = self.driver.last_inventory
            return [r for r in inventory if isinstance(r, dict) and r.get("installed")] \
                if isinstance(inventory, list) else []

    Machine.__name__ = f"Differential{name}"
    return seed(f"differential-{name}")(Machine)


def budget(examples: int) -> settings:
    return settings(max_examples=examples, stateful_step_count=30, derandomize=True, database=None, deadline=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


def run(adapter, name: str, examples: int) -> CheckingJudge:
    judge = CheckingJudge()
    run_state_machine_as_test(machine_for(adapter, judge, name), settings=budget(examples))
    return judge


# --------------------------------------------------------------------------- inventory-rule breakers
class DeliversOnEnrol(ReferenceMDM):
    """Enrolment delivers a record for the new device (unknown to the world until the event is
    applied) and a record naming a device and a profile that never exist (unknown for good)."""

    def apply(self, event):
        super().apply(event)
        if event.get("type") == "enroll":
            profile = next(iter(self.world.profiles.values()), None)
            if profile is not None:
                self._add(event["device"], profile.name, profile.kind)
            self._add(f"ghost-{self._serial}", "never-created", "scep")

    def _add(self, device, profile, kind):
        self._serial += 1
        self.certs.append({"device": device, "profile": profile, "kind": kind,
                           "serial": f"G{self._serial:07X}", "installed": True, "revoked": False})


class EveryNthObservation(ReferenceMDM):
    """Every `every`-th observation is passed through `alter` (the count runs across resets)."""

    every = 1

    def __init__(self):
        self.calls = 0
        super().__init__()

    def observe(self):
        self.calls += 1
        records = super().observe()
        return self.alter(records) if self.calls % self.every == 0 else records

    def alter(self, records: list[dict]) -> list[dict]:
        raise NotImplementedError


class MovesRecords(EveryNthObservation):
    """Every seventh observation reports the first record on another device."""

    every = 7

    def alter(self, records):
        if records:
            records[0]["device"] = "elsewhere"
        return records


class DropsFirstSometimes(EveryNthObservation):
    """Every fifth observation leaves out the first record."""

    every = 5

    def alter(self, records):
        return records[1:]


class FlagsTurnIntoInts(ReferenceMDM):
    """Once an observation listed records, later ones report the first record's 'installed' as 1
    or 0 instead of a bool (equal to the bool it was: only a type check sees the change)."""

    def __init__(self):
        self.listed = False
        super().__init__()

    def reset(self):
        super().reset()
        self.listed = False

    def observe(self):
        records = super().observe()
        if records and self.listed:
            records[0]["installed"] = int(records[0]["installed"])
        self.listed = self.listed or bool(records)
        return records


BREAKERS = [DeliversOnEnrol, MovesRecords, DropsFirstSometimes, FlagsTurnIntoInts]
ADAPTERS = ([*mutants.MUTANTS, *mutants.STRICT, *mutants.LEGIT, adapters_faulty.NeverRevokes,
             adapters_broken.NeverRevokes, adapters_broken.KeepsScepOnGroupDeletionThenRevokesLate,
             adapters_malformed.MissingSerial, adapters_malformed.WrongTypes, adapters_malformed.DuplicateSerials,
             adapters_malformed.NotAList] + BREAKERS)


@pytest.mark.parametrize("spec", ["mock", "reference"])
def test_incremental_judge_agrees_on_conforming_implementations(spec):
    judge = run(mdm.load_adapter(spec), spec, examples=40)
    assert judge.events > 2000
    # not vacuous: the incremental judge judged nearly every event incrementally (the first event
    # of each sequence and bad input go to the full judge)
    assert judge.incremental.full_judgements < judge.events * 0.15, (judge.incremental.full_judgements, judge.events)


@pytest.mark.parametrize("adapter_cls", ADAPTERS, ids=lambda c: c.__name__)
def test_incremental_judge_agrees_on_faulty_implementations(adapter_cls):
    judge = run(adapter_cls(), adapter_cls.__name__, examples=4)
    assert judge.events > 50


def test_breakers_reach_both_paths():
    """The rule-breaking adapters send some events to the full judge and keep others incremental
    (so both the fallback and the index repair after it are compared)."""
    for cls in BREAKERS:
        judge = run(cls(), f"paths-{cls.__name__}", examples=3)
        assert 0 < judge.incremental.full_judgements < judge.events, cls.__name__
