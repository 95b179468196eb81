"""Judging one event: the per-event oracle (model/oracle.py check_event) and the named invariants
(model/invariants.py check_all) over the inventories observed before and after it.

Two judges give the same verdicts:

- `full_judge`, the reference: both look at every record of both inventories, so an event costs
  time in proportion to the inventory and a sequence in proportion to the square of its length.
- `IncrementalJudge`, what the driver uses: it keeps a small index of the inventory across
  events (model/delta.py) and hands the oracle and the invariants only the records the event can
  concern: those whose fields changed, those added, every record on the devices (or of the
  profile) the event names or reaches, and any record naming a device or profile the world does
  not know. Every other record is unchanged and outside the event's reach, which both judges
  pass without a word, so the findings, their messages and their order are the same. A required
  change that did not happen is still seen: the records the event concerns are chosen by what
  the event names, not by what changed. Where the observation breaks the inventory rules (a
  record dropped, reordered or renamed, a malformed record, a new record reusing a listed
  serial), where the event is bad input, and for the first event, it judges with `full_judge`.

tests/test_judge_differential.py checks the two against each other over many generated
sequences and the faulty adapters. What this module does not know: what the document requires
(model/rules.py), or how events are chosen.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from certconform.model.delta import Delta, InventoryIndex, concerned_positions
from certconform.model.invariants import Step, check_all
from certconform.model.oracle import Expectation, StepResult, check_event, expectation, validate_inventory
from certconform.model.world import World


@dataclass
class Judged:
    result: StepResult  # the oracle's findings and checks (the invariants' violations not merged yet)
    violations: list  # [(Invariant, Violation)]
    expect: Expectation
    new_serials: list = field(default_factory=list)  # serials this observation added to those seen
    after_valid: bool = True  # validate_inventory(after) found nothing


def full_judge(world: World, event: dict, outcome: str, before: list[dict], after: list[dict], detail: str = "",
               seen_serials: set | frozenset = frozenset(), expect: Expectation | None = None) -> Judged:
    """The reference judge: the oracle and every invariant over the whole of both inventories."""
    after_findings = validate_inventory(after)
    expect = expect or expectation(world, event, before)
    result = check_event(world, event, outcome, before, after, detail=detail,
                         inventory_findings=after_findings, expect=expect)
    if after_findings or validate_inventory(before):
        violations = []  # a malformed inventory is already a finding; the invariants cannot read it
    else:
        violations = check_all(Step(world, event, outcome, before, after, seen_serials))
    # serials seen so far: only from a well-formed inventory (a malformed one may carry a list as a serial)
    serials = [r["serial"] for r in after] if not after_findings else []
    return Judged(result, violations, expect, serials, not after_findings)


class IncrementalJudge:
    """full_judge's verdicts at a cost that follows the event, not the inventory. Call it with the
    inventory it saw last as `before` (the driver does); anything else is judged in full."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._index: InventoryIndex | None = None
        self._last: list[dict] | None = None  # the `after` the index describes
        self.full_judgements = 0  # how many events fell back to full_judge (for tests and benchmarks)

    def __call__(self, world: World, event: dict, outcome: str, before: list[dict], after: list[dict],
                 detail: str = "", seen_serials: set | frozenset = frozenset()) -> Judged:
        expect = expectation(world, event, before)
        delta = None
        if self._index is not None and before is self._last and expect.preferred != "invalid":
            delta = Delta.of(before, after, self._index)
        if delta is None:
            self.full_judgements += 1
            judged = full_judge(world, event, outcome, before, after, detail, seen_serials, expect)
            self._index, self._last = (InventoryIndex.of(after), after) if judged.after_valid else (None, None)
            return judged
        index = self._index
        order = sorted(set(delta.changed) | concerned_positions(world, event, index) | index.unknown_names(world, before))
        narrow_before = [before[i] for i in order]
        narrow_after = [after[i] for i in order] + delta.new
        result = check_event(world, event, outcome, narrow_before, narrow_after, detail=detail,
                             inventory_findings=[], expect=expect)
        violations = check_all(Step(world, event, outcome, narrow_before, narrow_after, seen_serials))
        index.extend(delta.new, len(before))
        self._last = after
        return Judged(result, violations, expect, [r["serial"] for r in delta.new])
