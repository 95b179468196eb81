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

from model.behaviour import default
from model.rules import FORBIDDEN, OPEN, Reading, Requirement, Rules, default_rules
from model.world import KINDS, World

RECORD_FIELDS = {"device": str, "profile": str, "kind": str, "serial": str, "installed": bool, "revoked": bool}
CONTRACT = "CONTRACT"  # cited for rules that come from ../shared/CONTRACT.md rather than the document


@dataclass
class Finding:
    """One departure from the document or the contract."""

    statements: tuple[str, ...]
    message: str
    serial: str | None = None

    def __str__(self) -> str:
        return f"[{cite(self.statements)}] {self.message}"


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


@dataclass
class StepResult:
    event: dict
    outcome: str  # applied | rejected | invalid
    findings: list[Finding] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def cite(statements: tuple[str, ...] | list[str]) -> str:
    """'WIN-SCEP-RR-2 (line 64, c5fd30ff)' for each statement; interpretations and CONTRACT as is."""
    b = default()
    parts = []
    for sid in statements:
        st = b.by_id.get(sid)
        parts.append(f"{sid} line {st.source.line} {st.source.sha256_8}" if st else sid)
    return "; ".join(parts) or "expected of any MDM"


def validate_inventory(inventory: object) -> list[Finding]:
    """Shape of observe(): a list of records with the contract's fields and unique serials."""
    if not isinstance(inventory, list):
        return [Finding((CONTRACT,), f"observe() must return a list, got {type(inventory).__name__}")]
    findings, seen = [], set()
    for i, r in enumerate(inventory):
        if not isinstance(r, dict):
            findings.append(Finding((CONTRACT,), f"observe()[{i}] must be an object, got {type(r).__name__}"))
            continue
        for name, typ in RECORD_FIELDS.items():
            if name not in r:
                findings.append(Finding((CONTRACT,), f"observe()[{i}] lacks field {name!r}: {r!r}"))
            elif not isinstance(r[name], typ):
                findings.append(Finding((CONTRACT,), f"observe()[{i}] field {name!r} must be {typ.__name__}, got {r[name]!r}"))
        if isinstance(r.get("kind"), str) and r["kind"] not in KINDS:
            findings.append(Finding((CONTRACT,), f"observe()[{i}] field 'kind' is not a contract kind: {r['kind']!r}"))
        serial = r.get("serial")
        if serial in seen:
            findings.append(Finding((CONTRACT,), f"serial {serial!r} appears twice in observe()"))
        seen.add(serial)
    return findings


def expected_outcome(world: World, event: dict, before: list[dict]) -> tuple[str, str]:
    """What the document and contract expect of `apply(event)`: ('applied'|'rejected'|'invalid', why)."""
    try:
        world.validate(event)
    except ValueError as exc:
        return "invalid", str(exc)
    if event["type"] == "delete_certificate" and not any(
        r["installed"] and r["device"] == event["device"] and r["profile"] == event["profile"] for r in before
    ):
        return "invalid", f"delete_certificate: no installed certificate of {event['profile']!r} on {event['device']!r}"
    device = world.devices.get(event.get("device"))
    if device is not None:
        for st in default().statements:  # statements whose outcome is a refusal (MAC-WIPE-1)
            if st.outcome == "rejected" and device.platform in st.platforms and event["type"] in st.situations:
                return "rejected", f"{st.id}: {st.says}"
    return "applied", ""


def describe(record: dict) -> str:
    return f"{record['kind']} certificate {record['serial']} (profile {record['profile']}) on {record['device']}"


def check_event(world: World, event: dict, outcome: str, before: list[dict], after: list[dict],
                rules: Rules | None = None, detail: str = "",
                inventory_findings: list[Finding] | None = None) -> StepResult:
    """Compare one event's observed effect with the requirements. `world` is the state *before*
    the event (it is not modified). `outcome` is what apply() did: applied, rejected or invalid.
    `inventory_findings`: validate_inventory(after), when the caller has already computed it."""
    rules = rules or default_rules()
    result = StepResult(event, outcome)
    add = result.findings.append
    what = _event_text(world, event)
    findings = validate_inventory(after) if inventory_findings is None else inventory_findings
    if findings:
        result.findings.extend(findings)
        return result
    want, why = expected_outcome(world, event, before)
    if want != outcome:
        # a refusal the document requires cites its statement (why starts with its id)
        stmts = (why.split(":")[0],) if want == "rejected" else (CONTRACT,)
        verbs = {"applied": "apply it", "rejected": "refuse it (EventRejected)", "invalid": "reject it as bad input (ValueError)"}
        add(Finding(stmts, f"{what}: the implementation {'applied' if outcome == 'applied' else 'answered ' + outcome}"
                    f"{(' (' + detail + ')') if detail else ''}, but it should {verbs[want]}{(': ' + why) if why else ''}"))
    if outcome != "applied" or want != "applied":
        if _key(after) != _key(before):
            add(Finding((CONTRACT,), f"{what}: the event was {outcome}, yet the inventory changed"))
        return result

    by_serial_after = {r["serial"]: r for r in after}
    # Records are never dropped and keep their order; new ones come after.
    if [r["serial"] for r in after[: len(before)]] != [r["serial"] for r in before]:
        missing = [r["serial"] for r in before if r["serial"] not in by_serial_after]
        add(Finding((CONTRACT,), f"{what}: observe() lost or reordered earlier records"
                    + (f" (missing {', '.join(missing)})" if missing else "")))
        return result

    situations = world.situations(event, before)
    for old in before:
        new = by_serial_after[old["serial"]]
        for name in ("device", "profile", "kind"):
            if new[name] != old[name]:
                add(Finding((CONTRACT,), f"{what}: {describe(old)} changed its {name} to {new[name]!r}"))
        if old["revoked"] and not new["revoked"]:
            add(Finding((CONTRACT,), f"{what}: {describe(old)} was revoked and is now reported not revoked (revocation is permanent)"))
        if not old["installed"] and new["installed"]:
            add(Finding((CONTRACT,), f"{what}: {describe(old)} was removed and is now installed again (a reissue must be a new certificate)"))
        device = world.devices.get(old["device"])
        profile = world.profiles.get(old["profile"])
        if device is None or profile is None:
            add(Finding((CONTRACT,), f"{what}: {describe(old)} names a device or profile that was never created"))
            continue
        situation = situations.get(old["serial"])
        if situation is None:
            req = _untouched(old["kind"], profile.ca, installed=old["installed"])
            if req.allows(old, new) is None:
                add(Finding(("I-SCOPE-TARGETING",) if old["installed"] else (CONTRACT,),
                            f"{what}: {describe(old)} is outside this event's reach, yet it was "
                            f"{_change(old, new)}"))
            continue
        req = rules.requirement(device.platform, old["kind"], situation, profile.ca)
        reading = req.allows(old, new)
        result.checks.append(Check(req.statements, reading is not None, reading.label if reading else None,
                                   req.conflict, situation, device.platform, old["kind"], event["type"], old["serial"],
                                   (old["revoked"], old["installed"]), (new["revoked"], new["installed"])))
        if reading is None:
            wants = " or ".join(f"{r.describe()} ({r.label})" for r in req.readings)
            add(Finding(req.statements, f"{what}: {describe(old)} {wants}; observed: {_change(old, new)}",
                        old["serial"]))

    _check_deliveries(world, event, before, after[len(before):], result, what)
    return result


def _untouched(kind: str, ca: str | None, installed: bool) -> Requirement:
    """Outside the event's reach: nothing may change, except that a certificate already taken off
    the device may still be revoked (unless it is one the MDM never revokes)."""
    never_revoked = kind in ("trusted_root", "pkcs_imported") or ca == "third_party"
    revoke = FORBIDDEN if (installed or never_revoked) else OPEN
    return Requirement((Reading(revoke, FORBIDDEN, (), "untouched"),), ())


def _check_deliveries(world: World, event: dict, before: list[dict], new: list[dict], result: StepResult, what: str):
    add = result.findings.append
    if event["type"] != "check_in":
        for r in new:
            add(Finding((CONTRACT,), f"{what}: {describe(r)} was delivered, but certificates are delivered only at check-in"))
        return
    device = world.devices[event["device"]]
    installed = {(r["device"], r["profile"]) for r in before if r["installed"]}
    due: dict[str, bool] = {}  # profile -> delivery required (True) or open (False)
    for p in world.targeting_profiles(device.name):
        if (device.name, p.name) not in installed:
            due[p.name] = world.delivery_required(device.name)
    seen: dict[str, int] = {}
    for r in new:
        seen[r["profile"]] = seen.get(r["profile"], 0) + 1
        if r["device"] != device.name or r["profile"] not in due:
            add(Finding((CONTRACT,), f"{what}: delivered {describe(r)}, which no profile targeting "
                        f"{device.name} was due to deliver"))
            continue
        kind = world.profiles[r["profile"]].kind
        if r["kind"] != kind:
            add(Finding((CONTRACT,), f"{what}: {describe(r)} has kind {r['kind']!r}, but profile {r['profile']} is {kind}"))
        if not r["installed"] or r["revoked"]:
            add(Finding((CONTRACT,), f"{what}: new {describe(r)} must be installed and not revoked "
                        f"(installed={r['installed']}, revoked={r['revoked']})"))
    reissue = ("GEN-MANUAL-2",) if any(
        not r["installed"] and r["device"] == device.name for r in before) else (CONTRACT,)
    for profile, required in due.items():
        n = seen.get(profile, 0)
        if n > 1:
            add(Finding((CONTRACT,), f"{what}: profile {profile} delivered {n} certificates at one check-in"))
        elif n == 0 and required:
            was_removed = any(r["device"] == device.name and r["profile"] == profile for r in before)
            add(Finding(reissue if was_removed else (CONTRACT,),
                        f"{what}: profile {profile} targets {device.name} and has no installed certificate there, "
                        f"but the check-in delivered none" + (" (a removed certificate must be reissued)" if was_removed else "")))


def _change(old: dict, new: dict) -> str:
    parts = []
    if old["revoked"] != new["revoked"]:
        parts.append("revoked" if new["revoked"] else "un-revoked")
    if old["installed"] != new["installed"]:
        parts.append("removed" if not new["installed"] else "reinstalled")
    return " and ".join(parts) or "left unchanged (revoked=%s, installed=%s)" % (new["revoked"], new["installed"])


def _key(inventory: list[dict]) -> list[tuple]:
    return [(r.get("serial"), r.get("installed"), r.get("revoked")) for r in inventory]


def _event_text(world: World, event: dict) -> str:
    etype = event.get("type", "?") if isinstance(event, dict) else "?"
    args = ", ".join(f"{k}={v}" for k, v in event.items() if k != "type") if isinstance(event, dict) else ""
    device = world.devices.get(event.get("device")) if isinstance(event, dict) else None
    return f"{etype}({args})" + (f" on {device.platform}" if device else "")
