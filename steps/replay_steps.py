"""Steps for replayed event sequences (features/regressions/, counterexamples of the state machine).

`When the event {...} is applied` sends one raw contract event through the Driver; the final
`Then every event conformed to the document and the contract` runs the per-event oracle and the
named invariants over the whole sequence and fails naming the statement ids they cite.
"""
from __future__ import annotations

import json

from pytest_bdd import parsers, then, when

from steps.driver import Driver


@when(parsers.re(r"the event (?P<raw>\{.*\}) is applied$"))
def apply_raw_event(driver: Driver, raw: str):
    try:
        event = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"feature error: the event is not JSON ({exc.msg} at column {exc.pos + 1}): {raw}") from None
    driver.apply(event)


@then("every event conformed to the document and the contract")
def every_event_conformed(driver: Driver, request):
    """Fails on every document- and contract-tier finding of the sequence (the named invariants'
    violations are merged into the findings, steps/driver.py); reading-tier findings are
    deviations: recorded, and failing only under --strict-readings."""
    problems, deviations = [], []
    for result in driver.results:
        for f in result.findings:
            (problems if f.fails(driver.strict) else deviations).append(f)
    if deviations:
        request.node.user_properties.append(("deviates", ",".join(dict.fromkeys(s for f in deviations for s in f.statements))))
    if problems:
        raise AssertionError("\n".join(str(f) + (f" [invariants: {', '.join(f.invariants)}]" if f.invariants else "")
                                       for f in problems))
