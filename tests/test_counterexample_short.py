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

from certconform.conformance import minimize
from certconform.conformance.test_stateful import SequenceFailed, failing, run_machine, signature
from tests import mutants

BUDGET = settings(settings.get_profile("ci"), max_examples=60)


def counterexample(adapter_cls, strict: bool = False) -> SequenceFailed:
    with pytest.raises(SequenceFailed) as info:
        run_machine(adapter_cls(), [], BUDGET if not strict else settings.get_profile("ci"), minimizing=True,
                    strict=strict)
    return info.value


def judge_with(strict: bool):
    def judge(driver, ev, result, violations):
        found = failing(result, strict)
        return signature(found) if found else None
    return judge


judge = judge_with(False)


# a document-tier fault, and one that departs only from our reading I-SCOPE-TARGETING (--strict)
@pytest.mark.parametrize("mutant, strict", [(mutants.WindowsWipeNeverRevokes, False),
                                            (mutants.CrossDeviceLeakOnUnenroll, True)],
                         ids=lambda c: getattr(c, "__name__", str(c)))
def test_counterexample_is_short_and_replays(mutant, strict):
    first = counterexample(mutant, strict)
    assert 1 <= len(first.events) <= 15, str(first)
    assert "Counterexample as Gherkin" in str(first)
    assert str(first).count(" is applied") == len(first.events)
    again = minimize.replay(mutant(), first.events, first.intended_bad, judge_with(strict))
    assert again.signature == first.signature and again.events == first.events
    second = counterexample(mutant, strict)
    assert second.events == first.events, "the same seed must give the same counterexample"


def test_minimize_keeps_the_failure_and_never_lengthens():
    failure = counterexample(mutants.WindowsWipeNeverRevokes)
    adapter = mutants.WindowsWipeNeverRevokes()
    shorter = minimize.minimize(adapter, failure.events, failure.intended_bad, judge, max_replays=50)
    assert len(shorter) <= len(failure.events)
    assert minimize.replay(adapter, shorter, [False] * len(shorter), judge).signature == failure.signature


def test_minimize_returns_a_conforming_sequence_unchanged():
    from certconform.model.reference import ReferenceMDM

    events = [{"type": "create_user", "user": "u1"}, {"type": "no_such_event"}]
    assert minimize.minimize(ReferenceMDM(), events, [False, True], judge) == events
