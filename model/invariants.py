"""Named invariants checked after every step of the Hypothesis state machine.

What this module knows: properties that must hold of one observed step (the world before the
event, the event, what apply() did, the inventory before and after), each named, each citing
the statement ids it enforces (or "expected of any MDM" / the contract). Where a property
depends on the document (which platforms remove roots on a wipe, say), the invariant takes its
domain from model/rules.py, so the behaviour table stays the single owner of every rule; the
invariant is a focused second look with its own name and message.
What it does not know: how the step was produced; conformance/test_stateful.py and the
regression steps (steps/replay_steps.py) run them through steps/driver.py.

tests/test_invariants.py checks each invariant's cited statements against behaviour.yaml and
that each one can fail.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from model.rules import FORBIDDEN, REQUIRED, default_rules
from model.world import DEVICE_ACTIONS, World


@dataclass
class Step:
    world: World  # the directory before the event
    event: dict
    outcome: str  # applied | rejected | invalid
    before: list[dict]
    after: list[dict]
    seen_serials: set  # every serial observed before this event


@dataclass(frozen=True)
class Invariant:
    name: str
    statements: tuple[str, ...]
    check: Callable[[Step], list[str]]

    @property
    def doc(self) -> str:
        return (self.check.__doc__ or "").strip()


INVARIANTS: list[Invariant] = []


def invariant(name: str, *statements: str):
    def register(fn):
        INVARIANTS.append(Invariant(name, statements, fn))
        return fn

    return register


def _pairs(step: Step):
    """(before, after) record pairs matched by serial, for records present before the event."""
    after = {r.get("serial"): r for r in step.after}
    return [(old, after[old["serial"]]) for old in step.before if old.get("serial") in after]


def _device(step: Step, name: str):
    return step.world.devices.get(name)


def _applied(step: Step, *types: str) -> bool:
    return step.outcome == "applied" and step.event.get("type") in types


# --------------------------------------------------------------------------- invariants
@invariant("device-actions-remove-roots-on-windows-and-ios",
           "WIN-SCEP-ROOT-1", "WIN-SCEP-ROOT-2", "WIN-SCEP-ROOT-3", "WIN-PKCS-ROOT-1", "WIN-PKCS-ROOT-2",
           "WIN-PKCS-ROOT-3", "IOS-SCEP-ROOT-1", "IOS-SCEP-ROOT-2", "IOS-SCEP-ROOT-3", "IOS-PKCS-ROOT-1",
           "IOS-PKCS-ROOT-2", "IOS-PKCS-ROOT-3")
def roots_removed(step: Step) -> list[str]:
    """Wipe, retire and unenroll always take the trusted root certificates off a Windows or iOS device."""
    if not _applied(step, *DEVICE_ACTIONS):
        return []
    dev = _device(step, step.event["device"])
    if dev is None or dev.platform not in ("windows", "ios"):
        return []
    return [f"{step.event['type']} left trusted root {old['serial']} installed on {dev.name} ({dev.platform})"
            for old, new in _pairs(step)
            if old["device"] == dev.name and old["kind"] == "trusted_root" and old["installed"] and new["installed"]]


@invariant("device-actions-revoke-and-remove-intune-certificates",
           "WIN-SCEP-RR-1", "WIN-SCEP-RR-2", "WIN-SCEP-RR-3", "WIN-PKCS-RR-1", "WIN-PKCS-RR-2", "WIN-PKCS-RR-3",
           "IOS-SCEP-RR-1", "IOS-SCEP-RR-2", "IOS-SCEP-RR-3", "IOS-PKCS-RR-1", "IOS-PKCS-RR-2", "IOS-PKCS-RR-3",
           "KNOX-SCEP-RR-1", "KNOX-SCEP-RR-2", "KNOX-PKCS-RR-1", "KNOX-PKCS-RR-2", "KNOX-PKCS-RR-3",
           "MAC-SCEP-RR-1", "MAC-SCEP-RR-2", "MAC-PKCS-RR-1", "MAC-PKCS-RR-2")
def device_actions_revoke_and_remove(step: Step) -> list[str]:
    """Where the platform's list says a device action revokes and removes an Intune-issued SCEP or PKCS
    certificate, both happen by the time the action returns (no late revocation)."""
    if not _applied(step, *DEVICE_ACTIONS):
        return []
    dev = _device(step, step.event["device"])
    out = []
    for old, new in _pairs(step):
        if old["device"] != step.event["device"] or old["kind"] not in ("scep", "pkcs") or not old["installed"]:
            continue
        profile = step.world.profiles.get(old["profile"])
        if profile is None or profile.ca != "intune":
            continue
        req = default_rules().requirement(dev.platform, old["kind"], step.event["type"], "intune")
        if [(r.revoke, r.remove) for r in req.readings] == [(REQUIRED, REQUIRED)]:
            if not new["revoked"] or new["installed"]:
                out.append(f"{step.event['type']} on {dev.platform}: {old['kind']} {old['serial']} must be revoked and "
                           f"removed, observed revoked={new['revoked']} installed={new['installed']}")
    return out


@invariant("licence-events-change-nothing", "WIN-SCEP-STAY-1", "WIN-SCEP-STAY-2", "WIN-PKCS-STAY-1",
           "WIN-PKCS-STAY-2", "IOS-SCEP-STAY-1", "IOS-SCEP-STAY-2", "IOS-PKCS-STAY-1", "IOS-PKCS-STAY-2",
           "KNOX-SCEP-STAY-1", "KNOX-SCEP-STAY-2", "KNOX-PKCS-STAY-1", "KNOX-PKCS-STAY-2", "MAC-SCEP-STAY-1",
           "MAC-SCEP-STAY-2", "MAC-PKCS-STAY-1", "MAC-PKCS-STAY-2", "I-LICENCE-NOTHING")
def licence_events_change_nothing(step: Step) -> list[str]:
    """Losing or withdrawing a licence never revokes or removes any certificate."""
    if not _applied(step, "lose_license", "withdraw_license"):
        return []
    return [f"{step.event['type']} changed {old['kind']} {old['serial']} on {old['device']}"
            for old, new in _pairs(step) if (old["revoked"], old["installed"]) != (new["revoked"], new["installed"])]


@invariant("revocation-is-permanent", "CONTRACT")
def revocation_permanent(step: Step) -> list[str]:
    """A certificate once reported revoked is revoked in every later observation (expected of any CA)."""
    return [f"{old['serial']} was revoked and is now reported not revoked" for old, new in _pairs(step)
            if old["revoked"] and not new["revoked"]]


@invariant("serials-are-unique", "CONTRACT")
def serials_unique(step: Step) -> list[str]:
    """Every serial appears once in the inventory, and a serial is never reused for a new certificate."""
    seen, out = set(), []
    for r in step.after:
        if r.get("serial") in seen:
            out.append(f"serial {r.get('serial')} appears more than once")
        seen.add(r.get("serial"))
    known = step.seen_serials | {r.get("serial") for r in step.before}
    for r in step.after[len(step.before):]:
        if r.get("serial") in known:
            out.append(f"new certificate on {r.get('device')} reuses serial {r.get('serial')}")
    return out


@invariant("removed-certificates-are-never-reinstalled", "GEN-MANUAL-2", "CONTRACT")
def never_reinstalled(step: Step) -> list[str]:
    """A removed certificate never comes back: a reissue is a new certificate with a new serial."""
    return [f"{old['serial']} on {old['device']} was removed and is installed again" for old, new in _pairs(step)
            if not old["installed"] and new["installed"]]


@invariant("records-are-never-dropped", "CONTRACT")
def records_kept(step: Step) -> list[str]:
    """observe() lists every certificate ever delivered, removed ones included, in delivery order."""
    after = [r.get("serial") for r in step.after[: len(step.before)]]
    if after != [r.get("serial") for r in step.before]:
        return ["observe() dropped or reordered earlier records"]
    return []


@invariant("events-on-one-device-leave-other-devices-alone", "I-SCOPE-TARGETING")
def other_devices_untouched(step: Step) -> list[str]:
    """A device action, check-in or manual deletion on one device never changes another device's
    certificates (expected of any MDM)."""
    if step.event.get("type") not in DEVICE_ACTIONS + ("check_in", "delete_certificate"):
        return []
    target = step.event.get("device")
    return [f"{step.event['type']} on {target} changed {old['kind']} {old['serial']} on {old['device']}"
            for old, new in _pairs(step)
            if old["device"] != target and (old["revoked"], old["installed"]) != (new["revoked"], new["installed"])]


@invariant("check-in-restores-targeted-certificates", "GEN-MANUAL-2", "CONTRACT")
def check_in_restores(step: Step) -> list[str]:
    """After a check-in, every profile that targets the enrolled device (of a licensed user) has an
    installed certificate there."""
    if not _applied(step, "check_in"):
        return []
    name = step.event["device"]
    if not step.world.devices[name].enrolled or not step.world.delivery_required(name):
        return []
    held = {r["profile"] for r in step.after if r["device"] == name and r["installed"]}
    return [f"after check-in, profile {p.name} targets {name} but no certificate of it is installed"
            for p in step.world.targeting_profiles(name) if p.name not in held]


@invariant("third-party-and-imported-certificates-are-never-revoked", "GEN-3P-1", "I-3P-PKCS", "GEN-IMPORTED-1",
           "GEN-IMPORTED-2")
def never_revoked(step: Step) -> list[str]:
    """The MDM cannot revoke at a third-party CA, and did not issue imported PKCS certificates (nor roots)."""
    out = []
    for old, new in _pairs(step):
        profile = step.world.profiles.get(old["profile"])
        outsider = old["kind"] in ("pkcs_imported", "trusted_root") or (profile is not None and profile.ca == "third_party")
        if outsider and new["revoked"] and not old["revoked"]:
            out.append(f"{old['kind']} {old['serial']} (CA {profile.ca if profile else '?'}) was revoked")
    return out


@invariant("android-legacy-certificates-are-never-removed-by-the-mdm", "ANDROID-LEGACY-1")
def legacy_never_removed(step: Step) -> list[str]:
    """On Android legacy devices the MDM takes no certificate off (only a person deleting it by hand does)."""
    if step.outcome != "applied" or step.event.get("type") == "delete_certificate":
        return []
    out = []
    for old, new in _pairs(step):
        dev = _device(step, old["device"])
        if dev is not None and dev.platform == "android_legacy" and old["installed"] and not new["installed"]:
            out.append(f"{step.event['type']} removed {old['kind']} {old['serial']} from Android legacy device {dev.name}")
    return out


@invariant("certificates-arrive-only-at-check-in", "CONTRACT")
def delivery_only_at_check_in(step: Step) -> list[str]:
    """New certificates appear only at a check-in, at most one per targeting profile without one."""
    new = step.after[len(step.before):]
    if not new:
        return []
    if not _applied(step, "check_in"):
        return [f"{step.event.get('type')} delivered {r.get('kind')} {r.get('serial')} to {r.get('device')}" for r in new]
    profiles = [r.get("profile") for r in new]
    return [f"check-in delivered {profiles.count(p)} certificates of {p}" for p in set(profiles) if profiles.count(p) > 1]


@invariant("macos-wipe-is-refused", "MAC-WIPE-1", "I-MACOS-WIPE-REFUSED")
def macos_wipe_refused(step: Step) -> list[str]:
    """A wipe of an enrolled macOS device is refused (EventRejected) and changes nothing."""
    if step.event.get("type") != "wipe":
        return []
    dev = _device(step, step.event.get("device"))
    if dev is None or dev.platform != "macos" or not dev.enrolled:
        return []
    out = [] if step.outcome == "rejected" else [f"wipe of macOS device {dev.name} was {step.outcome}, not refused"]
    if step.after != step.before:
        out.append(f"the macOS wipe of {dev.name} changed the inventory")
    return out


@invariant("imported-certificates-leave-with-company-data", "GEN-IMPORTED-1", "GEN-IMPORTED-2")
def imported_removed(step: Step) -> list[str]:
    """Unenroll, wipe and retire take imported PKCS certificates off the device (except where the
    Android legacy note forbids removal, and where the table leaves it open)."""
    if not _applied(step, *DEVICE_ACTIONS):
        return []
    dev = _device(step, step.event["device"])
    req = default_rules().requirement(dev.platform, "pkcs_imported", step.event["type"], None)
    if not all(r.remove == REQUIRED for r in req.readings):
        return []
    return [f"{step.event['type']} left imported {old['serial']} on {dev.name} ({dev.platform})"
            for old, new in _pairs(step)
            if old["device"] == dev.name and old["kind"] == "pkcs_imported" and old["installed"] and new["installed"]]


@invariant("stay-lists-are-honoured", "WIN-SCEP-STAY-3", "WIN-PKCS-STAY-4", "IOS-PKCS-STAY-4", "KNOX-PKCS-STAY-4",
           "KNOX-PKCS-STAY-5", "MAC-PKCS-STAY-3", "MAC-PKCS-STAY-5")
def stays(step: Step) -> list[str]:
    """Where every reading of the table says a certificate stays for this event (e.g. a PKCS profile
    update on Windows, iOS, KNOX and macOS), it is neither revoked nor removed."""
    if step.outcome != "applied":
        return []
    out = []
    situations = step.world.situations(step.event, step.before) if step.event.get("type") in _SCOPED else {}
    for old, new in _pairs(step):
        situation = situations.get(old["serial"])
        dev, profile = _device(step, old["device"]), step.world.profiles.get(old["profile"])
        if situation is None or dev is None or profile is None:
            continue
        req = default_rules().requirement(dev.platform, old["kind"], situation, profile.ca)
        if all((r.revoke, r.remove) == (FORBIDDEN, FORBIDDEN) for r in req.readings):
            if (old["revoked"], old["installed"]) != (new["revoked"], new["installed"]):
                out.append(f"{step.event['type']} ({situation}) changed {old['kind']} {old['serial']} on "
                           f"{dev.platform}, which must stay ({', '.join(req.statements)})")
    return out


_SCOPED = ("remove_member", "unassign_profile", "update_profile", "delete_user", "delete_group")


def check_all(step: Step) -> list[tuple[Invariant, str]]:
    """Every violated invariant with its message."""
    return [(inv, msg) for inv in INVARIANTS for msg in inv.check(step)]
