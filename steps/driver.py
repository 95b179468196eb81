"""The scenario driver: the only thing steps use to reach the implementation under test.

It wraps the adapter (reset/apply/observe), mirrors the directory in a model World so that the
oracle can judge every event, snapshots the inventory before each block of When steps, and keeps
what the oracle found for the reports. It does not know which implementation is plugged in.

Crash-proof: every inventory the adapter reports is checked (model/oracle.py validate_inventory)
before anything reads its records, so a malformed one is a `[contract: CONTRACT]` one-liner
naming the field, never a TypeError in the suite; the adapter gets a deep copy of each event, so
one that mutates (or keeps and later mutates) its argument cannot change what is judged.

Capabilities (mdm/capabilities.py): before sending an event the implementation cannot perform
(a type outside `events`, an enrolment past the device pool) the driver skips the test
(pytest.skip, reason "not supported: ..."). A kind outside `observes` can still be created and
assigned (a SCEP profile needs its root): the model World knows its certificates are delivered
unseen, and a step that must read such a certificate is what skips (`Driver.require_observable`). With
`settle_s` > 0 it polls observe() after each event until the event's required changes have all
appeared (model/settle.py) or `settle_s` has passed, and waits `quiet_s` before judging an event
that requires no change (or whose open effects may still land). Features and sequences share it.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import pytest

from certconform import mdm
from certconform.mdm.capabilities import ALL, Capabilities
from certconform.model.judge import IncrementalJudge
from certconform.model.oracle import Finding, StepResult, expectation, validate_inventory, world_follows
from certconform.model.settle import settle_state
from certconform.model.world import World


class SetupFailed(AssertionError):
    """A Given step's event was refused: the scenario's situation could not be built."""


# pytest.skip's exception: the check is not run and is reported `not-supported` (never passed).
# A plain skip (not a subclass), so the reason reads "not supported: ..." in JUnit and the reports.
NotSupported = pytest.skip.Exception
NOT_SUPPORTED = "not supported: "
DRY_RUN = "dry run: the implementation sent nothing to the product, so nothing is judged (capabilities 'dry_run')"


class MalformedInventory(AssertionError):
    """observe() broke the contract's record shape; the message names the record and the field."""


@dataclass
class Driver:
    adapter: object
    world: World = field(default_factory=World)
    results: list[StepResult] = field(default_factory=list)
    block_before: list[dict] | None = None  # inventory before the current block of When steps
    block_start: int = 0  # index into `results` of the block's first When event
    last_outcome: str = "applied"
    last_error: str = ""
    last_expect: object = None  # the oracle's Expectation for the last event (what should have happened)
    then_seen: bool = False  # a Then step closed the current block of When steps
    log: list[dict] | None = None  # the test's conformance_log (see certconform/plugin.py)
    violations: list[list] = field(default_factory=list)  # per event: [(Invariant, Violation)] merged into findings
    strict: bool = False  # --strict-readings: reading-tier deviations fail too
    seen_serials: set = field(default_factory=set)
    judge: IncrementalJudge = field(default_factory=IncrementalJudge)  # or model.judge.full_judge
    caps: Capabilities = ALL  # what the implementation declared (mdm/capabilities.py)
    poll_s: float | None = None  # settle polling interval (default settle_s / 20, at most 0.05 s)
    quiet_s: float | None = None  # quiet period (default min(settle_s, 0.5))
    last_waited: tuple | None = None  # (serials still pending, seconds waited) when the last event's settle ran out
    _last_after: list[dict] | None = None

    def reset(self) -> None:
        self.adapter.reset()
        self.world = World(observes=self.caps.observes)
        self.results.clear()
        self.violations.clear()
        self.seen_serials = set()
        if hasattr(self.judge, "reset"):  # an IncrementalJudge forgets its index
            self.judge.reset()
        self._last_after = None
        self.block_before = None

    def observe(self) -> list[dict]:
        """The inventory for steps to read; a malformed one fails the step naming the field."""
        inventory = self.adapter.observe()
        findings = validate_inventory(inventory)
        if findings:
            if self.log is not None:
                self.log.extend({"type": "finding", "statements": list(f.statements), "message": f.message,
                                 "tier": f.tier} for f in findings)
            more = f" (and {len(findings) - 3} more)" if len(findings) > 3 else ""
            raise MalformedInventory("[contract: CONTRACT] observe() broke the record shape: "
                                     + "; ".join(f.message for f in findings[:3]) + more)
        return inventory

    def apply(self, event: dict) -> StepResult:
        """Apply one event through the adapter and judge it with the oracle."""
        # The inventory after the previous event is this event's "before" (nothing else changes
        # the implementation in between); it saves one observe() per event, which matters over HTTP.
        # (_last_after is kept only when it was well formed; a fresh one is checked by observe()).
        self.check_supported(event)
        before = self._last_after if self._last_after is not None else self.observe()
        try:
            self.adapter.apply(copy.deepcopy(event))
            outcome, detail = "applied", ""
        except mdm.EventRejected as exc:
            outcome, detail = "rejected", str(exc)
        except ValueError as exc:
            outcome, detail = "invalid", str(exc)
        applied_at = time.monotonic()
        after = self._observe_copy()
        waited = None
        if self.caps.settle_s > 0 and outcome == "applied":
            after, waited = self._settle(event, before, after, applied_at)
        # The oracle and the invariants, on the records this event can concern (model/judge.py;
        # full_judge there is the reference that looks at every record).
        judged = self.judge(self.world, event, outcome, before, after, detail, self.seen_serials)
        result, violations, expect = judged.result, judged.violations, judged.expect
        self._last_after = after if judged.after_valid else None  # a malformed one is not the next 'before'
        merge_violations(result, violations)
        self.last_waited = waited
        if waited is not None:  # a required change never appeared: say how long the suite waited
            for f in result.findings:
                if f.fails(True) and f.serial in waited[0]:
                    f.message += self.wait_note(f.serial)
        self.violations.append(violations)
        self.seen_serials.update(judged.new_serials)
        if world_follows(expect, outcome):
            self.world.apply(event)
        self.results.append(result)
        if self.log is not None:
            self.log.extend(log_entries(result))
        self.last_outcome, self.last_error, self.last_expect = outcome, detail, expect
        return result

    def _observe_copy(self):
        after = self.adapter.observe()
        if isinstance(after, list):  # a copy: an adapter may hand out its live records
            if set(map(type, after)) <= {dict}:  # the usual case: copied by the interpreter's own loop
                after = list(map(dict.copy, after))
            else:  # a dict subclass is copied as dict() reads it; a malformed record kept for the oracle
                after = [dict(r) if isinstance(r, dict) else r for r in after]
        return after

    def check_supported(self, event: dict) -> None:
        """Skip the test (NotSupported) before an event the capabilities say cannot be performed."""
        reason = self.unsupported(event)
        if reason is not None:
            pytest.skip(NOT_SUPPORTED + (f"{DRY_RUN}; and {reason}" if self.caps.dry_run else reason))

    def require_observable(self, kind: str) -> None:
        """Skip the test (NotSupported) before a check that must read a `kind` certificate the
        implementation cannot observe (capabilities 'observes'), or any check in a dry run."""
        if self.caps.dry_run:
            pytest.skip(NOT_SUPPORTED + DRY_RUN)
        if kind not in self.caps.observes:
            pytest.skip(NOT_SUPPORTED + f"the implementation cannot observe {kind} certificates "
                        "(capabilities 'observes')")

    def unsupported(self, event: dict) -> str | None:
        """Why the implementation cannot perform `event` by its capabilities, or None. Bad input
        is always sent (the contract's answer to it is judged whatever the capabilities)."""
        caps = self.caps
        if caps is ALL or not isinstance(event, dict):
            return None
        try:
            self.world.validate(event)
        except (ValueError, KeyError, TypeError):
            return None
        etype = event["type"]
        if not caps.performs(etype):
            return f"the implementation cannot perform {etype} (capabilities 'events')"
        device = self.world.devices.get(event.get("device", "")) if isinstance(event.get("device"), str) else None
        refused = caps.refuses_on(etype, device.platform if device is not None else None)
        if refused is not None:
            return f"the implementation does not perform {etype} on {device.platform} devices: {refused} " \
                   "(capabilities 'unsupported_on')"
        if etype == "enroll":
            pool = caps.pool(event["platform"])
            used = sum(1 for d in self.world.devices.values() if d.platform == event["platform"])
            if pool is not None and used >= pool:
                return f"no free {event['platform']} device: the pool has {pool} (capabilities 'devices')"
        return None

    def _settle(self, event: dict, before: list[dict], after, applied_at: float):
        """Poll observe() until the event's required changes have appeared (or settle_s has
        passed); wait out the quiet period when the event requires no change or may still change
        something. Returns (after, None) or (after, (pending serials, seconds waited))."""
        settle = self.caps.settle_s
        poll = self.poll_s if self.poll_s is not None else min(0.05, settle / 20)
        quiet = self.quiet_s if self.quiet_s is not None else min(settle, 0.5)
        deadline, quiet_until = applied_at + settle, applied_at + quiet
        if validate_inventory(before) or expectation(self.world, event, before).preferred == "invalid":
            return after, None
        # Judged is always an observation *asked for* at or after the deadline (or the end of the
        # quiet period), not merely one the suite looked at after it: on a loaded machine the
        # suite can be descheduled between an early observe() and the clock check, and judging that
        # early observation would fail a change that landed in time (and make sequences flaky).
        observed_at = applied_at
        while True:
            if validate_inventory(after):
                return after, None  # malformed: judged (and named) as it is
            state = settle_state(self.world, event, before, after)
            now = time.monotonic()
            if state.pending:
                if observed_at >= deadline:
                    return after, (set(state.pending), observed_at - applied_at)
                time.sleep(max(0.0, min(poll, deadline - now)))
            elif state.reach and (state.may_change or not state.requires_change) and observed_at < quiet_until:
                time.sleep(max(0.0, min(poll, quiet_until - now)))
            else:
                return after, None
            observed_at = time.monotonic()
            after = self._observe_copy()

    def wait_note(self, serial: str | None) -> str:
        """' (still not so after waiting X s, the declared settle_s Y s)' when the last event's
        settle window ran out with `serial`'s required change still pending; '' otherwise. For
        messages about that certificate (the oracle's findings, the features' Then steps)."""
        if self.last_waited is None or serial not in self.last_waited[0]:
            return ""
        return (f" (still not so after waiting {self.last_waited[1]:.2f} s, the declared settle_s "
                f"{self.caps.settle_s:g} s)")

    @property
    def last_inventory(self) -> list[dict] | None:
        """The inventory observed after the last event (None before the first)."""
        return self._last_after

    def failures(self, result: StepResult | None = None) -> list[Finding]:
        """The findings of one event (default: the last) that fail the run under this driver's tier setting."""
        result = result if result is not None else self.results[-1]
        return result.failures(self.strict)

    def given(self, event: dict) -> None:
        """Apply a setup event; a refusal means the situation cannot be built, which fails the scenario."""
        result = self.apply(event)
        if result.outcome != "applied":
            raise SetupFailed(f"[contract: CONTRACT] setup event {event} was {result.outcome}, so the scenario's "
                              f"situation cannot be built: {self.last_error}")
        self.block_before = None

    def when(self, event: dict) -> StepResult:
        """Apply the event under test; consecutive When steps share one 'before' snapshot."""
        if self.block_before is None or self.then_seen:
            self.block_before = self.observe()
            self.block_start = len(self.results)
            self.then_seen = False
        return self.apply(event)

    def block_results(self) -> list[StepResult]:
        """The oracle's results for the events of the current When block."""
        return self.results[self.block_start:]

    def end_block(self) -> list[dict]:
        """Called by Then steps: the snapshot before the When block (kept for further Thens). In a
        dry run (capabilities 'dry_run') every event was sent to nothing: the check is not judged."""
        if self.caps.dry_run:
            pytest.skip(NOT_SUPPORTED + DRY_RUN)
        if self.block_before is None:
            raise AssertionError("a Then step needs a When step before it")
        self.then_seen = True
        return self.block_before


def merge_violations(result: StepResult, violations) -> None:
    """Fold the invariants' violations into the oracle's findings: a violation about a certificate
    (or event) that a finding of the same tier already names only adds the invariant's name to
    it; any other becomes a finding of its own. So one fault is reported once, with every named
    invariant that saw it."""
    for inv, v in violations:
        same = next((f for f in result.findings if f.tier == v.tier and f.serial == v.serial
                     and (v.serial is not None or set(f.statements) & set(v.statements))), None)
        if same is not None:
            if inv.name not in same.invariants:
                same.invariants += (inv.name,)
            continue
        result.findings.append(Finding(v.statements, f"invariant {inv.name}: {v.message}", v.serial, v.tier,
                                       (inv.name,)))


def log_entries(result: StepResult) -> list[dict]:
    """Plain dicts for the reports: every oracle check (with the reading followed) and finding."""
    entries = [
        {"type": "check", "statements": list(c.statements), "passed": c.passed, "reading": c.reading,
         "conflict": c.conflict, "situation": c.situation, "platform": c.platform, "kind": c.kind,
         "event": c.event, "serial": c.serial, "verdict": c.verdict, "interpretations": list(c.interpretations),
         "before": {"revoked": c.before[0], "installed": c.before[1]},
         "after": {"revoked": c.after[0], "installed": c.after[1], **({"revocation": "pending"} if c.after_pending else {})}}
        for c in result.checks
    ]
    entries += [{"type": "finding", "statements": list(f.statements), "message": f.message, "tier": f.tier,
                 "invariant": ", ".join(f.invariants) or None} for f in result.findings]
    return entries
