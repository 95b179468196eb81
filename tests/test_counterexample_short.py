"""Self-test: the stateful test's counterexample for a known mutant is short and reproducible.

Runs the state machine in process against two catalogue mutants with a reduced budget (the ci
profile with fewer examples) and checks that the delta-debugged counterexample has at most 15
events, ends with the event that broke the document, replays the failure against a fresh
adapter, and is the same sequence when the same settings run again (derandomized: same seed).
Also checks the minimiser on its own: it never lengthens a sequence and keeps a failing one
failing with the same signature. No timing assertions (speed is benchmarks/counterexamples.py).
"""
from __future__ import annotations

import pytest
from hypothesis import settings

from conformance import minimize
from conformance.test_stateful import SequenceFailed, failing, run_machine, signature
from tests import mutants

BUDGET = settings(settings.get_profile("ci"), max_examples=60)


def counterexample(adapter_cls) -> SequenceFailed:
    with pytest.raises(SequenceFailed) as info:
        run_machine(adapter_cls(), [], BUDGET, minimizing=True)
    return info.value


def judge(driver, ev, result, violations):
    return signature(driver.world, result, violations, ev) if failing(result, violations) else None


@pytest.mark.parametrize("mutant", [mutants.WindowsWipeNeverRevokes, mutants.CrossDeviceLeakOnUnenroll],
                         ids=lambda c: c.__name__)
def test_counterexample_is_short_and_replays(mutant):
    first = counterexample(mutant)
    assert 1 <= len(first.events) <= 15, str(first)
    assert "Counterexample as Gherkin" in str(first)
    assert str(first).count(" is applied") == len(first.events)
    again = minimize.replay(mutant(), first.events, first.intended_bad, judge)
    assert again.signature == first.signature and again.events == first.events
    second = counterexample(mutant)
    assert second.events == first.events, "the same seed must give the same counterexample"


def test_minimize_keeps_the_failure_and_never_lengthens():
    failure = counterexample(mutants.WindowsWipeNeverRevokes)
    adapter = mutants.WindowsWipeNeverRevokes()
    shorter = minimize.minimize(adapter, failure.events, failure.intended_bad, judge, max_replays=50)
    assert len(shorter) <= len(failure.events)
    assert minimize.replay(adapter, shorter, [False] * len(shorter), judge).signature == failure.signature


def test_minimize_returns_a_conforming_sequence_unchanged():
    from model.reference import ReferenceMDM

    events = [{"type": "create_user", "user": "u1"}, {"type": "no_such_event"}]
    assert minimize.minimize(ReferenceMDM(), events, [False, True], judge) == events
