"""Steps for replayed event sequences (features/regressions/, counterexamples of the state machine).

`When the event {...} is applied` sends one raw contract event through the Driver; the final
`Then every event conformed to the document and the contract` runs the per-event oracle and the
named invariants over the whole sequence and fails naming the statement ids they cite.
"""
from __future__ import annotations

import json

from pytest_bdd import parsers, then, when

from model.oracle import cite
from steps.driver import Driver


@when(parsers.re(r"the event (?P<raw>\{.*\}) is applied$"))
def apply_raw_event(driver: Driver, raw: str):
    try:
        event = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"feature error: the event is not JSON ({exc.msg} at column {exc.pos + 1}): {raw}") from None
    driver.apply(event)


@then("every event conformed to the document and the contract")
def every_event_conformed(driver: Driver):
    problems = []
    for result, violations in zip(driver.results, driver.violations):
        problems += [str(f) for f in result.findings]
        problems += [f"[invariant {inv.name}: {cite(inv.statements)}] {message}" for inv, message in violations]
    if problems:
        raise AssertionError("\n".join(problems))
