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
unseen, and a step that must read such a certificate is what skips (`Driver.require_observable`).

Latencies (mdm/capabilities.py: `settle_s`, `windows`): after each applied event it polls
observe() until the event's required changes (revocations, removals, a check-in's deliveries;
model/settle.py) have all appeared, each awaited up to its own window (max(window[aspect],
window[cause]), counted from the moment apply() returned), and it judges an event that requires
no change, or whose open effects may still land, only once the longest window that could carry a
change of it has passed (`quiet_s` overrides that). Polling backs off with the window: the next
observation is asked for after a tenth of the time waited so far, at least window/100 and at most
window/10 (`poll_s` fixes the interval). Only an observation asked for after a window closed is
judged against it. An adapter may offer `observe_after(t) -> (asked_at, records)` (a cell of
conformance/scheduler.py: one shared observation serves every cell that waits); a replayed
adapter (conformance/replay.py) gives the settled observation and the wait as they were
journaled, so a test judges a cell exactly as the live driver saw it. A `recorder` (the cell's
journal) is told every observation, application and settled result. Features and sequences share
all of this.
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
from certconform.model.settle import delivery_key, settle_state
from certconform.model.world import World


MIN_POLL_S = 0.005  # the shortest interval between two observations of one event (tiny windows: the mock's)


def poll_step(waited: float, window: float) -> float:
    """Seconds from one observation of a waiting event to the next: a tenth of the time waited so
    far, at least window/100, at most window/10 (and never under MIN_POLL_S). The plan
    (certconform/plan.py, conformance/cells.py seen_at) counts the same steps."""
    return min(max(waited / 10, window / 100, MIN_POLL_S), max(window / 10, MIN_POLL_S))


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
    poll_s: float | None = None  # fixed settle polling interval (default: backs off with the window)
    quiet_s: float | None = None  # wait before judging a "stays" (default: the longest window that could carry a change)
    last_waited: tuple | None = None  # (pending keys, seconds waited, {key: (window s, class)}) when a window ran out
    recorder: object = None  # a cell's journal (conformance/scheduler.py): told every call's result
    replay: bool = False  # the adapter replays a journal (conformance/replay.py): no waiting here
    unattended: bool = False  # --unattended: events the capabilities say need a person are not-supported
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
        try:
            inventory = self.adapter.observe()
        except Exception as exc:
            if self.recorder is not None:
                self.recorder.call("observe", error=exc)
            raise
        if self.recorder is not None:
            self.recorder.call("observe", inventory)
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
        except Exception as exc:
            if self.recorder is not None:
                self.recorder.call("apply", event=event, error=exc)
            raise
        applied_at = time.monotonic()
        if self.recorder is not None:
            self.recorder.call("apply", event=event, outcome=outcome, detail=detail, at=applied_at)
        waited = None
        if self.replay:
            after = self._observe_copy()
            waited = self.adapter.last_waited()
        elif self.caps.latent and outcome == "applied":
            after, waited = self._settle(event, before, applied_at)
        elif self.recorder is None:
            after = self._observe_copy()
        else:
            after = self._recorded_after(applied_at)
        # The oracle and the invariants, on the records this event can concern (model/judge.py;
        # full_judge there is the reference that looks at every record).
        judged = self.judge(self.world, event, outcome, before, after, detail, self.seen_serials)
        result, violations, expect = judged.result, judged.violations, judged.expect
        self._last_after = after if judged.after_valid else None  # a malformed one is not the next 'before'
        merge_violations(result, violations)
        self.last_waited = waited
        if waited is not None:  # a required change never appeared: say how long the suite waited
            for f in result.findings:
                if f.fails(True):
                    f.message += self.wait_note(f.serial if f.serial is not None else _delivery_of(f.message))
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
        if self.unattended and etype in caps.needs_person:
            return person_needed(etype, caps.needs_person[etype])
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

    def _recorded_after(self, applied_at: float):
        """observe() once for an event that waits for nothing, telling the recorder."""
        try:
            after = self._observe_after(applied_at)[1]
        except Exception as exc:
            if self.recorder is not None:
                self.recorder.call("after", error=exc)
            raise
        if self.recorder is not None:
            self.recorder.call("after", after, waited=None, at=applied_at)
        return after

    def _observe_after(self, t: float) -> tuple[float, list]:
        """An observation asked for at or after monotonic time `t`: (when it was asked, records)."""
        shared = getattr(self.adapter, "observe_after", None)
        if shared is not None:
            return shared(t)
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        asked = time.monotonic()
        return asked, self._observe_copy()

    def _settle(self, event: dict, before: list[dict], applied_at: float):
        """Poll observe() until the event's required changes have appeared (each within its
        window); wait until the longest window that could carry a change has passed when the
        event requires no change or may still change something. Returns (after, None) or
        (after, (pending keys, seconds waited, {key: (window s, class)}))."""
        try:
            return self._settling(event, before, applied_at)
        except Exception as exc:
            if self.recorder is not None:
                self.recorder.call("after", error=exc)
            raise

    def _settling(self, event: dict, before: list[dict], applied_at: float):
        caps, etype = self.caps, event.get("type")
        quiet_w, _ = caps.forbidden_window(etype)
        quiet = self.quiet_s if self.quiet_s is not None else quiet_w
        quiet_until = applied_at + quiet
        observed_at, after = self._observe_after(applied_at)
        recorder = self.recorder
        if validate_inventory(before) or expectation(self.world, event, before).preferred == "invalid":
            return self._settled(after, None, applied_at)
        # Judged is always an observation *asked for* at or after a deadline (or the end of the
        # quiet period), not merely one the suite looked at after it: on a loaded machine the
        # suite can be descheduled between an early observe() and the clock check, and judging that
        # early observation would fail a change that landed in time (and make sequences flaky).
        while True:
            if validate_inventory(after):
                return self._settled(after, None, applied_at)  # malformed: judged (and named) as it is
            state = settle_state(self.world, event, before, after)
            if state.waiting:
                windows = {key: caps.required_window(etype, max(aspects, key=caps.window))
                           for key, aspects in state.aspects.items()}
                open_ = [k for k in windows if observed_at < applied_at + windows[k][0]]
                if not open_:
                    return self._settled(after, (set(windows), observed_at - applied_at, windows), applied_at)
                window = max(windows[k][0] for k in open_)
                until = applied_at + window
            elif state.reach and (state.may_change or not state.requires_change) and observed_at < quiet_until:
                window, until = quiet_w, quiet_until
            else:
                return self._settled(after, None, applied_at)
            now = time.monotonic()
            step = self.poll_s if self.poll_s is not None else \
                poll_step(now - applied_at, window)
            if recorder is not None:
                recorder.poll(after, observed_at)
            observed_at, after = self._observe_after(min(now + step, until))

    def _settled(self, after, waited, applied_at: float):
        if self.recorder is not None:
            self.recorder.call("after", after, waited=waited, at=applied_at)
        return after, waited

    def wait_note(self, key: str | None) -> str:
        """' (still not so after waiting X s, the declared settle_s Y s)' (or '..., the declared
        revocation window Y s (capabilities 'windows')') when the last event's window ran out
        with `key` (a serial, or a pending delivery: model/settle.py delivery_key) still
        pending; '' otherwise. For messages about that certificate (the oracle's findings, the
        features' Then steps)."""
        if self.last_waited is None or key not in self.last_waited[0]:
            return ""
        windows = self.last_waited[2] if len(self.last_waited) > 2 else {}
        seconds, cls = windows.get(key, (self.caps.settle_s, "revocation"))
        return f" (still not so after waiting {self.last_waited[1]:.2f} s, {self.caps.window_text(cls, seconds)})"

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


def person_needed(etype: str, instruction: str) -> str:
    """Why an event that needs a person is not performed in an --unattended run."""
    return (f"{etype} needs a person afterwards ({instruction}) and the run is --unattended "
            "(capabilities 'needs_person')")


def _delivery_of(message: str) -> str | None:
    """The pending-delivery key of a finding about a check-in that delivered nothing (model/oracle.py:
    'profile P targets D ... but the check-in delivered none'), else None."""
    if "the check-in delivered none" not in message or "profile " not in message:
        return None
    return delivery_key(message.split("profile ", 1)[1].split(" ", 1)[0])


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
