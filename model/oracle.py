"""The per-event oracle: given the world before an event, the event, what the implementation
did (applied / rejected / bad input) and its inventory before and after, list every way the
implementation departed from what the document (via model/rules.py) and the contract require.

What this module knows: the contract's inventory rules (records are never dropped, new records
appear only at check-in and at the end, serials are unique, revocation is permanent, a removed
certificate is never reinstalled, roots and imported certificates are never revoked), which
certificates an event concerns (model/world.py) and what each must undergo (model/rules.py).
What it does not know: how the implementation was driven. The features' steps and the Hypothesis
state machine both call `check_event`; neither restates a rule.

Every finding is a Finding naming the statement ids, the document lines and the certificate.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from certconform.model.behaviour import default
from certconform.model.rules import Requirement, Rules, default_rules
from certconform.model.world import DEVICE_ACTIONS, KINDS, World

RECORD_FIELDS = {"device": str, "profile": str, "kind": str, "serial": str, "installed": bool, "revoked": bool}
CONTRACT = "CONTRACT"  # cited for rules that come from ../shared/CONTRACT.md rather than the document

# Tiers of a finding (docs/tiers.md):
DOCUMENT = "document"  # the statement's own text requires it: always a failure
READING = "reading"  # one of our interpretations or a contract convention: `deviates`; fails under --strict
INTERFACE = "contract"  # the adapter broke the contract's interface, so nothing can be judged: always a failure
TIERS = (DOCUMENT, READING, INTERFACE)


@dataclass
class Finding:
    """One departure from the document (tier document), from one of our readings (tier reading,
    naming the interpretation ids) or from the adapter contract's interface (tier contract)."""

    statements: tuple[str, ...]
    message: str
    serial: str | None = None
    tier: str = DOCUMENT
    invariants: tuple[str, ...] = ()  # named invariants that saw the same departure

    def __str__(self) -> str:
        return f"[{self.tier}: {cite(self.statements)}] {self.message}"

    def fails(self, strict: bool = False) -> bool:
        return self.tier != READING or strict


@dataclass
class Check:
    """One certificate checked against one requirement (for reports): which reading it followed."""

    statements: tuple[str, ...]
    passed: bool
    reading: str | None
    conflict: str | None
    situation: str
    platform: str
    kind: str
    event: str
    serial: str
    before: tuple[bool, bool] = (False, True)  # (revoked, installed) before the event
    after: tuple[bool, bool] = (False, True)  # (revoked, installed) after the event
    verdict: str = "pass"  # pass | deviates | fail | not-validated
    interpretations: tuple[str, ...] = ()  # reading-tier ids behind a deviation
    after_pending: bool = False  # after the event the record says "revocation": "pending" (not yet revoked)


@dataclass
class StepResult:
    event: dict
    outcome: str  # applied | rejected | invalid
    findings: list[Finding] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def failures(self, strict: bool = False) -> list[Finding]:
        """The findings that fail the run: document and contract tiers, and readings under --strict."""
        return [f for f in self.findings if f.fails(strict)]

    def deviations(self) -> list[Finding]:
        return [f for f in self.findings if f.tier == READING]


def requirement_of(rules: Rules, world: World, record: dict, situation: str) -> Requirement:
    """What `situation` requires of `record` in `world` (the world before the event): the
    platform of its device, the CA of its profile and, for a trusted root, the sections whose
    profiles chain to it there (World.root_chain)."""
    device, profile = world.devices[record["device"]], world.profiles[record["profile"]]
    chain = world.root_chain(record) if record["kind"] == "trusted_root" else None
    return rules.requirement(device.platform, record["kind"], situation, profile.ca, chain)


def cite(statements: tuple[str, ...] | list[str]) -> str:
    """'WIN-SCEP-RR-2 line 64 c5fd30ff' for each statement; interpretations and CONTRACT as is."""
    b = default()
    parts = []
    for sid in statements:
        st = b.by_id.get(sid)
        parts.append(f"{sid} line {st.source.line} {st.source.sha256_8}" if st else sid)
    return "; ".join(parts) or "expected of any MDM"


def _shown(value: object, limit: int = 80) -> str:
    """A value as a message shows it: its repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 4] + " ..." + text[-1]


def _type_name(value: object) -> str:
    return "None" if value is None else type(value).__name__


def validate_inventory(inventory: object) -> list[Finding]:
    """Shape of observe(): a list of records with the contract's fields and unique serials.
    Never raises, whatever observe() returned; each finding names the record and the field."""
    def bad(message: str) -> Finding:
        return Finding((CONTRACT,), message, tier=INTERFACE)

    if not isinstance(inventory, list):
        shown = "" if inventory is None else f": {_shown(inventory)}"
        return [bad(f"observe() must return a list, got {_type_name(inventory)}{shown}")]
    findings, seen = [], set()
    for i, r in enumerate(inventory):
        if not isinstance(r, dict):
            findings.append(bad(f"observe()[{i}] must be an object (a record), got {_type_name(r)}: {_shown(r)}"))
            continue
        for name, typ in RECORD_FIELDS.items():
            if name not in r:
                findings.append(bad(f"observe()[{i}] lacks field {name!r}: {_shown(r, 200)}"))
            elif not isinstance(r[name], typ):
                findings.append(bad(f"observe()[{i}] field {name!r} must be {typ.__name__}, "
                                    f"got {_type_name(r[name])}" + ("" if r[name] is None else f" {_shown(r[name])}")))
        if "revocation" in r and r["revocation"] != "pending":  # optional (CONTRACT "Optional: real products")
            findings.append(bad(f"observe()[{i}] field 'revocation' may only be \"pending\", got {_shown(r['revocation'])}"))
        if isinstance(r.get("kind"), str) and r["kind"] not in KINDS:
            findings.append(bad(f"observe()[{i}] field 'kind' is not a contract kind: {_shown(r['kind'])}"))
        serial = r.get("serial")
        if isinstance(serial, str):
            if serial in seen:
                findings.append(bad(f"serial {_shown(serial)} appears twice in observe()"))
            seen.add(serial)
    return findings


@dataclass(frozen=True)
class Expectation:
    """What the document and the contract expect of apply(event)."""

    preferred: str  # applied | rejected | invalid
    why: str = ""
    allowed: tuple[str, ...] = ()  # further outcomes that are no failure
    deviating: tuple[str, ...] = ()  # outcomes that deviate from a reading (tier reading)
    statements: tuple[str, ...] = (CONTRACT,)  # cited when the outcome is wrong

    def judge(self, outcome: str) -> str:
        if outcome == self.preferred or outcome in self.allowed:
            return "pass"
        return "deviates" if outcome in self.deviating else "fail"


def expectation(world: World, event: dict, before: list[dict], rules: Rules | None = None) -> Expectation:
    """Which outcomes of `apply(event)` conform."""
    rules = rules or default_rules()
    try:
        world.validate(event)
    except ValueError as exc:
        return Expectation("invalid", str(exc))
    if event["type"] == "delete_certificate" and not any(
        r["installed"] and r["device"] == event["device"] and r["profile"] == event["profile"] for r in before
    ):
        return Expectation("invalid", f"delete_certificate: no installed certificate of {event['profile']!r} on {event['device']!r}")
    device = world.devices.get(event.get("device"))
    if device is not None and event["type"] in DEVICE_ACTIONS and not device.enrolled:
        return Expectation("applied", f"I-DEVICE-ACTION-ON-UNMANAGED: {device.name} is no longer enrolled",
                           allowed=("rejected", "invalid"), statements=("I-DEVICE-ACTION-ON-UNMANAGED",))
    if device is not None:
        refused = rules.refusal(device.platform, event["type"])  # MAC-WIPE-1
        if refused is not None:
            return Expectation("rejected", f"{refused.id}: {refused.says}", deviating=("applied",),
                               statements=(refused.id, "I-MACOS-WIPE-REFUSED"))
    return Expectation("applied")


def expected_outcome(world: World, event: dict, before: list[dict]) -> tuple[str, str]:
    """The preferred outcome of `apply(event)` and why: ('applied'|'rejected'|'invalid', why)."""
    e = expectation(world, event, before)
    return e.preferred, e.why


def world_follows(expect: Expectation, outcome: str) -> bool:
    """Whether the model's World should apply the event: the implementation performed an event
    that may be performed (or should have performed one it refused)."""
    if expect.preferred == "invalid":
        return False
    return outcome == "applied" or expect.preferred == "applied"


def describe(record: dict) -> str:
    return (f"{record['kind']} certificate {record['serial']} (profile {record['profile']}) on {record['device']}"
            + (" (revocation pending)" if revocation_pending(record) else ""))


def revocation_pending(record: dict) -> bool:
    """The record says its revocation is requested but not done (`"revocation": "pending"`, an
    optional field of ../shared/CONTRACT.md "Optional: real products"): not revoked yet."""
    return record.get("revocation") == "pending" and not record.get("revoked")


def flags(record: dict) -> str:
    """'revoked=False (revocation pending), installed=True': a record's state for messages; a
    pending revocation is shown as pending, never as revoked, never left out."""
    pending = " (revocation pending)" if revocation_pending(record) else ""
    return f"revoked={record['revoked']}{pending}, installed={record['installed']}"


def check_event(world: World, event: dict, outcome: str, before: list[dict], after: list[dict],
                rules: Rules | None = None, detail: str = "",
                inventory_findings: list[Finding] | None = None,
                expect: Expectation | None = None) -> StepResult:
    """Compare one event's observed effect with the requirements. `world` is the state *before*
    the event (it is not modified). `outcome` is what apply() did: applied, rejected or invalid.
    `inventory_findings`: validate_inventory(after), and `expect`: expectation(world, event, before),
    when the caller has already computed them."""
    rules = rules or default_rules()
    result = StepResult(event, outcome)
    add = result.findings.append
    what = _event_text(world, event)
    findings = validate_inventory(after) if inventory_findings is None else inventory_findings
    if findings:
        result.findings.extend(findings)
        return result
    expect = expect or expectation(world, event, before, rules)
    verdict = expect.judge(outcome)
    if verdict != "pass":
        verbs = {"applied": "apply it", "rejected": "refuse it (EventRejected)", "invalid": "reject it as bad input (ValueError)"}
        done = "applied it" if outcome == "applied" else "answered " + outcome
        # A wrong answer to an event is an interface failure; only the macOS wipe has a
        # reading-tier preference (I-MACOS-WIPE-REFUSED): performing it deviates.
        tier = READING if verdict == "deviates" else INTERFACE
        # a reading finding names the interpretation first, then the statement it reads (MAC-WIPE-1)
        known = default().by_id
        stmts = tuple(sorted(expect.statements, key=lambda s: s in known)) if tier == READING else expect.statements
        add(Finding(stmts, f"{what}: the implementation {done}{(' (' + detail + ')') if detail else ''}, "
                    f"but {'our reading expects it to' if tier == READING else 'it should'} {verbs[expect.preferred]}"
                    f"{(': ' + expect.why) if expect.why else ''}", tier=tier))
    if outcome != "applied" or expect.preferred == "invalid":
        if _key(after) != _key(before):
            add(Finding((CONTRACT,), f"{what}: the event was {outcome}, yet the inventory changed", tier=INTERFACE))
        return result

    by_serial_after = {r["serial"]: r for r in after}
    # Records are never dropped and keep their order; new ones come after.
    if [r["serial"] for r in after[: len(before)]] != [r["serial"] for r in before]:
        missing = [r["serial"] for r in before if r["serial"] not in by_serial_after]
        add(Finding((CONTRACT,), f"{what}: observe() lost or reordered earlier records"
                    + (f" (missing {', '.join(missing)})" if missing else ""), tier=INTERFACE))
        return result

    situations = world.situations(event, before)
    for old in before:
        new = by_serial_after[old["serial"]]
        device = world.devices.get(old["device"])
        profile = world.profiles.get(old["profile"])
        for name in ("device", "profile", "kind"):
            if new[name] != old[name]:
                add(Finding((CONTRACT,), f"{what}: {describe(old)} changed its {name} to {new[name]!r}", tier=INTERFACE))
        if device is None or profile is None:
            add(Finding((CONTRACT,), f"{what}: {describe(old)} names a device or profile that was never created",
                        tier=INTERFACE))
            continue
        if rules.not_validated(device.platform):
            continue  # ANDROID-WORK-1: nothing is judged (the reports still show what was observed)
        if old["revoked"] and not new["revoked"]:
            add(Finding(("I-REVOCATION-PERMANENT",), f"{what}: {describe(old)} was revoked and is now reported "
                        "not revoked", old["serial"], READING))
        if not old["installed"] and new["installed"]:
            add(Finding(("I-NO-REINSTALL",), f"{what}: {describe(old)} was removed and is now installed again "
                        "(a reissue is a new certificate)", old["serial"], READING))
        situation = situations.get(old["serial"])
        if situation is None:
            req = rules.untouched(device.platform, old["kind"], profile.ca, installed=old["installed"])
            _judge(result, req, old, new, what, f"is outside this event's reach, yet it was {_change(old, new)}")
            continue
        req = requirement_of(rules, world, old, situation)
        tier_verdict, reading = _judge(result, req, old, new, what, None)
        result.checks.append(Check(req.statements, tier_verdict != "fail", reading.label if reading else None,
                                   req.conflict, situation, device.platform, old["kind"], event["type"], old["serial"],
                                   (old["revoked"], old["installed"]), (new["revoked"], new["installed"]),
                                   tier_verdict if req.status != "not-validated" else "not-validated",
                                   req.interpretations if tier_verdict == "deviates" else (),
                                   revocation_pending(new)))

    _check_deliveries(world, event, before, after[len(before):], result, what, rules)
    return result


def _judge(result: StepResult, req: Requirement, old: dict, new: dict, what: str, text: str | None):
    """Judge one record against one requirement; add a document or reading finding if it departs."""
    verdict, reading = req.judge(old, new)
    if verdict == "fail":
        wants = " or ".join(f"{r.describe(old['kind'])} ({r.label})" for r in req.readings)
        result.findings.append(Finding(req.statements or ("I-SCOPE-TARGETING",),
                                       f"{what}: {describe(old)} {text or wants + '; observed: ' + _change(old, new)}",
                                       old["serial"], DOCUMENT))
    elif verdict == "deviates":
        wants = " or ".join(r.describe(old["kind"]) for r in req.strict_readings)
        because = ", ".join(req.interpretations)
        result.findings.append(Finding(req.interpretations + tuple(s for s in req.statements if s not in req.interpretations),
                                       f"{what}: {describe(old)} "
                                       + (text or f"{wants} by our reading {because}; observed: {_change(old, new)}")
                                       + f" (the document allows it; {because}: {_why(req.interpretations)})",
                                       old["serial"], READING))
    return verdict, reading


def _why(ids) -> str:
    b = default()
    return "; ".join(i.reason for i in (b.interpretation(x) for x in ids) if i is not None)


def _check_deliveries(world: World, event: dict, before: list[dict], new: list[dict], result: StepResult, what: str,
                      rules: Rules):
    add = result.findings.append
    if event["type"] != "check_in":
        for r in new:
            add(Finding(("I-DELIVERY-AT-CHECK-IN",), f"{what}: {describe(r)} was delivered, but by our reading "
                        "certificates are delivered only at check-in", r.get("serial"), READING))
        return
    device = world.devices[event["device"]]
    if rules.not_validated(device.platform):
        return  # ANDROID-WORK-1: deliveries and reissue are not judged either
    installed = {(r["device"], r["profile"]) for r in before if r["installed"]}
    due: dict[str, bool] = {}  # profile -> delivery required (True) or open (False)
    for p in world.targeting_profiles(device.name):
        if (device.name, p.name) not in installed:
            # a kind the implementation cannot observe (capabilities 'observes') is delivered unseen
            due[p.name] = p.kind in world.observes and world.delivery_required(device.name)
    seen: dict[str, int] = {}
    for r in new:
        seen[r["profile"]] = seen.get(r["profile"], 0) + 1
        known = world.profiles.get(r["profile"])
        if r["device"] not in world.devices or known is None:
            add(Finding((CONTRACT,), f"{what}: delivered {describe(r)}, which names a device or profile that was "
                        "never created", r["serial"], INTERFACE))
            continue
        if r["device"] != device.name or r["profile"] not in due:
            unmanaged = r["device"] == device.name and not device.enrolled
            add(Finding(("I-UNMANAGED-DEVICE",) if unmanaged else ("I-DELIVERY-AT-CHECK-IN",),
                        f"{what}: delivered {describe(r)}, which no profile targeting {device.name} was due to "
                        "deliver", r["serial"], READING))
            continue
        if r["kind"] != known.kind:
            add(Finding((CONTRACT,), f"{what}: {describe(r)} has kind {r['kind']!r}, but profile {r['profile']} is "
                        f"{known.kind}", r["serial"], INTERFACE))
        if not r["installed"] or r["revoked"]:
            add(Finding((CONTRACT,), f"{what}: new {describe(r)} must be installed and not revoked "
                        f"(installed={r['installed']}, revoked={r['revoked']})", r["serial"], INTERFACE))
    for profile, required in due.items():
        n = seen.get(profile, 0)
        if n > 1:
            add(Finding(("I-DELIVERY-AT-CHECK-IN",), f"{what}: profile {profile} delivered {n} certificates at one "
                        "check-in", None, READING))
        elif n == 0 and required:
            # GEN-MANUAL-2 is about the reissue after a manual deletion of a SCEP/PKCS certificate;
            # any other delivery due is the contract's check-in rule
            removed_by_hand = (device.name, profile) in world.manually_deleted \
                and world.profiles[profile].kind in ("scep", "pkcs")
            add(Finding(("GEN-MANUAL-2",) if removed_by_hand else (CONTRACT,),
                        f"{what}: profile {profile} targets {device.name} and has no installed certificate there, "
                        f"but the check-in delivered none" + (" (a certificate deleted by hand must be reissued, GEN-MANUAL-2)" if removed_by_hand else ""),
                        None, DOCUMENT if removed_by_hand else INTERFACE))


def _change(old: dict, new: dict) -> str:
    parts = []
    if old["revoked"] != new["revoked"]:
        parts.append("revoked" if new["revoked"] else "un-revoked")
    if old["installed"] != new["installed"]:
        parts.append("removed" if not new["installed"] else "reinstalled")
    pending = ", revocation pending (not yet revoked)" if parts and revocation_pending(new) else ""
    return " and ".join(parts) + pending if parts else f"left unchanged ({flags(new)})"


def _key(inventory: list[dict]) -> list[tuple]:
    return [(r.get("serial"), r.get("installed"), r.get("revoked")) for r in inventory]


def _event_text(world: World, event: dict) -> str:
    etype = event.get("type", "?") if isinstance(event, dict) else "?"
    args = ", ".join(f"{k}={v}" for k, v in event.items() if k != "type") if isinstance(event, dict) else ""
    device = world.devices.get(event.get("device")) if isinstance(event, dict) else None
    return f"{etype}({args})" + (f" on {device.platform}" if device else "")
