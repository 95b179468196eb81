"""Steps for replayed event sequences (features/regressions/, counterexamples of the state machine).

`When the event {...} is applied` sends one raw contract event through the Driver; the final
`Then every event conformed to the document and the contract` fails on what the per-event oracle
and the named invariants found over the whole sequence, naming the tier and the statement ids.
"""
from __future__ import annotations

import json

from pytest_bdd import parsers

from certconform.steps.driver import Driver
from certconform.steps.registry import then, when


@when(parsers.re(r"the event (?P<raw>\{.*\}) is applied$"))
def apply_raw_event(driver: Driver, raw: str):
    try:
        event = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"feature error: the event is not JSON ({exc.msg} at column {exc.pos + 1}): {raw}") from None
    driver.apply(event)


@then("every event conformed to the document and the contract")
def every_event_conformed(driver: Driver):
    """Fails on every document- and contract-tier finding of the sequence (the invariants' are
    merged into them); reading-tier findings are deviations, failing only under --strict."""
    failing = [f for result in driver.results for f in driver.failures(result)]
    if failing:
        prefix = "deviates (--strict): " if all(f.tier == "reading" for f in failing) else ""
        raise AssertionError(prefix + "\n".join(str(f) for f in failing))
