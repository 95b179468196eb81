"""Named invariants checked after every step of the Hypothesis state machine (and of replays).

What this module knows: properties of one observed step (the world before the event, the event,
what apply() did, the inventory before and after), each with a name and a docstring. A violation
cites exactly the statements that speak about the record it concerns (its platform, kind and
situation, looked up in model/rules.py), never a whole family: a Windows-only fault names only
Windows statements. Every violation has a tier, as the oracle's findings do: `document`,
`reading` (an interpretation or contract convention; a deviation, failing only under --strict)
or `contract` (the adapter's interface).
What it does not know: how the step was produced, or any rule of its own: where a property
depends on the document, its domain comes from model/rules.py. The invariants are a second,
named look at what the oracle judges; steps/driver.py merges a violation into the oracle's
finding for the same certificate (the finding then carries the invariant's name), so one fault
is reported once.

tests/test_invariants.py gives every invariant a step that must trip it and one that must not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from certconform.model.oracle import DOCUMENT, INTERFACE, READING, flags, requirement_of
from certconform.model.rules import FORBIDDEN, REQUIRED, default_rules
from certconform.model.world import DEVICE_ACTIONS, World


@dataclass
class Step:
    world: World  # the directory before the event
    event: dict
    outcome: str  # applied | rejected | invalid
    before: list[dict]
    after: list[dict]
    seen_serials: set  # every serial observed before this event
    _situations: dict | None = None
    _pairs: list | None = None

    @property
    def pairs(self) -> list[tuple[dict, dict]]:
        """(before, after) record pairs matched by serial, for records present before the event;
        computed once (every invariant reads them)."""
        if self._pairs is None:
            after = {r.get("serial"): r for r in self.after}
            self._pairs = [(old, after[old["serial"]]) for old in self.before if old.get("serial") in after]
        return self._pairs

    @property
    def situations(self) -> dict:
        """serial -> situation of the records the (performed) event concerns; computed once."""
        if self._situations is None:
            self._situations = self.world.situations(self.event, self.before) if self.outcome == "applied" else {}
        return self._situations


@dataclass(frozen=True)
class Violation:
    statements: tuple[str, ...]
    message: str
    serial: str | None = None
    tier: str = DOCUMENT


@dataclass(frozen=True)
class Invariant:
    name: str
    check: Callable[[Step], list[Violation]]

    @property
    def doc(self) -> str:
        return (self.check.__doc__ or "").strip()


INVARIANTS: list[Invariant] = []


def invariant(name: str):
    def register(fn):
        INVARIANTS.append(Invariant(name, fn))
        return fn

    return register


# --------------------------------------------------------------------------- helpers
def _applied(step: Step, *types: str) -> bool:
    return step.outcome == "applied" and step.event.get("type") in types


def _judged(step: Step, name: str | None) -> bool:
    """False for devices the document does not validate (ANDROID-WORK-1): nothing is judged there."""
    dev = step.world.devices.get(name)
    return dev is not None and not default_rules().not_validated(dev.platform)


def _doc_ids(req) -> tuple[str, ...]:
    return tuple(s for s in req.statements if not s.startswith("I-"))


def _situated(step: Step):
    """(old, new, device, profile, situation) for every record the event concerns."""
    for old, new in step.pairs:
        situation = step.situations.get(old["serial"])
        dev, profile = step.world.devices.get(old["device"]), step.world.profiles.get(old["profile"])
        if situation and dev is not None and profile is not None and _judged(step, dev.name):
            yield old, new, dev, profile, situation


def _acted_device(step: Step):
    """The enrolled device a performed unenroll / wipe / retire acts on, or None."""
    if not _applied(step, *DEVICE_ACTIONS):
        return None
    dev = step.world.devices.get(step.event["device"])
    return dev if dev is not None and dev.enrolled and _judged(step, dev.name) else None


def _state(r: dict) -> tuple:
    return r["revoked"], r["installed"]


# --------------------------------------------------------------------------- invariants
def _acted_on(step: Step, dev, kind: str):
    """(old, new, requirement) for the installed `kind` certificates on the acted-on device."""
    for old, new in step.pairs:
        situation = step.situations.get(old["serial"])
        if old["device"] == dev.name and old["kind"] == kind and old["installed"] and situation \
                and old["profile"] in step.world.profiles:
            yield old, new, requirement_of(default_rules(), step.world, old, situation)


@invariant("device-actions-remove-roots")
def roots_removed(step: Step) -> list[Violation]:
    """Where a section's root list names the device action (e.g. a wipe on Windows or iOS), it
    takes off the device every trusted root chained to a profile of that section's kind that
    targets the device (a root list speaks about its own section's roots)."""
    dev = _acted_device(step)
    if dev is None:
        return []
    return [Violation(_doc_ids(req), f"{step.event['type']} left trusted root {old['serial']} installed on {dev.name} "
                      f"({dev.platform})", old["serial"])
            for old, new, req in _acted_on(step, dev, "trusted_root")
            if new["installed"] and all(r.remove == REQUIRED for r in req.readings)]


@invariant("device-actions-revoke-and-remove-intune-certificates")
def device_actions_revoke_and_remove(step: Step) -> list[Violation]:
    """Where a platform's list says a device action revokes and removes an Intune-issued SCEP or
    PKCS certificate, both have happened when the action returns (no late revocation)."""
    dev = _acted_device(step)
    if dev is None:
        return []
    out = []
    for kind in ("scep", "pkcs"):
        for old, new, req in _acted_on(step, dev, kind):
            if [(r.revoke, r.remove) for r in req.readings] == [(REQUIRED, REQUIRED)] and (not new["revoked"] or new["installed"]):
                out.append(Violation(_doc_ids(req), f"{step.event['type']} on {dev.platform}: {old['kind']} {old['serial']} "
                                     f"must be revoked and removed, observed {flags(new)}", old["serial"]))
    return out


@invariant("stay-lists-are-honoured")
def stays(step: Step) -> list[Violation]:
    """Where the table says a certificate stays for this event (a licence change, a PKCS profile
    update, ...), it is neither revoked nor removed. Tier document where a statement says so,
    reading where only our interpretation does (e.g. I-LICENCE-NOTHING for roots)."""
    out = []
    for old, new, dev, profile, situation in _situated(step):
        req = requirement_of(default_rules(), step.world, old, situation)
        if _state(old) == _state(new):
            continue
        if all((r.revoke, r.remove) == (FORBIDDEN, FORBIDDEN) for r in req.readings):
            out.append(Violation(_doc_ids(req), f"{step.event['type']} ({situation}) changed {old['kind']} "
                                 f"{old['serial']} on {dev.platform}, which must stay", old["serial"]))
        elif all((r.revoke, r.remove) == (FORBIDDEN, FORBIDDEN) for r in req.strict_readings) \
                and req.allows(old, new) is not None:
            out.append(Violation(req.interpretations, f"{step.event['type']} ({situation}) changed {old['kind']} "
                                 f"{old['serial']} on {dev.platform}, which stays by our reading", old["serial"], READING))
    return out


@invariant("imported-certificates-leave-with-company-data")
def imported_removed(step: Step) -> list[Violation]:
    """Unenroll, wipe and retire take imported PKCS certificates off the device, wherever the
    table requires it (not on Android legacy, where the document contradicts itself)."""
    dev = _acted_device(step)
    if dev is None:
        return []
    return [Violation(_doc_ids(req), f"{step.event['type']} left imported {old['serial']} on {dev.name} ({dev.platform})",
                      old["serial"])
            for old, new, req in _acted_on(step, dev, "pkcs_imported")
            if new["installed"] and all(r.remove == REQUIRED for r in req.readings)]


@invariant("outsiders-are-never-revoked")
def never_revoked(step: Step) -> list[Violation]:
    """The MDM does not revoke a SCEP certificate from a third-party CA (GEN-3P-1; the PKCS lists
    hold for every CA, I-PKCS-LISTS-EVERY-CA), nor trusted roots and imported PKCS certificates
    (our reading I-OUTSIDERS-NEVER-REVOKED)."""
    out = []
    for old, new in step.pairs:
        profile = step.world.profiles.get(old["profile"])
        if profile is None or not _judged(step, old["device"]) or old["revoked"] or not new["revoked"]:
            continue
        if old["kind"] in ("trusted_root", "pkcs_imported"):
            out.append(Violation(("I-OUTSIDERS-NEVER-REVOKED",), f"{old['kind']} {old['serial']} was revoked",
                                 old["serial"], READING))
        elif profile.ca == "third_party" and old["kind"] == "scep":
            out.append(Violation(("GEN-3P-1",), f"third-party {old['kind']} {old['serial']} was revoked", old["serial"],
                                 DOCUMENT))
    return out


@invariant("android-legacy-certificates-are-never-removed-by-the-mdm")
def legacy_never_removed(step: Step) -> list[Violation]:
    """On Android legacy devices the events the table covers take no certificate off (ANDROID-LEGACY-1),
    except where it leaves removal open (a wipe) or contradicts itself (imported PKCS)."""
    out = []
    for old, new, dev, profile, situation in _situated(step):
        req = requirement_of(default_rules(), step.world, old, situation)
        if req.status == "not-enabled" and all(r.remove == FORBIDDEN for r in req.readings) \
                and old["installed"] and not new["installed"]:
            out.append(Violation(_doc_ids(req), f"{step.event['type']} removed {old['kind']} {old['serial']} from "
                                 f"Android legacy device {dev.name}", old["serial"]))
    return out


@invariant("events-on-one-device-leave-other-devices-alone")
def other_devices_untouched(step: Step) -> list[Violation]:
    """A device action, check-in or manual deletion on one device changes no other device's
    certificates (our reading I-SCOPE-TARGETING)."""
    if step.event.get("type") not in DEVICE_ACTIONS + ("check_in", "delete_certificate"):
        return []
    target = step.event.get("device")
    return [Violation(("I-SCOPE-TARGETING",), f"{step.event['type']} on {target} changed {old['kind']} {old['serial']} "
                      f"on {old['device']}", old["serial"], READING)
            for old, new in step.pairs
            if old["device"] != target and _judged(step, old["device"]) and _state(old) != _state(new)]


@invariant("check-in-restores-targeted-certificates")
def check_in_restores(step: Step) -> list[Violation]:
    """After a check-in, every profile that targets the enrolled device (of a licensed user) has an
    installed certificate there: the contract's check-in, and GEN-MANUAL-2 where someone deleted a
    SCEP or PKCS certificate of it by hand since the device's last check-in."""
    if not _applied(step, "check_in") or not _judged(step, step.event["device"]):
        return []
    name = step.event["device"]
    if not step.world.devices[name].enrolled or not step.world.delivery_required(name):
        return []
    held = {r["profile"] for r in step.after if r["device"] == name and r["installed"]}
    out = []
    for p in step.world.targeting_profiles(name):
        if p.name in held or p.kind not in step.world.observes:  # delivered unseen ('observes')
            continue
        reissue = (name, p.name) in step.world.manually_deleted and p.kind in ("scep", "pkcs")
        out.append(Violation(("GEN-MANUAL-2",) if reissue else ("CONTRACT",),
                             f"after check-in, profile {p.name} targets {name} but no certificate of it is installed",
                             None, DOCUMENT if reissue else INTERFACE))
    return out


@invariant("certificates-arrive-only-at-check-in")
def delivery_only_at_check_in(step: Step) -> list[Violation]:
    """New certificates appear only at a check-in, at most one per profile (our reading
    I-DELIVERY-AT-CHECK-IN, a convention of the contract)."""
    known = {r.get("serial") for r in step.before}
    new = [r for r in step.after if r.get("serial") not in known]
    if not new:
        return []
    if not _applied(step, "check_in"):
        return [Violation(("I-DELIVERY-AT-CHECK-IN",), f"{step.event.get('type')} delivered {r.get('kind')} "
                          f"{r.get('serial')} to {r.get('device')}", r.get("serial"), READING) for r in new]
    profiles = [r.get("profile") for r in new if _judged(step, r.get("device"))]
    return [Violation(("I-DELIVERY-AT-CHECK-IN",), f"check-in delivered {profiles.count(p)} certificates of {p}",
                      None, READING) for p in sorted(set(profiles)) if profiles.count(p) > 1]


@invariant("macos-wipe-is-refused")
def macos_wipe_refused(step: Step) -> list[Violation]:
    """A wipe of an enrolled macOS device is refused (our reading I-MACOS-WIPE-REFUSED of MAC-WIPE-1),
    and a refused event changes nothing (the contract)."""
    if step.event.get("type") != "wipe":
        return []
    dev = step.world.devices.get(step.event.get("device"))
    if dev is None or not dev.enrolled or default_rules().refusal(dev.platform, "wipe") is None:
        return []
    if step.outcome == "applied":
        return [Violation(("I-MACOS-WIPE-REFUSED",), f"wipe of macOS device {dev.name} was performed, not refused",
                          None, READING)]
    if [_key(r) for r in step.after] != [_key(r) for r in step.before]:
        return [Violation(("CONTRACT",), f"the refused macOS wipe of {dev.name} changed the inventory", None, INTERFACE)]
    return []


@invariant("revocation-is-permanent")
def revocation_permanent(step: Step) -> list[Violation]:
    """A certificate once reported revoked is revoked in every later observation (our reading
    I-REVOCATION-PERMANENT)."""
    return [Violation(("I-REVOCATION-PERMANENT",), f"{old['serial']} was revoked and is now reported not revoked",
                      old["serial"], READING)
            for old, new in step.pairs if old["revoked"] and not new["revoked"] and _judged(step, old["device"])]


@invariant("removed-certificates-are-never-reinstalled")
def never_reinstalled(step: Step) -> list[Violation]:
    """A removed certificate never comes back under its serial: a reissue is a new certificate (our
    reading I-NO-REINSTALL)."""
    return [Violation(("I-NO-REINSTALL",), f"{old['serial']} on {old['device']} was removed and is installed again",
                      old["serial"], READING)
            for old, new in step.pairs if not old["installed"] and new["installed"] and _judged(step, old["device"])]


@invariant("serials-are-unique")
def serials_unique(step: Step) -> list[Violation]:
    """Every serial appears once in an observation, and a new certificate never takes a serial
    that an earlier observation showed (the contract: serials are unique across the inventory)."""
    seen, out = set(), []
    for r in step.after:
        if r.get("serial") in seen:
            out.append(Violation(("CONTRACT",), f"serial {r.get('serial')} appears more than once", r.get("serial"),
                                 INTERFACE))
        seen.add(r.get("serial"))
    current = {r.get("serial") for r in step.before}
    for r in step.after:
        if r.get("serial") not in current and r.get("serial") in step.seen_serials:
            out.append(Violation(("CONTRACT",), f"new certificate on {r.get('device')} reuses serial {r.get('serial')}, "
                                 "seen in an earlier observation", r.get("serial"), INTERFACE))
    return out


@invariant("records-are-never-dropped")
def records_kept(step: Step) -> list[Violation]:
    """observe() lists every certificate ever delivered, removed ones included, in delivery order."""
    after = [r.get("serial") for r in step.after[: len(step.before)]]
    if after != [r.get("serial") for r in step.before]:
        return [Violation(("CONTRACT",), "observe() dropped or reordered earlier records", None, INTERFACE)]
    return []


def _key(r: dict) -> tuple:
    return r.get("serial"), r.get("installed"), r.get("revoked")


def check_all(step: Step) -> list[tuple[Invariant, Violation]]:
    """Every violated invariant with its violation."""
    return [(inv, v) for inv in INVARIANTS for v in inv.check(step)]
