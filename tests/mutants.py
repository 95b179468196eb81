"""The mutant catalogue: faulty MDMs the conformance suite must catch, and correct ones it must pass.

Every entry is a zero-argument class usable as `pytest --mdm tests.mutants:NAME`. Each wraps the
bundled mock MDM (`mdm.load_adapter("mock")`) through the adapter contract only -- reset / apply /
observe -- by intercepting events (sometimes sending the mock extra contract events, e.g. a
`delete_certificate` to take a certificate off) and post-processing observations (overlays on the
inventory records). A wrapper keeps a small shadow of the directory (`Shadow`) so it knows each
device's platform and user and each profile's kind, CA and targeting; it shares no code with the
reference model.

Four lists, each class with a docstring naming the fault (or the freedom used) and the statement
ids / interpretation ids / contract rule involved (`breaks` for faults, `uses` for freedoms):

  MUTANTS   one realistic bug each, breaking the document's text or the contract; the default run
            must fail (exit code 1)
  STRICT    depart only from one of our readings (behaviour.yaml interpretations of tier
            `reading`, named in the docstring): the default run must pass (exit 0) and the run
            with --strict-readings must fail (exit 1)
  HONEST    pass-through wrappers and the reference model; both runs must pass
  LEGIT     differ from the mock only where the document is silent or contradicts itself
            (document-tier interpretations, conflicts, open readings) and no reading is
            involved; both runs must pass

Mutants of tenant shapes the default random tenant does not build (several profiles of a kind,
reassignment, look-alike or re-used user names, actions on unenrolled devices) each have a
regression feature under features/regressions/ that builds the shape.

The catalogue is also rebuilt around the realistic mock (the `realistic` namespace, entries
`realistic.NAME`, spec `tests.mutants:realistic.NAME`): every mutant, two mutants of timing that
exist only there (RevocationNeverLands, RevocationPastSettle) and PassThrough wrap
MockMDM(realistic=True) with small delays, so the run uses its capabilities (settle polling, a
device pool, no deletion by hand). The hooks see what an event set in motion through the mock's
eventual inventory, and take a certificate off through an overlay. Groups there:
  mutant      killed by the default run; a mutant of timing (`late`) only by a failure that names
              the settle wait
  unkillable  its fault needs an event the realistic mock cannot perform (`needs`: a deletion by
              hand): honestly not killable under those capabilities; its run must pass with every
              statement it breaks reported not-supported (its synchronous twin stays killed)
  honest      PassThrough around the realistic mock must pass (a revocation that lands within
              settle_s is not a fault: the realistic mock itself does that)

The bottom of the module runs the catalogue (used by tests/test_mutants.py and
benchmarks/mutation_report.py): `run_catalogue()` runs the conformance suite in a process per
entry and tier (forked from a warm process that has pytest, Hypothesis and the other libraries
imported: tests/warm_pytest.py) and reports what caught each entry.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from certconform import mdm
from certconform.conformance.product import key_of
from certconform.model.reference import ReferenceMDM

ISSUED = ("scep", "pkcs")  # kinds the MDM's CA can issue (and so revoke)
DEVICE_ACTIONS = ("unenroll", "wipe", "retire")


# ============================================================================ shadow directory
@dataclass
class _Device:
    platform: str
    user: str | None  # None once the enrolling user was deleted (a new user of that name is someone else)
    enrolled: bool = True


@dataclass
class _Profile:
    kind: str
    ca: str | None
    root: str | None = None  # the trusted root profile a SCEP / PKCS profile names
    groups: set = field(default_factory=set)


class Shadow:
    """The wrapper's own view of the directory, updated after every event the mock accepted."""

    def __init__(self) -> None:
        self.users: dict[str, bool] = {}
        self.groups: dict[str, set] = {}
        self.devices: dict[str, _Device] = {}
        self.profiles: dict[str, _Profile] = {}
        self.enroll_order: list[str] = []

    def apply(self, e: dict) -> None:
        t = e["type"]
        if t == "create_user":
            self.users[e["user"]] = True
        elif t == "create_group":
            self.groups[e["group"]] = set()
        elif t == "add_member":
            self.groups[e["group"]].add(e["member"])
        elif t == "remove_member":
            self.groups[e["group"]].discard(e["member"])
        elif t == "enroll":
            self.devices[e["device"]] = _Device(e["platform"], e["user"])
            self.enroll_order.append(e["device"])
        elif t == "create_profile":
            issued = e["kind"] in ISSUED
            self.profiles[e["profile"]] = _Profile(e["kind"], e.get("ca") if issued else None,
                                                   e.get("root") if issued else None)
        elif t == "assign_profile":
            self.profiles[e["profile"]].groups.add(e["group"])
        elif t == "unassign_profile":
            self.profiles[e["profile"]].groups.discard(e["group"])
        elif t in DEVICE_ACTIONS:
            self.devices[e["device"]].enrolled = False
        elif t in ("lose_license", "withdraw_license"):
            self.users[e["user"]] = False
        elif t == "delete_user":
            self.users.pop(e["user"], None)
            for members in self.groups.values():
                members.discard(e["user"])
            for d in self.devices.values():
                if d.user == e["user"]:
                    d.user = None  # the devices are orphaned: a later user of the same name does not own them
        elif t == "delete_group":
            self.groups.pop(e["group"], None)
            for p in self.profiles.values():
                p.groups.discard(e["group"])

    def reaches(self, group: str, device: str) -> bool:
        members = self.groups.get(group, set())
        d = self.devices[device]
        return device in members or (d.user is not None and d.user in members)

    def targets(self, profile: str, device: str) -> bool:
        d, p = self.devices.get(device), self.profiles.get(profile)
        return bool(d and p and d.enrolled and any(self.reaches(g, device) for g in p.groups))

    def platform(self, device: str) -> str | None:
        d = self.devices.get(device)
        return d.platform if d else None

    def kind(self, profile: str) -> str | None:
        p = self.profiles.get(profile)
        return p.kind if p else None

    def ca(self, profile: str) -> str | None:
        p = self.profiles.get(profile)
        return p.ca if p else None

    def copy(self) -> "Shadow":
        """A copy that shares nothing mutable with this one (what copy.deepcopy gives, at a tenth
        of its cost: the wrapper copies its shadow before every event)."""
        new = Shadow.__new__(Shadow)
        new.users = dict(self.users)
        new.groups = {g: set(members) for g, members in self.groups.items()}
        new.devices = {name: replace(d) for name, d in self.devices.items()}
        new.profiles = {name: replace(p, groups=set(p.groups)) for name, p in self.profiles.items()}
        new.enroll_order = list(self.enroll_order)
        return new


def _cell_of(name) -> str | None:
    """The cell prefix a name of an event carries (conformance/product.py), or None."""
    if not isinstance(name, str):
        return None
    return key_of({"device": name})


# ============================================================================ the wrapper base
class MockWrapper:
    """Pass-through of the bundled mock with hooks and inventory overlays for subclasses.

    Subclasses override `on_event(event, before, shadow_before)` (called after the mock applied the
    event; `before` is the mock's inventory before it, `self.shadow` already reflects the event)
    and/or `intercept(event)` (called before; return True if the wrapper handled the event itself).
    Overlays, keyed by the mock's serial, change what observe() reports:
      force_revoked / hide_revoked / force_installed   override a record's flags (hide_revoked also
                                                       drops a "revocation": "pending" mark)
      force_removed                                    the record reports installed: false
      hidden                                           the record is not reported at all
      mirror[old] = new                                `old` reports `new`'s flags; `new` is hidden
      alias[serial] = other                            the record is reported under serial `other`
    """

    fault = ""
    breaks: tuple[str, ...] = ()
    # Realistic variant (the `realistic` namespace below): the inner mock is MockMDM(realistic=True)
    # with these small delays, so revocations and removals land after apply() returned. The hooks
    # then see what an event set in motion through `view()` (the mock's eventual inventory), and a
    # certificate is taken off through the force_removed overlay, since the realistic mock refuses
    # delete_certificate.
    realistic = False
    edition: str | None = None  # the edition the entry is judged by (and the mock follows); None: the default
    REVOCATION_DELAY = 0.01
    REMOVAL_DELAY = 0.02

    def __init__(self) -> None:
        if self.realistic:
            from certconform.mdm.mock import MockMDM

            self.inner = MockMDM(realistic=True, revocation_delay=self.REVOCATION_DELAY,
                                 removal_delay=self.REMOVAL_DELAY)
        else:
            self.inner = mdm.load_adapter(f"mock@{self.edition}" if self.edition else "mock")
        self._reset_state()

    def capabilities(self) -> dict:
        """The inner mock's capabilities (the realistic one declares settle_s, events, devices)."""
        return self.inner.capabilities()

    def view(self) -> list[dict]:
        """The mock's inventory for the hooks: in realistic mode as it will be once what is
        pending has landed (so a hook sees the revocations and removals an event asked for).
        While an event of a cell is applied (its names carry the cell's prefix, see
        conformance/product.py), only that cell's records: an event reaches nothing else, and the
        tenant of a run with cells holds every cell's records (read incrementally through the
        mock's observe_since, so a hook costs what the cell holds, not what the run does)."""
        if not self.realistic:
            return self.inner.observe()
        if self._scope is None:
            return self.inner.eventual()
        answer = self.inner.observe_since(self._cursor)
        self._cursor = answer["cursor"]
        if answer["full"]:
            self._copy, self._cells = [], {}
        copy = self._copy
        copy.extend([None] * (answer["count"] - len(copy)))
        for change in answer["changes"]:
            i, record = change["index"], change["record"]
            if copy[i] is None:
                self._cells.setdefault(key_of(record), []).append(i)
            copy[i] = record
        pending = self.inner._pending_removals
        out = []
        for i in self._cells.get(self._scope, ()):
            r = dict(copy[i])
            if r.pop("revocation", None) == "pending":
                r["revoked"] = True
            if r["serial"] in pending:
                r["installed"] = False
            out.append(r)
        return out

    def _reset_state(self) -> None:
        self._scope, self._cursor, self._copy, self._cells = None, None, [], {}
        self.shadow = Shadow()
        self._shadows: dict = {None: self.shadow}  # cell prefix -> the shadow of that cell's events
        self.force_revoked: set[str] = set()
        self.hide_revoked: set[str] = set()
        self.force_installed: set[str] = set()
        self.force_removed: set[str] = set()
        self.hidden: set[str] = set()
        self.mirror: dict[str, str] = {}
        self.alias: dict[str, str] = {}
        self.state: dict = {}

    # -- contract --------------------------------------------------------------------------------
    def reset(self) -> None:
        self.inner.reset()
        self._reset_state()

    def apply(self, event: dict) -> None:
        self._scope = next((k for k in map(_cell_of, event.values()) if k), None) if isinstance(event, dict) else None
        # a shadow of the cell's own world (the tenant of a run with cells holds every cell's)
        self.shadow = self._shadows.setdefault(self._scope, Shadow())
        try:
            before = self.view()
            shadow_before = self.shadow.copy()
            if not self.intercept(event):
                self.inner.apply(event)  # ValueError / EventRejected propagate; nothing changed
            self.shadow.apply(event)
            self.on_event(event, before, shadow_before)
        finally:
            self._scope = None

    def observe(self) -> list[dict]:
        records = self.inner.observe()
        by_serial = {r["serial"]: r for r in records}
        out = []
        for r in records:
            s = r["serial"]
            if s in self.hidden or s in self.mirror.values():
                continue
            r = dict(r)
            if s in self.mirror and self.mirror[s] in by_serial:
                src = by_serial[self.mirror[s]]
                r["installed"], r["revoked"] = src["installed"], r["revoked"] or src["revoked"]
            if s in self.force_installed:
                r["installed"] = True
            if s in self.force_removed:
                r["installed"] = False
            if s in self.force_revoked:
                r["revoked"] = True
                r.pop("revocation", None)
            if s in self.hide_revoked:
                r["revoked"] = False
                r.pop("revocation", None)
            if s in self.alias:
                r["serial"] = self.alias[s]
            out.append(r)
        return self.post_observe(out)

    # -- hooks -----------------------------------------------------------------------------------
    def intercept(self, event: dict) -> bool:
        return False

    def on_event(self, event: dict, before: list[dict], shadow_before: Shadow) -> None:
        pass

    def post_observe(self, records: list[dict]) -> list[dict]:
        return records

    # -- helpers for subclasses ------------------------------------------------------------------
    def changes(self, before: list[dict]):
        """(old, new) record pairs of the mock for this event, plus the records delivered by it."""
        now = self.view()
        old = {r["serial"]: r for r in before}
        pairs = [(old[r["serial"]], r) for r in now if r["serial"] in old]
        return pairs, [r for r in now if r["serial"] not in old]

    def newly_revoked(self, before: list[dict]) -> list[dict]:
        return [new for old, new in self.changes(before)[0] if new["revoked"] and not old["revoked"]]

    def newly_removed(self, before: list[dict]) -> list[dict]:
        return [new for old, new in self.changes(before)[0] if old["installed"] and not new["installed"]]

    def delivered(self, before: list[dict]) -> list[dict]:
        return self.changes(before)[1]

    def installed_on(self, device: str) -> list[dict]:
        return [r for r in self.view() if r["device"] == device and r["installed"]]

    def on_platform(self, record: dict, platform: str) -> bool:
        return self.shadow.platform(record["device"]) == platform

    def take_off(self, record: dict) -> None:
        """Remove a certificate from its device through the contract (no revocation); the
        realistic mock refuses that event, so there the record is reported removed instead."""
        if self.realistic:
            self.force_removed.add(record["serial"])
            return
        self.inner.apply({"type": "delete_certificate", "device": record["device"], "profile": record["profile"]})

    def licence_holder_devices(self, event: dict) -> list:
        """(name, device) of the devices of the user a lose/withdraw_license event names; [] for other events."""
        if event["type"] not in ("lose_license", "withdraw_license"):
            return []
        return [(name, d) for name, d in self.shadow.devices.items() if d.user == event["user"]]

    def issued_by_mdm(self, record: dict) -> bool:
        return record["kind"] in ISSUED and self.shadow.ca(record["profile"]) == "intune"


# ============================================================================ honest wrappers
class PassThrough(MockWrapper):
    """HONEST: the mock, unchanged, behind the wrapper machinery (no overlay is ever set)."""


class FreshDicts:
    """HONEST: passes copies of every event to the mock and returns freshly built record dicts
    (same keys, same order, same values): identity of dicts must not matter to the suite."""

    def __init__(self) -> None:
        self.inner = mdm.load_adapter("mock")

    def reset(self) -> None:
        self.inner.reset()

    def apply(self, event: dict) -> None:
        self.inner.apply(json.loads(json.dumps(event)))

    def observe(self) -> list[dict]:
        return [{k: v for k, v in r.items()} for r in json.loads(json.dumps(self.inner.observe()))]


class Reference(ReferenceMDM):
    """HONEST: the reference model (model.reference.ReferenceMDM) itself."""


# ============================================================================ mutants: one platform rule each
class WindowsWipeNeverRevokes(MockWrapper):
    """Windows wipe removes the SCEP and PKCS certificates but never asks the CA to revoke them
    (the revocation call is skipped for the wipe action on Windows)."""

    fault = "Windows wipe removes SCEP/PKCS but never revokes them"
    breaks = ("WIN-SCEP-RR-2", "WIN-PKCS-RR-2")

    def on_event(self, e, before, sb):
        if e["type"] == "wipe" and self.shadow.platform(e["device"]) == "windows":
            self.hide_revoked |= {r["serial"] for r in self.newly_revoked(before)}


class IosRetireKeepsRoot(MockWrapper):
    """iOS retire removes company certificates but leaves the trusted root profile's certificate
    on the device (the root is not treated as company data)."""

    fault = "iOS retire leaves the trusted root installed"
    breaks = ("IOS-SCEP-ROOT-3", "IOS-PKCS-ROOT-3")

    def on_event(self, e, before, sb):
        if e["type"] == "retire" and self.shadow.platform(e["device"]) == "ios":
            self.force_installed |= {r["serial"] for r in self.newly_removed(before) if r["kind"] == "trusted_root"}


class KnoxPkcsRemovedOnLicenceLoss(MockWrapper):
    """Android KNOX: when the user loses (or is withdrawn) the Intune licence, the MDM takes the
    PKCS certificates off the user's KNOX devices (licence loss treated as 'no longer targeted')."""

    fault = "KNOX PKCS removed on licence loss"
    breaks = ("KNOX-PKCS-STAY-1", "KNOX-PKCS-STAY-2")

    def on_event(self, e, before, sb):
        if e["type"] in ("lose_license", "withdraw_license"):
            for name, d in self.shadow.devices.items():
                if d.user == e["user"] and d.platform == "android_knox":
                    for r in self.installed_on(name):
                        if r["kind"] == "pkcs":
                            self.take_off(r)


class IosPkcsRevokedOnUpdate(MockWrapper):
    """iOS: editing a PKCS profile revokes the PKCS certificates it delivered (the SCEP update
    path is reused for PKCS)."""

    fault = "iOS PKCS revoked on profile update"
    breaks = ("IOS-PKCS-STAY-4",)

    def on_event(self, e, before, sb):
        if e["type"] == "update_profile" and self.shadow.kind(e["profile"]) == "pkcs":
            for r in self.view():
                if (r["profile"] == e["profile"] and r["installed"] and self.on_platform(r, "ios")
                        and self.issued_by_mdm(r)):
                    self.force_revoked.add(r["serial"])


class MacWipeAccepted(MockWrapper):
    """STRICT (I-MACOS-WIPE-REFUSED): a macOS wipe is accepted and carried out as a retire instead
    of being refused. MAC-WIPE-1 says the action is not supported; that the MDM then refuses it is
    our reading, and what a performed wipe does to certificates is open."""

    fault = "macOS wipe accepted (run as retire) instead of refused"
    breaks = ("I-MACOS-WIPE-REFUSED",)

    def intercept(self, e):
        if e.get("type") == "wipe" and self.shadow.platform(e.get("device")) == "macos":
            self.inner.apply({"type": "retire", "device": e["device"]})
            return True
        return False


class WindowsScepKeptOnUnassign(MockWrapper):
    """Windows: removing the SCEP profile's assignment revokes the certificate but the remove
    command is never sent, so the certificate stays on the device."""

    fault = "Windows SCEP revoked but not removed on unassignment"
    breaks = ("WIN-SCEP-RR-5",)

    def on_event(self, e, before, sb):
        if e["type"] == "unassign_profile":
            self.force_installed |= {r["serial"] for r in self.newly_removed(before)
                                     if r["kind"] == "scep" and self.on_platform(r, "windows")}


class KnoxRetireNoScepRevocation(MockWrapper):
    """Android KNOX retire deletes the Knox container but does not revoke its SCEP certificate."""

    fault = "KNOX retire does not revoke SCEP"
    breaks = ("KNOX-SCEP-RV-1",)

    def on_event(self, e, before, sb):
        if e["type"] == "retire" and self.shadow.platform(e["device"]) == "android_knox":
            self.hide_revoked |= {r["serial"] for r in self.newly_revoked(before) if r["kind"] == "scep"}


class MacScepNotRevokedWhenLeavingGroup(MockWrapper):
    """macOS: when the device leaves a group carrying the SCEP profile, the certificate is
    removed but not revoked."""

    fault = "macOS SCEP not revoked when the device leaves the group"
    breaks = ("MAC-SCEP-RR-3",)

    def on_event(self, e, before, sb):
        if e["type"] == "remove_member":
            self.hide_revoked |= {r["serial"] for r in self.newly_revoked(before)
                                  if r["kind"] == "scep" and self.on_platform(r, "macos")}


class WindowsUserDeletionRevokes(MockWrapper):
    """Windows: deleting the user from the directory revokes the SCEP and PKCS certificates on the
    user's devices (an offboarding shortcut the document rules out)."""

    fault = "Windows SCEP/PKCS revoked when the user is deleted from the directory"
    breaks = ("WIN-SCEP-STAY-3", "WIN-PKCS-STAY-3")

    def on_event(self, e, before, sb):
        if e["type"] == "delete_user":
            for name, d in sb.devices.items():
                if d.user == e["user"] and d.platform == "windows":
                    self.force_revoked |= {r["serial"] for r in self.installed_on(name) if self.issued_by_mdm(r)}


class IosScepUpdateNotRevoked(MockWrapper):
    """iOS: editing a SCEP profile replaces the certificate without revoking the old one."""

    fault = "iOS SCEP not revoked on profile update"
    breaks = ("IOS-SCEP-RV-1",)

    def on_event(self, e, before, sb):
        if e["type"] == "update_profile":
            self.hide_revoked |= {r["serial"] for r in self.newly_revoked(before)
                                  if r["kind"] == "scep" and self.on_platform(r, "ios")}


class KnoxPkcsRemovedOnUnassign(MockWrapper):
    """Android KNOX: removing the PKCS profile's assignment takes the certificate off the device
    (KNOX handled like Windows/iOS)."""

    fault = "KNOX PKCS removed on unassignment"
    breaks = ("KNOX-PKCS-STAY-5", "I-PLATFORM-LIST-WINS")

    def on_event(self, e, before, sb):
        if e["type"] == "unassign_profile" and self.shadow.kind(e["profile"]) == "pkcs":
            for name, d in self.shadow.devices.items():
                if d.platform == "android_knox" and sb.targets(e["profile"], name) \
                        and not self.shadow.targets(e["profile"], name):
                    for r in self.installed_on(name):
                        if r["profile"] == e["profile"]:
                            self.take_off(r)


class MacPkcsRetireNoRevoke(MockWrapper):
    """macOS retire removes the PKCS certificate but does not revoke it."""

    fault = "macOS retire does not revoke PKCS"
    breaks = ("MAC-PKCS-RR-2",)

    def on_event(self, e, before, sb):
        if e["type"] == "retire" and self.shadow.platform(e["device"]) == "macos":
            self.hide_revoked |= {r["serial"] for r in self.newly_revoked(before) if r["kind"] == "pkcs"}


# ============================================================================ mutants: sequence-dependent
class WipeAfterUpdateNoRevoke(MockWrapper):
    """After any profile update, the next wipe does not revoke (a stale revocation queue left by
    the update swallows the wipe's revocation requests). Only a profile update followed by a
    wipe shows it."""

    fault = "after a profile update, the next wipe does not revoke"
    breaks = ("WIN-SCEP-RR-2", "WIN-PKCS-RR-2", "IOS-SCEP-RR-2", "IOS-PKCS-RR-2", "KNOX-SCEP-RR-2", "KNOX-PKCS-RR-2")

    def on_event(self, e, before, sb):
        if e["type"] == "update_profile":
            self.state["stale"] = True
        elif e["type"] == "wipe" and self.state.pop("stale", False):
            self.hide_revoked |= {r["serial"] for r in self.newly_revoked(before)}


class NoReissueAfterManualDelete(MockWrapper):
    """After a certificate is deleted by hand, the device never gets a new one for that profile
    (the compliance check treats the profile as delivered)."""

    fault = "no reissue after a manual deletion"
    breaks = ("GEN-MANUAL-2",)
    needs = ("delete_certificate",)  # its fault shows only after a deletion by hand

    def on_event(self, e, before, sb):
        blocked = self.state.setdefault("blocked", set())
        if e["type"] == "delete_certificate":
            blocked.add((e["device"], e["profile"]))
        elif e["type"] == "check_in":
            self.hidden |= {r["serial"] for r in self.delivered(before) if (r["device"], r["profile"]) in blocked}


class CrossDeviceLeakOnUnenroll(MockWrapper):
    """STRICT (I-SCOPE-TARGETING): unenrolling a device revokes the SCEP/PKCS certificates of every
    device of the same user (revocation looked up by user instead of by device). Shows only once
    the user has a second device. The document never says what an event does to certificates it
    does not concern, so this departs only from our reading."""

    fault = "unenrolling one device revokes the certificates of the user's other devices"
    breaks = ("I-SCOPE-TARGETING",)

    def on_event(self, e, before, sb):
        if e["type"] == "unenroll":
            user = self.shadow.devices[e["device"]].user
            for name, d in self.shadow.devices.items():
                if user is not None and name != e["device"] and d.user == user and d.enrolled:
                    self.force_revoked |= {r["serial"] for r in self.installed_on(name) if self.issued_by_mdm(r)}


class LateRevocation(MockWrapper):
    """Revocations are published one event late: whatever an event revokes only shows as revoked
    after the next event (asynchronous CRL publication; the contract requires it on return)."""

    fault = "revocation shows up one event late"
    breaks = ("CONTRACT", "WIN-SCEP-RR-1")
    late = True  # realistic variant: a revocation that misses the settle window, killed naming the wait

    def apply(self, event):
        pending = self.state.pop("pending", set())
        try:
            super().apply(event)
        finally:
            self.hide_revoked -= pending

    def on_event(self, e, before, sb):
        fresh = {r["serial"] for r in self.newly_revoked(before)}
        self.state["pending"] = fresh
        self.hide_revoked |= fresh


class SerialReuseOnReissue(MockWrapper):
    """A reissued certificate gets the serial of the certificate it replaces."""

    fault = "reissue reuses the old serial"
    breaks = ("GEN-MANUAL-2", "CONTRACT")

    def on_event(self, e, before, sb):
        if e["type"] == "check_in":
            for r in self.delivered(before):
                old = [b for b in before if (b["device"], b["profile"]) == (r["device"], r["profile"])]
                if old:
                    self.alias[r["serial"]] = self.alias.get(old[-1]["serial"], old[-1]["serial"])


class NoReissueAfterUpdate(MockWrapper):
    """After a profile update takes the superseded certificate off, the device never gets its
    replacement (missing reissue: the update is marked as delivered)."""

    fault = "missing reissue after a profile update"
    breaks = ("CONTRACT",)

    def on_event(self, e, before, sb):
        blocked = self.state.setdefault("blocked", set())
        if e["type"] == "update_profile":
            blocked |= {(r["device"], r["profile"]) for r in self.newly_removed(before)}
        elif e["type"] == "check_in":
            self.hidden |= {r["serial"] for r in self.delivered(before) if (r["device"], r["profile"]) in blocked}


class ReissueOneCheckInLate(MockWrapper):
    """After a manual deletion, the first check-in only records non-compliance; the new
    certificate arrives at the check-in after that."""

    fault = "reissue after manual deletion comes one check-in late"
    breaks = ("GEN-MANUAL-2",)
    needs = ("delete_certificate",)  # its fault shows only after a deletion by hand

    def on_event(self, e, before, sb):
        late = self.state.setdefault("late", {})
        if e["type"] == "delete_certificate":
            late[(e["device"], e["profile"])] = None
        elif e["type"] == "check_in":
            for key, serial in list(late.items()):
                if key[0] == e["device"] and serial is not None:
                    self.hidden.discard(serial)
                    del late[key]
            for r in self.delivered(before):
                key = (r["device"], r["profile"])
                if key in late and late[key] is None:
                    late[key] = r["serial"]
                    self.hidden.add(r["serial"])


class UserLeavesGroupRevokesEverywhere(MockWrapper):
    """STRICT (I-SCOPE-TARGETING): when a user leaves any group, the SCEP certificates on all of
    the user's devices are revoked, even those still targeted through another group (scope leak;
    the certificates the event does not concern are untouched only by our reading)."""

    fault = "a user leaving a group revokes SCEP certificates that are still targeted"
    breaks = ("I-SCOPE-TARGETING",)

    def on_event(self, e, before, sb):
        if e["type"] == "remove_member" and e["member"] in sb.users:
            for name, d in self.shadow.devices.items():
                if d.user == e["member"]:
                    self.force_revoked |= {r["serial"] for r in self.installed_on(name)
                                           if r["kind"] == "scep" and self.issued_by_mdm(r)}


class ReissuedAfterUpdateNotRevoked(MockWrapper):
    """Certificates issued after their profile was updated are filed under the new profile
    revision, and the offboarding actions (unenroll, wipe, retire) look them up under the old
    one: they are removed but never revoked. Needs update, check-in, then a device action."""

    fault = "certificates reissued after a profile update are not revoked at unenroll/wipe/retire"
    breaks = ("WIN-SCEP-RR-1", "IOS-PKCS-RR-1", "KNOX-PKCS-RR-1", "MAC-SCEP-RR-1")

    def on_event(self, e, before, sb):
        updated = self.state.setdefault("updated", set())
        fresh = self.state.setdefault("fresh", set())
        if e["type"] == "update_profile":
            updated.add(e["profile"])
        elif e["type"] == "check_in":
            fresh |= {r["serial"] for r in self.delivered(before) if r["profile"] in updated}
        elif e["type"] in DEVICE_ACTIONS:
            self.hide_revoked |= {r["serial"] for r in self.newly_revoked(before) if r["serial"] in fresh}


class SwallowsBadInput(MockWrapper):
    """An event naming something unknown (or lacking a field) is logged and ignored instead of
    being refused as bad input: apply() returns normally."""

    fault = "bad input accepted silently (no ValueError)"
    breaks = ("CONTRACT",)

    def apply(self, event):
        try:
            super().apply(event)
        except ValueError:
            pass


class InventoryNotInDeliveryOrder(MockWrapper):
    """observe() returns the inventory ordered by serial (a query without ORDER BY delivery),
    not in delivery order."""

    fault = "observe() not in delivery order (sorted by serial)"
    breaks = ("CONTRACT",)

    def post_observe(self, records):
        return sorted(records, key=lambda r: r["serial"])


# ============================================================================ mutants: certificate classes
class RevokesThirdPartyCA(MockWrapper):
    """Certificates from a third-party CA are revoked whenever they are removed (the MDM files a
    revocation it cannot perform and reports it as done)."""

    fault = "third-party-CA certificates revoked"
    breaks = ("GEN-3P-1",)

    def on_event(self, e, before, sb):
        self.force_revoked |= {r["serial"] for r in self.newly_removed(before)
                               if r["kind"] in ISSUED and self.shadow.ca(r["profile"]) == "third_party"}


class RevokesImported(MockWrapper):
    """STRICT (I-OUTSIDERS-NEVER-REVOKED): imported PKCS certificates are reported revoked when
    removed. GEN-IMPORTED-1/2 require only their removal; that the MDM, which did not issue them,
    never revokes them is our reading."""

    fault = "imported PKCS certificates revoked"
    breaks = ("I-OUTSIDERS-NEVER-REVOKED",)

    def on_event(self, e, before, sb):
        self.force_revoked |= {r["serial"] for r in self.newly_removed(before) if r["kind"] == "pkcs_imported"}


class RemovesAndroidLegacy(MockWrapper):
    """Android legacy devices get their certificates removed on unenroll / wipe / retire, like
    KNOX (legacy is not enabled for removal)."""

    fault = "Android legacy certificates removed on unenroll/wipe/retire"
    breaks = ("ANDROID-LEGACY-1",)

    def on_event(self, e, before, sb):
        if e["type"] in DEVICE_ACTIONS and self.shadow.platform(e["device"]) == "android_legacy":
            for r in self.installed_on(e["device"]):
                self.take_off(r)


class UnrevokesOnCheckIn(MockWrapper):
    """STRICT (I-REVOCATION-PERMANENT): at each check-in the device's CRL view is pruned: removed
    certificates that were revoked are reported as not revoked any more (that revocation is
    permanent is our reading; neither the document nor the contract's event table says it)."""

    fault = "revoked, removed certificates reported un-revoked after a check-in"
    breaks = ("I-REVOCATION-PERMANENT",)

    def on_event(self, e, before, sb):
        if e["type"] == "check_in":
            self.hide_revoked |= {r["serial"] for r in self.view()
                                  if r["device"] == e["device"] and r["revoked"] and not r["installed"]}


class ReinstallsRemovedCert(MockWrapper):
    """At check-in, a certificate that was taken off (and not revoked) is pushed back instead of a
    new one being issued: the old record is reinstalled."""

    fault = "a removed certificate is reinstalled instead of reissued"
    breaks = ("GEN-MANUAL-2", "CONTRACT")

    def on_event(self, e, before, sb):
        if e["type"] == "check_in":
            for r in self.delivered(before):
                old = [b for b in before if (b["device"], b["profile"]) == (r["device"], r["profile"])
                       and not b["installed"] and not b["revoked"] and b["serial"] not in self.mirror]
                if old:
                    self.mirror[old[-1]["serial"]] = r["serial"]


class DeliversOnAssignment(MockWrapper):
    """STRICT (I-DELIVERY-AT-CHECK-IN): assigning a profile pushes certificates to the targeted
    devices at once, outside check-in (delivery only at check-in is a convention of the contract;
    a real MDM may push on assignment)."""

    fault = "certificates delivered at assignment, outside check-in"
    breaks = ("I-DELIVERY-AT-CHECK-IN",)

    def on_event(self, e, before, sb):
        if e["type"] == "assign_profile":
            for name, d in self.shadow.devices.items():
                if d.enrolled:
                    self.inner.apply({"type": "check_in", "device": name})


class DoubleDelivery(MockWrapper):
    """STRICT (I-DELIVERY-AT-CHECK-IN): a check-in delivers every certificate twice (a retried push
    is not deduplicated); the duplicate follows the original's fate. At most one certificate per
    profile and check-in is our reading of the contract's check-in."""

    fault = "double delivery at check-in"
    breaks = ("I-DELIVERY-AT-CHECK-IN",)

    def post_observe(self, records):
        out = []
        for r in records:
            out.append(r)
            if r["serial"] in self.state.setdefault("dup", set()):
                out.append(dict(r, serial=r["serial"] + "-RETRY"))
        return out

    def on_event(self, e, before, sb):
        if e["type"] == "check_in":
            self.state.setdefault("dup", set()).update(r["serial"] for r in self.delivered(before))


class DropsRemovedRecords(MockWrapper):
    """observe() lists only installed certificates: removed ones vanish from the inventory."""

    fault = "removed records dropped from observe()"
    breaks = ("CONTRACT",)

    def post_observe(self, records):
        return [r for r in records if r["installed"]]


# ============================================================================ mutants: tenant shapes
# Faults that need a tenant shape the default random tenant rarely or never builds (several
# profiles of one kind on a device, reassignment, look-alike or re-used user names). Each has a
# regression feature under features/regressions/ that builds exactly the shape.
def undo(wrapper: MockWrapper, old: dict, new: dict) -> None:
    """Report record `new` as it was before the event (`old`): the mock's revocation/removal is hidden."""
    if new["revoked"] and not old["revoked"]:
        wrapper.hide_revoked.add(new["serial"])
    if old["installed"] and not new["installed"]:
        wrapper.force_installed.add(new["serial"])


class WindowsUnassignSettlesWrongScep(MockWrapper):
    """Windows: removing a SCEP profile's assignment revokes and removes the device's *first* SCEP
    certificate (looked up by device and kind, not by profile): with two SCEP profiles on one
    device, unassigning the second one settles the first profile's certificate and leaves the
    unassigned profile's certificate installed and valid. Regression:
    features/regressions/two_scep_profiles_unassign.feature."""

    fault = "Windows unassign of one of two SCEP profiles settles the other profile's certificate"
    breaks = ("WIN-SCEP-RR-5",)

    def on_event(self, e, before, sb):
        if e["type"] != "unassign_profile" or sb.kind(e["profile"]) != "scep":
            return
        for old, new in self.changes(before)[0]:
            if new["profile"] != e["profile"] or not self.on_platform(new, "windows") or old == new:
                continue
            first = next((r for r in before if r["device"] == new["device"] and r["kind"] == "scep"
                          and r["installed"] and not r["revoked"]), None)
            if first is None or first["serial"] == new["serial"]:
                continue
            undo(self, old, new)
            if self.issued_by_mdm(first):
                self.force_revoked.add(first["serial"])
            self.take_off(first)


class LeavingGroupSettlesOnlyFirstScep(MockWrapper):
    """When a device leaves a group and several SCEP profiles stop targeting it, only the first
    SCEP certificate is revoked and removed (the settle loop returns after its first match); the
    others stay installed and valid. Needs two SCEP profiles assigned to one group. Regression:
    features/regressions/two_scep_profiles_leave_group.feature."""

    fault = "device leaving a group: only the first of several SCEP certificates is settled"
    breaks = ("WIN-SCEP-RR-4", "IOS-SCEP-RR-4", "MAC-SCEP-RR-3", "GEN-3P-1")

    def on_event(self, e, before, sb):
        if e["type"] != "remove_member" or e["member"] not in sb.devices:
            return
        settled = False
        for old, new in self.changes(before)[0]:
            if new["kind"] != "scep" or (old["revoked"], old["installed"]) == (new["revoked"], new["installed"]):
                continue
            if settled:
                undo(self, old, new)
            settled = True


class ForgetsReassignment(MockWrapper):
    """A profile assigned to a group again after its assignment was removed gets a new assignment
    record that the unassignment handler does not look up: removing that assignment a second
    time does nothing (no revocation, no removal), although the profile stops targeting the
    devices. Needs assign, unassign, assign, unassign of one (profile, group). Regression:
    features/regressions/reassigned_profile_unassigned.feature."""

    fault = "unassigning a re-made assignment revokes and removes nothing"
    breaks = ("WIN-SCEP-RR-5", "IOS-SCEP-RR-5", "IOS-PKCS-RM-1", "MAC-SCEP-RR-4")

    def on_event(self, e, before, sb):
        pair = (e.get("profile"), e.get("group"))
        unassigned = self.state.setdefault("unassigned", set())
        remade = self.state.setdefault("remade", set())
        if e["type"] == "assign_profile" and pair in unassigned:
            remade.add(pair)
        elif e["type"] == "unassign_profile":
            unassigned.add(pair)
            if pair in remade:
                remade.discard(pair)
                for old, new in self.changes(before)[0]:
                    undo(self, old, new)
        elif e["type"] == "delete_group":
            unassigned -= {p for p in unassigned if p[1] == e["group"]}
            remade -= {p for p in remade if p[1] == e["group"]}


class StaleTargetingMutant(MockWrapper):
    """Base: the mutant decides "does this profile still target this device?" with its own, wrong
    notion of membership (`still_targets`). When the mock revokes or removes a certificate
    because its profile stopped targeting the device, and the wrong notion says it still does,
    the mutant does nothing."""

    TRIGGERS = ("remove_member", "unassign_profile", "delete_user", "delete_group")

    def still_targets(self, profile: str, device: str) -> bool:
        raise NotImplementedError

    def on_event(self, e, before, sb):
        self.track(e, sb)
        if e["type"] not in self.TRIGGERS:
            return
        for old, new in self.changes(before)[0]:
            if (old["revoked"], old["installed"]) == (new["revoked"], new["installed"]):
                continue
            lost = sb.targets(new["profile"], new["device"]) and not self.shadow.targets(new["profile"], new["device"])
            if lost and self.still_targets(new["profile"], new["device"]):
                undo(self, old, new)

    def track(self, e, sb) -> None:
        pass


def _fold(name: str) -> str:
    return name.strip().casefold()


class LookAlikeUserNames(StaleTargetingMutant):
    """Group membership of users is matched under a case-insensitive, trimming collation: "u1" and
    "U1 " are taken for one user. When user "u1" leaves a group that user "U1 " is still in, the
    mutant thinks the profile still targets u1's device and takes nothing off (GEN-INTRO-3:
    removal is required once the profile stops targeting the user). Regression:
    features/regressions/look_alike_user_names.feature."""

    fault = "user names matched case-insensitively and trimmed: a look-alike keeps targeting alive"
    breaks = ("GEN-INTRO-3", "WIN-PKCS-RM-1")

    def still_targets(self, profile, device):
        d, p = self.shadow.devices.get(device), self.shadow.profiles.get(profile)
        if not (d and p and d.enrolled and d.user is not None):
            return False
        for g in p.groups:
            members = self.shadow.groups.get(g, set())
            if device in members or any(m in self.shadow.users and _fold(m) == _fold(d.user) for m in members):
                return True
        return False


class ReusedUserNameInheritsDevices(StaleTargetingMutant):
    """Devices record their owner by user *name*: after a user is deleted and a new user created
    under the same name, the new user's groups still target the old user's devices. When such a
    device leaves the device group that actually targeted it, the mutant thinks the new user's
    group still does and revokes and removes nothing (Windows SCEP: WIN-SCEP-RR-4). Regression:
    features/regressions/reused_user_name_targeting.feature."""

    fault = "a re-used user name inherits the deleted user's devices' targeting"
    breaks = ("WIN-SCEP-RR-4",)

    def track(self, e, sb):
        owners = self.state.setdefault("owner", {})
        if e["type"] == "enroll":
            owners[e["device"]] = e["user"]

    def still_targets(self, profile, device):
        d, p = self.shadow.devices.get(device), self.shadow.profiles.get(profile)
        owner = self.state.get("owner", {}).get(device)
        if not (d and p and d.enrolled):
            return False
        for g in p.groups:
            members = self.shadow.groups.get(g, set())
            if device in members or (owner in self.shadow.users and owner in members):
                return True
        return False


class RefusesSecondActionButChangesState(MockWrapper):
    """A wipe, retire or unenroll of a device that is no longer enrolled is refused with
    EventRejected, but only after the action's clean-up already ran: whatever certificates were
    still on the device are taken off. A refused event must change nothing (the contract).
    Regression: features/regressions/device_action_after_retire.feature."""

    fault = "refused device action on an unenrolled device still takes certificates off"
    breaks = ("CONTRACT", "I-DEVICE-ACTION-ON-UNMANAGED")

    def intercept(self, e):
        if not isinstance(e, dict):
            return False
        d = self.shadow.devices.get(e.get("device"))
        if e.get("type") in DEVICE_ACTIONS and d is not None and not d.enrolled:
            for r in self.installed_on(e["device"]):
                self.take_off(r)
            raise mdm.EventRejected(f"{e['type']}: device {e['device']!r} is no longer enrolled")
        return False


# ============================================================================ strict: depart only from a reading
# These pass by default (the document allows what they do) and fail under --strict-readings; each
# docstring names the reading-tier interpretation it departs from (behaviour.yaml, tier: reading).
class UserLeavesGroupRemovesOnly(MockWrapper):
    """STRICT (I-USER-LEAVES-GROUP): when the device's user leaves a group carrying the profile,
    the certificate is taken off (GEN-INTRO-3 requires that) but not revoked: only the device's
    own removal from a group revokes (the bullets name the device)."""

    fault = "user leaves group: certificates removed, not revoked"
    breaks = ("I-USER-LEAVES-GROUP",)

    def on_event(self, e, before, sb):
        if e["type"] == "remove_member" and e["member"] in sb.users:
            self.hide_revoked |= {r["serial"] for r in self.newly_revoked(before)}


class RemovesOutsidersOnLicenceLoss(MockWrapper):
    """STRICT (I-LICENCE-NOTHING): when the user loses or is withdrawn the licence, the trusted
    root and imported PKCS certificates on the user's devices are taken off (the stay lists name
    SCEP and PKCS only). Not on Android legacy, where the MDM never removes (ANDROID-LEGACY-1)."""

    fault = "roots and imported PKCS removed on licence loss"
    breaks = ("I-LICENCE-NOTHING",)

    def on_event(self, e, before, sb):
        for name, d in self.licence_holder_devices(e):
            if d.enrolled and d.platform != "android_legacy":
                for r in self.installed_on(name):
                    if r["kind"] in ("trusted_root", "pkcs_imported"):
                        self.take_off(r)


# ============================================================================ legitimate variants
class KnoxRetireRemovesScep(MockWrapper):
    """LEGIT: Android KNOX retire also takes the (revoked) SCEP certificate off the device.
    KNOX-SCEP-RV-1 lists retire under 'revoked' only; removal is open there
    (I-REVOKED-LIST-SILENT-ON-REMOVAL)."""

    fault = "KNOX retire also removes SCEP (removal open)"
    breaks = ()

    def on_event(self, e, before, sb):
        if e["type"] == "retire" and self.shadow.platform(e["device"]) == "android_knox":
            for r in self.installed_on(e["device"]):
                if r["kind"] == "scep":
                    self.take_off(r)


class KnoxScepDirectoryAlwaysRevokes(MockWrapper):
    """LEGIT: Android KNOX SCEP follows the 'revoked' reading of conflict C-KNOX-SCEP-DIRECTORY
    everywhere: deleting the user or a group that carries the profile revokes the certificate even
    when the profile still targets the device another way (the mock revokes only when the
    deletion ends the targeting)."""

    fault = "C-KNOX-SCEP-DIRECTORY: revoke on every directory removal"
    breaks = ()

    def on_event(self, e, before, sb):
        if e["type"] not in ("delete_user", "delete_group"):
            return
        for r in self.view():
            if not (r["installed"] and r["kind"] == "scep" and self.issued_by_mdm(r)):
                continue
            d = sb.devices.get(r["device"])
            if d is None or d.platform != "android_knox" or not d.enrolled:
                continue
            if e["type"] == "delete_user" and d.user == e["user"]:
                self.force_revoked.add(r["serial"])
            if e["type"] == "delete_group" and e["group"] in sb.profiles[r["profile"]].groups \
                    and sb.reaches(e["group"], r["device"]):
                self.force_revoked.add(r["serial"])


class KnoxScepDirectoryStays(MockWrapper):
    """LEGIT: Android KNOX SCEP follows the 'stays' reading of conflict C-KNOX-SCEP-DIRECTORY:
    deleting the user or group never revokes it (KNOX-SCEP-STAY-3). A later event that revokes
    it anyway (unenroll, wipe, retire, profile update) reports the revocation."""

    fault = "C-KNOX-SCEP-DIRECTORY: never revoke on directory removal"
    breaks = ()

    def on_event(self, e, before, sb):
        held = self.state.setdefault("held", {})  # serial -> (device, profile)
        if e["type"] in ("delete_user", "delete_group"):
            for r in self.newly_revoked(before):
                if r["kind"] == "scep" and self.on_platform(r, "android_knox"):
                    held[r["serial"]] = (r["device"], r["profile"])
                    self.hide_revoked.add(r["serial"])
        for serial, (device, profile) in list(held.items()):
            if (e["type"] in DEVICE_ACTIONS and e["device"] == device) or \
                    (e["type"] == "update_profile" and e["profile"] == profile):
                self.hide_revoked.discard(serial)
                del held[serial]


class WindowsPkcsRemovedWhenDeletionUntargets(MockWrapper):
    """LEGIT: Windows PKCS follows the 'removed' reading of conflict C-WIN-PKCS-UNTARGETED-DELETION
    (WIN-PKCS-RM-1): when deleting the user or group ends the profile's targeting, the PKCS
    certificate is taken off (the mock keeps it, reading WIN-PKCS-STAY-3)."""

    fault = "C-WIN-PKCS-UNTARGETED-DELETION: remove when the deletion ends targeting"
    breaks = ()

    def on_event(self, e, before, sb):
        if e["type"] not in ("delete_user", "delete_group"):
            return
        for r in self.view():
            if r["installed"] and r["kind"] == "pkcs" and self.on_platform(r, "windows") \
                    and sb.targets(r["profile"], r["device"]) and not self.shadow.targets(r["profile"], r["device"]):
                self.take_off(r)


class RevokesManuallyDeleted(MockWrapper):
    """LEGIT: a certificate deleted by hand is also revoked at the CA (I-MANUAL-NOT-REVOKED-OPEN);
    never for a third-party CA (GEN-3P-1) or an unrevokable kind."""

    fault = "manually deleted certificates are revoked (open)"
    breaks = ()

    def on_event(self, e, before, sb):
        if e["type"] == "delete_certificate":
            self.force_revoked |= {r["serial"] for r in self.newly_removed(before) if self.issued_by_mdm(r)}


class RemovesRootWhenUntargeted(MockWrapper):
    """LEGIT: the trusted root certificate is taken off when its profile stops targeting the device
    (I-ROOT-LIST-ONLY-WHEN: outside the listed events root removal is open; never on Android
    legacy, ANDROID-LEGACY-1)."""

    fault = "trusted root removed when its profile stops targeting (open)"
    breaks = ()
    kinds = ("trusted_root",)

    def on_event(self, e, before, sb):
        if e["type"] not in ("remove_member", "unassign_profile", "delete_user", "delete_group"):
            return
        for r in self.view():
            if r["installed"] and r["kind"] in self.kinds and not self.on_platform(r, "android_legacy") \
                    and sb.targets(r["profile"], r["device"]) and not self.shadow.targets(r["profile"], r["device"]):
                self.take_off(r)


class RemovesImportedWhenUntargeted(RemovesRootWhenUntargeted):
    """LEGIT: imported PKCS certificates are taken off when their profile stops targeting the
    device (I-IMPORTED-ELSEWHERE-OPEN: outside wipe, retire and unenroll their removal is open;
    never on Android legacy, where the note forbids removal outside the device actions,
    ANDROID-LEGACY-1)."""

    fault = "imported PKCS removed when its profile stops targeting (open)"
    kinds = ("pkcs_imported",)


class WindowsScepRootRemovedOnUnassign(MockWrapper):
    """LEGIT (I-ROOT-CHAINED-IN-REACH, open in both tiers): on Windows, when a SCEP profile's
    assignment is removed and it stops targeting the device, the trusted root it names is taken
    off too (what the 2024 edition documents); while the root's own profile still targets the
    device, the next check-in delivers the root again (the mock's check-in does)."""

    fault = "Windows: root removed with its SCEP profile's unassignment, redelivered at check-in"
    uses = ("I-ROOT-CHAINED-IN-REACH",)

    def on_event(self, e, before, sb):
        if e["type"] != "unassign_profile" or sb.kind(e["profile"]) != "scep":
            return
        root = sb.profiles[e["profile"]].root
        for name, d in self.shadow.devices.items():
            if d.platform == "windows" and sb.targets(e["profile"], name) and not self.shadow.targets(e["profile"], name):
                for r in self.installed_on(name):
                    if r["profile"] == root:
                        self.take_off(r)


class AndroidLegacyWipeRemoves(MockWrapper):
    """LEGIT (I-LEGACY-WIPE-OPEN; imported PKCS: conflict C-LEGACY-IMPORTED): a wipe erases an
    Android legacy device, so every certificate on it is gone afterwards."""

    fault = "Android legacy wipe removes every certificate (open)"
    uses = ("I-LEGACY-WIPE-OPEN", "C-LEGACY-IMPORTED")

    def on_event(self, e, before, sb):
        if e["type"] == "wipe" and sb.devices[e["device"]].enrolled and self.shadow.platform(e["device"]) == "android_legacy":
            for r in self.installed_on(e["device"]):
                self.take_off(r)


class AndroidLegacyImportedRemoved(MockWrapper):
    """LEGIT (conflict C-LEGACY-IMPORTED, the 'removed' reading of GEN-IMPORTED-1/2): unenroll,
    wipe and retire take imported PKCS certificates off Android legacy devices too."""

    fault = "C-LEGACY-IMPORTED: imported PKCS removed from Android legacy at unenroll/wipe/retire"
    uses = ("C-LEGACY-IMPORTED",)

    def on_event(self, e, before, sb):
        if e["type"] in DEVICE_ACTIONS and sb.devices[e["device"]].enrolled \
                and self.shadow.platform(e["device"]) == "android_legacy":
            for r in self.installed_on(e["device"]):
                if r["kind"] == "pkcs_imported":
                    self.take_off(r)


class AndroidWorkRemovesAllOnLicenceLoss(MockWrapper):
    """LEGIT (ANDROID-WORK-1: nothing is judged on Android for Work): licence loss revokes what the
    MDM issued and takes every certificate off the user's Android for Work devices."""

    fault = "Android for Work: licence loss revokes and removes everything (not validated)"
    uses = ("ANDROID-WORK-1",)

    def on_event(self, e, before, sb):
        for name, d in self.licence_holder_devices(e):
            if d.platform == "android_work":
                for r in self.installed_on(name):
                    if self.issued_by_mdm(r):
                        self.force_revoked.add(r["serial"])
                    self.take_off(r)


class AndroidWorkRevokesThirdParty(MockWrapper):
    """LEGIT (ANDROID-WORK-1): on Android for Work, third-party-CA certificates (SCEP included,
    which GEN-3P-1 forbids elsewhere) are reported revoked whenever they are removed."""

    fault = "Android for Work: third-party certificates revoked (not validated)"
    uses = ("ANDROID-WORK-1",)

    def on_event(self, e, before, sb):
        self.force_revoked |= {r["serial"] for r in self.newly_removed(before)
                               if self.on_platform(r, "android_work") and self.shadow.ca(r["profile"]) == "third_party"}


class SecondDeviceActionRefused(MockWrapper):
    """LEGIT (I-DEVICE-ACTION-ON-UNMANAGED): an unenroll, wipe or retire of a device that is no
    longer enrolled is refused with EventRejected, changing nothing."""

    fault = "device action on an unenrolled device refused (EventRejected)"
    uses = ("I-DEVICE-ACTION-ON-UNMANAGED",)
    error = mdm.EventRejected

    def intercept(self, e):
        if not isinstance(e, dict):
            return False
        d = self.shadow.devices.get(e.get("device"))
        if e.get("type") in DEVICE_ACTIONS and d is not None and not d.enrolled:
            raise self.error(f"{e['type']}: device {e['device']!r} is no longer enrolled")
        return False


class SecondDeviceActionInvalid(SecondDeviceActionRefused):
    """LEGIT (I-DEVICE-ACTION-ON-UNMANAGED): an unenroll, wipe or retire of a device that is no
    longer enrolled is answered as bad input (ValueError), changing nothing."""

    fault = "device action on an unenrolled device answered as bad input (ValueError)"
    error = ValueError


# ============================================================================ realistic-only mutants
# Faults in *when* revocations land, meaningful only against an implementation that declares
# settle_s (the realistic mock): they exist only in the `realistic` namespace below. A revocation
# that lands within settle_s is not a fault at all (the realistic mock itself does that: its delay
# is below its declared settle_s, and realistic.PassThrough must pass).
class RevocationNeverLands(MockWrapper):
    """Realistic only: retire and wipe file their revocations but the CA connector never picks
    them up: the records stay `"revocation": "pending"`, not revoked, for ever."""

    fault = "retire/wipe revocations stay pending for ever"
    breaks = ("WIN-SCEP-RR-2", "WIN-PKCS-RR-2", "IOS-SCEP-RR-2", "IOS-PKCS-RR-2", "KNOX-SCEP-RV-1")
    late = True

    def on_event(self, e, before, sb):
        if e["type"] in ("retire", "wipe"):
            self.state.setdefault("stuck", set()).update(r["serial"] for r in self.newly_revoked(before))

    def post_observe(self, records):
        stuck = self.state.get("stuck", set())
        return [dict(r, revoked=False, revocation="pending") if r["serial"] in stuck else r for r in records]


class RevocationPastSettle(MockWrapper):
    """Realistic only: every revocation lands three times the declared settle_s after the event
    that asked for it (a connector polling too rarely): late by the declared window."""

    fault = "revocations land after 3 x settle_s"
    breaks = ("CONTRACT", "WIN-SCEP-RR-1")
    late = True

    def on_event(self, e, before, sb):
        due = time.monotonic() + 3 * self.inner.capabilities()["settle_s"]
        for r in self.newly_revoked(before):
            self.state.setdefault("due", {}).setdefault(r["serial"], due)

    def post_observe(self, records):
        due, now = self.state.get("due", {}), time.monotonic()
        return [dict(r, revoked=False, revocation="pending") if due.get(r["serial"], 0) > now else r for r in records]


# ============================================================================ the second review (issue 19)
class ThirdPartyPkcsRevokedOnLicenceLoss(MockWrapper):
    """When the user loses (or is withdrawn) the licence, the PKCS certificates from a third-party
    CA on the user's devices are revoked (the connector's clean-up treats them as orphaned). The
    PKCS stay lists hold for every CA (I-PKCS-LISTS-EVERY-CA)."""

    fault = "third-party PKCS revoked on licence loss"
    breaks = ("WIN-PKCS-STAY-1", "IOS-PKCS-STAY-1", "KNOX-PKCS-STAY-1", "MAC-PKCS-STAY-1")

    def on_event(self, e, before, sb):
        for name, d in self.licence_holder_devices(e):
            if d.platform in ("windows", "ios", "android_knox", "macos"):
                self.force_revoked |= {r["serial"] for r in self.installed_on(name)
                                       if r["kind"] == "pkcs" and self.shadow.ca(r["profile"]) == "third_party"}


class ThirdPartyPkcsNeverRevoked(MockWrapper):
    """PKCS certificates from a third-party CA are removed but never revoked, also where the PKCS
    lists revoke them (unenroll, wipe, retire): the third-party SCEP note applied to PKCS, which
    the text does not say (I-PKCS-LISTS-EVERY-CA)."""

    fault = "third-party PKCS never revoked"
    breaks = ("WIN-PKCS-RR-1", "IOS-PKCS-RR-1", "KNOX-PKCS-RR-1", "MAC-PKCS-RR-1")

    def on_event(self, e, before, sb):
        self.hide_revoked |= {r["serial"] for r in self.newly_revoked(before)
                              if r["kind"] == "pkcs" and self.shadow.ca(r["profile"]) == "third_party"}


class LeftoverPkcsRevokedByUpdate(MockWrapper):
    """A profile update revokes and removes the PKCS certificates of that profile that stayed on
    devices it no longer targets (after their group was deleted): a clean-up of leftovers. The
    PKCS stay bullets for updates hold wherever the certificate is (I-UPDATE-TARGETED-ONLY)."""

    fault = "a PKCS update revokes and removes the profile's leftover certificates"
    breaks = ("WIN-PKCS-STAY-4", "IOS-PKCS-STAY-4", "KNOX-PKCS-STAY-4", "MAC-PKCS-STAY-5")

    def on_event(self, e, before, sb):
        if e["type"] != "update_profile" or sb.kind(e["profile"]) != "pkcs":
            return
        for r in self.view():
            d = sb.devices.get(r["device"])
            if r["profile"] == e["profile"] and r["installed"] and d is not None and d.enrolled \
                    and d.platform in ("windows", "ios", "android_knox", "macos") \
                    and not sb.targets(r["profile"], r["device"]):
                self.force_revoked.add(r["serial"])
                self.take_off(r)


class RevokesWhenAnyGroupOfTheDeviceIsDeleted(MockWrapper):
    """Deleting a group revokes the SCEP and PKCS certificates on every device in it (or whose
    user is in it), whether or not a profile is assigned to that group. The directory-removal
    bullets keep them (I-GROUP-DELETION-IS-DIRECTORY-REMOVAL: any group the device or its user is
    in)."""

    fault = "deleting any group of the device revokes its certificates"
    breaks = ("WIN-SCEP-STAY-3", "WIN-PKCS-STAY-3", "IOS-SCEP-STAY-3", "IOS-PKCS-STAY-3", "KNOX-PKCS-STAY-3",
              "MAC-SCEP-STAY-3", "MAC-PKCS-STAY-4")

    def on_event(self, e, before, sb):
        if e["type"] != "delete_group":
            return
        for name, d in sb.devices.items():
            if d.enrolled and d.platform in ("windows", "ios", "android_knox", "macos") and sb.reaches(e["group"], name):
                self.force_revoked |= {r["serial"] for r in self.installed_on(name) if self.issued_by_mdm(r)}


def _folded(name: str) -> str:
    """What a directory service that folds names keeps of one: NFKC, case-folded, trimmed."""
    import unicodedata

    return unicodedata.normalize("NFKC", name).casefold().strip()


class FoldsLookAlikeNames(MockWrapper):
    """Group, device and profile names are stored folded (Unicode NFKC, case-folded, trimmed), so
    creating "Ｇ1", "G1 " or a name in another normal form beside "g1" is refused as a duplicate.
    The contract makes every name its own object (a look-alike is bad input only when equal)."""

    fault = "look-alike group, device and profile names refused as duplicates"
    breaks = ("CONTRACT",)
    FIELDS = {"create_group": "group", "enroll": "device", "create_profile": "profile"}

    def intercept(self, e):
        field = self.FIELDS.get(e.get("type")) if isinstance(e, dict) else None
        name = e.get(field) if field else None
        if isinstance(name, str):
            taken = {"group": self.shadow.groups, "device": self.shadow.devices, "profile": self.shadow.profiles}[field]
            if any(_folded(n) == _folded(name) and n != name for n in taken):
                raise ValueError(f"{e['type']}: {field} {name!r} already exists")
        return False


class KeepsWhatTheMockRemoves(MockWrapper):
    """Base: a product that keeps on the device a certificate the mock took off (`keep`), and
    then treats it as installed: a deletion by hand takes it off, a device action takes it off
    (revoking it when `revoke_on_action`), and a check-in that makes the mock deliver the profile
    again lets the kept certificate stand for the new one (mirror: it reports the new one's flags)."""

    revoke_on_action = False

    def keep(self, record: dict) -> None:
        self.force_installed.add(record["serial"])
        self.state.setdefault("held", {})[record["serial"]] = (record["device"], record["profile"])

    def release(self, serial: str) -> None:
        """Show the kept certificate as the mock has it: removed."""
        self.force_installed.discard(serial)
        del self.state["held"][serial]

    def intercept(self, e):
        held = self.state.setdefault("held", {})
        if isinstance(e, dict) and e.get("type") == "delete_certificate":
            for serial, pair in list(held.items()):
                if pair == (e.get("device"), e.get("profile")):
                    self.release(serial)  # taken off by hand (the mock had it off already)
                    return True
        return False

    def follow_up(self, e, before, sb) -> None:
        for serial, (device, profile) in list(self.state.setdefault("held", {}).items()):
            if e["type"] in DEVICE_ACTIONS and e.get("device") == device and sb.devices[device].enrolled:
                if self.revoke_on_action:
                    self.force_revoked.add(serial)
                self.release(serial)
            elif e["type"] == "check_in" and e["device"] == device:
                again = [r for r in self.delivered(before) if r["profile"] == profile and r["device"] == device]
                if again:
                    self.force_installed.discard(serial)
                    self.mirror[serial] = again[0]["serial"]
                    del self.state["held"][serial]


class RootLeavesWithItsOwnProfileOnly(KeepsWhatTheMockRemoves):
    """STRICT (I-ROOT-WITH-ITS-SCEP-PROFILE), edition 2024: reads WIN-SCEP-ROOT-4's "certificate
    profile" as the root's own profile. The root stays when its SCEP profile's assignment is
    removed, and leaves the Windows device when its own profile's assignment is removed. Either
    reading is the document's (I-ROOT-4-EITHER-PROFILE); ours is the SCEP profile."""

    fault = "2024: the root leaves with its own profile's unassignment, not with its SCEP profile's"
    breaks = ("I-ROOT-WITH-ITS-SCEP-PROFILE",)
    edition = "2024"

    def on_event(self, e, before, sb):
        if e["type"] == "unassign_profile" and sb.kind(e["profile"]) == "scep":
            for r in self.newly_removed(before):
                if r["kind"] == "trusted_root" and self.on_platform(r, "windows"):
                    self.keep(r)
        if e["type"] == "unassign_profile" and sb.kind(e["profile"]) == "trusted_root":
            for serial, (device, profile) in list(self.state.setdefault("held", {}).items()):
                if profile == e["profile"] and sb.targets(profile, device) and not self.shadow.targets(profile, device):
                    self.release(serial)  # gone with its own profile's unassignment
        self.follow_up(e, before, sb)


class RootAlsoLeavesWithItsOwnProfile(MockWrapper):
    """LEGIT, edition 2024: on Windows the trusted root leaves with its SCEP profile's unassignment
    (as the mock does, our reading) and also with its own profile's unassignment (the other
    reading of WIN-SCEP-ROOT-4's "certificate profile", I-ROOT-4-EITHER-PROFILE; open either way,
    I-ROOT-LIST-ONLY-WHEN)."""

    fault = "2024: the root also leaves with its own profile's unassignment (open)"
    uses = ("I-ROOT-4-EITHER-PROFILE",)
    edition = "2024"

    def on_event(self, e, before, sb):
        if e["type"] != "unassign_profile" or sb.kind(e["profile"]) != "trusted_root":
            return
        for name, d in self.shadow.devices.items():
            if d.platform == "windows" and sb.targets(e["profile"], name) and not self.shadow.targets(e["profile"], name):
                for r in self.installed_on(name):
                    if r["profile"] == e["profile"]:
                        self.take_off(r)


class LateOffboardingRemovesOnly(MockWrapper):
    """STRICT (I-LISTS-AFTER-USER-DELETED): a wipe or retire after the device's user was deleted
    takes the certificates off but revokes none (the revocation is filed under the user, who is
    gone). The offboarding note promises revocation only in the other order (C-OFFBOARDING-ORDER);
    that the lists hold anyway is our reading."""

    fault = "wipe or retire after the user's deletion: removed, not revoked"
    breaks = ("I-LISTS-AFTER-USER-DELETED",)

    def on_event(self, e, before, sb):
        d = sb.devices.get(e.get("device")) if e["type"] in ("wipe", "retire") else None
        if d is not None and d.enrolled and d.user is None:
            self.hide_revoked |= {r["serial"] for r in self.newly_revoked(before) if r["device"] == e["device"]}


class MacScepRootKeptOnRetire(MockWrapper):
    """LEGIT: on macOS, unenroll and retire leave a trusted root that no PKCS profile targeting the
    device chains to (the mock removes every root). The macOS SCEP section has no root list; the
    PKCS section's list speaks of the roots of PKCS certificates (a root list is judged per chain)."""

    fault = "macOS: a root with no PKCS chain stays on retire/unenroll (open)"
    uses = ("I-ROOT-LIST-ONLY-WHEN",)

    def on_event(self, e, before, sb):
        if e["type"] not in ("retire", "unenroll") or sb.platform(e["device"]) != "macos":
            return
        for r in self.newly_removed(before):
            chain = {p.kind for n, p in sb.profiles.items() if p.root == r["profile"] and sb.targets(n, r["device"])}
            if r["kind"] == "trusted_root" and "pkcs" not in chain:
                self.force_installed.add(r["serial"])


class KnoxPkcsKeptWhenDeviceLeavesGroup(KeepsWhatTheMockRemoves):
    """LEGIT: Android KNOX keeps a PKCS certificate when the device or its user leaves the group
    that targeted it, as it does when the assignment is removed (KNOX-PKCS-STAY-5): the intro's
    removal yields to the section (I-INTRO-YIELDS). Later events treat the kept certificate as
    installed: a device action revokes and removes it (the PKCS lists), a check-in that targets it
    again delivers nothing new, a deletion by hand takes it off."""

    fault = "KNOX PKCS kept when the device or its user leaves a group (open)"
    uses = ("I-INTRO-YIELDS",)
    revoke_on_action = True

    def on_event(self, e, before, sb):
        if e["type"] == "remove_member":
            for r in self.newly_removed(before):
                if r["kind"] == "pkcs" and self.on_platform(r, "android_knox"):
                    self.keep(r)
        self.follow_up(e, before, sb)

MUTANTS = [  # killed by default: a document or contract check fails
    WindowsWipeNeverRevokes, IosRetireKeepsRoot, KnoxPkcsRemovedOnLicenceLoss, IosPkcsRevokedOnUpdate,
    WindowsScepKeptOnUnassign, KnoxRetireNoScepRevocation, MacScepNotRevokedWhenLeavingGroup,
    WindowsUserDeletionRevokes, IosScepUpdateNotRevoked, KnoxPkcsRemovedOnUnassign, MacPkcsRetireNoRevoke,
    WipeAfterUpdateNoRevoke, NoReissueAfterManualDelete, LateRevocation,
    SerialReuseOnReissue, NoReissueAfterUpdate, ReissueOneCheckInLate,
    RevokesThirdPartyCA, RemovesAndroidLegacy, ReinstallsRemovedCert,
    DropsRemovedRecords, ReissuedAfterUpdateNotRevoked, SwallowsBadInput, InventoryNotInDeliveryOrder,
    WindowsUnassignSettlesWrongScep, LeavingGroupSettlesOnlyFirstScep, ForgetsReassignment, LookAlikeUserNames,
    ReusedUserNameInheritsDevices, RefusesSecondActionButChangesState,
    ThirdPartyPkcsRevokedOnLicenceLoss, ThirdPartyPkcsNeverRevoked, LeftoverPkcsRevokedByUpdate,
    RevokesWhenAnyGroupOfTheDeviceIsDeleted, FoldsLookAlikeNames,
]
STRICT = [  # pass by default, fail under --strict-readings: they depart only from a reading
    MacWipeAccepted, CrossDeviceLeakOnUnenroll, UserLeavesGroupRevokesEverywhere, UnrevokesOnCheckIn,
    RevokesImported, DeliversOnAssignment, DoubleDelivery,
    UserLeavesGroupRemovesOnly, RemovesOutsidersOnLicenceLoss, RootLeavesWithItsOwnProfileOnly,
    LateOffboardingRemovesOnly,
]
HONEST = [PassThrough, FreshDicts, Reference]
LEGIT = [  # pass both ways: differ only where the document is silent or contradicts itself
    KnoxRetireRemovesScep, KnoxScepDirectoryAlwaysRevokes, KnoxScepDirectoryStays,
    WindowsPkcsRemovedWhenDeletionUntargets, RevokesManuallyDeleted, RemovesRootWhenUntargeted,
    RemovesImportedWhenUntargeted, WindowsScepRootRemovedOnUnassign, AndroidLegacyWipeRemoves,
    AndroidLegacyImportedRemoved, AndroidWorkRemovesAllOnLicenceLoss, AndroidWorkRevokesThirdParty,
    SecondDeviceActionRefused, SecondDeviceActionInvalid,
    MacScepRootKeptOnRetire, KnoxPkcsKeptWhenDeviceLeavesGroup, RootAlsoLeavesWithItsOwnProfile,
]


REALISTIC_ONLY = [RevocationNeverLands, RevocationPastSettle]  # mutants of timing (settle_s)
REALISTIC_BASES = MUTANTS + REALISTIC_ONLY + [PassThrough]  # what the `realistic` namespace rebuilds


class realistic:
    """The catalogue rebuilt around the realistic mock: `pytest --mdm tests.mutants:realistic.NAME`.
    Every mutant (and the PassThrough wrapper) wraps MockMDM(realistic=True) with small delays
    (MockWrapper.REVOCATION_DELAY / REMOVAL_DELAY), so the run uses its capabilities: settle
    polling, a device pool, delete_certificate not performable. Built below from MUTANTS,
    REALISTIC_ONLY and PassThrough (same fault, same hooks)."""


REALISTIC_OF: dict[str, type] = {}  # catalogue class name -> its realistic variant
for _cls in REALISTIC_BASES:
    _variant = type(_cls.__name__, (_cls,), {"realistic": True, "__doc__": _cls.__doc__,
                                            "__qualname__": f"realistic.{_cls.__name__}", "__module__": __name__})
    setattr(realistic, _cls.__name__, _variant)
    REALISTIC_OF[_cls.__name__] = _variant
del _cls, _variant


def realistic_events() -> frozenset[str]:
    """The event types the realistic mock declares it can perform (its capabilities 'events')."""
    from certconform.mdm.mock import MockMDM

    return frozenset(MockMDM(realistic=True).capabilities()["events"])


# ============================================================================ running the catalogue
PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUDGET_ENV = "CERTCONFORM_CATALOGUE_BUDGET"  # "kill" | "pass:N" (set by run_one, read below)
PASS_EXAMPLES = 100  # stateful examples for runs that must pass (half the ci profile)
STRICT_PASS_EXAMPLES = 50  # ... for the second, --strict-readings pass of HONEST and LEGIT entries
REALISTIC_PASS_EXAMPLES = 30  # ... for passing runs around the realistic mock (each event settles)


def pytest_configure(config):
    """When the runner loads this module as a plugin (`-p tests.mutants`), adjust the Hypothesis
    budget of the stateful test: a mutant run stops at its first failing example without
    shrinking it (what caught it is already named; shrinking costs minutes), and an honest or
    legitimate run uses fewer examples than the ci profile, to keep the catalogue's runtime
    bounded. Without the environment variable nothing changes."""
    budget = os.environ.get(BUDGET_ENV)
    if not budget:
        return
    from hypothesis import Phase, settings

    base = settings()  # the profile the project's conftest loaded (ci)
    mode, _, examples = budget.partition(":")
    overrides: dict = {}
    if mode == "kill":
        overrides["phases"] = [p for p in base.phases if p != Phase.shrink]
    if examples:
        overrides["max_examples"] = int(examples)
    settings.register_profile("certconform-catalogue", parent=base, database=None, **overrides)
    settings.load_profile("certconform-catalogue")


@dataclass
class Entry:
    name: str
    group: str  # mutant | strict | honest | legit
    fault: str
    breaks: list[str]
    expected: int  # expected exit code of the default run: 1 for mutants, 0 otherwise
    expected_strict: int | None  # expected exit code under --strict-readings; None: not run
    mode: str = "sync"  # sync: around the bundled mock | realistic: around MockMDM(realistic=True)
    wait: bool = False  # the kill must name the settle wait ("after waiting ... s"): a timing fault
    needs: list[str] = field(default_factory=list)  # group "unkillable": the events its fault needs,
    # which the implementation cannot perform; the run must pass with `breaks` statements not-supported
    edition: str | None = None  # --edition of its runs (the wrapper's mock follows the same edition)


@dataclass
class Run:
    """One run of the conformance suite against one entry (default or --strict-readings)."""

    strict: bool
    expected: int
    exit_code: int
    ok: bool  # killed (exit 1 with a failed check) when expected is 1, passed when expected is 0
    caught_by: str | None  # first failing test (scenario name or stateful test)
    cited: list[str]  # statement ids / interpretation ids / CONTRACT in the failure message
    invariants: list[str]  # invariant names in the failure message (stateful test)
    exception: str | None  # type of the first failure (a crash of the adapter is not a kill)
    message: str  # first line of the failure message
    seconds: float
    tail: str  # last lines of output when the result is unexpected
    waited: str | None = None  # the failure's "after waiting X s, the declared ... window Y s", if any
    verdicts: dict = field(default_factory=dict)  # results.json verdict of each statement the entry breaks


@dataclass
class Outcome:
    name: str
    group: str
    fault: str
    breaks: list[str]
    default: Run
    strict: Run | None = None

    @property
    def ok(self) -> bool:
        return self.default.ok and (self.strict is None or self.strict.ok)

    @property
    def seconds(self) -> float:
        return round(self.default.seconds + (self.strict.seconds if self.strict else 0.0), 2)

    @property
    def decisive(self) -> Run:
        """The run that shows what caught the entry: the strict one for STRICT entries."""
        return self.strict if self.group == "strict" and self.strict is not None else self.default

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("default", "strict"):
            if d[key] is not None and not d[key]["tail"]:
                del d[key]["tail"]
        d["ok"] = self.ok
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Outcome":
        d = {k: v for k, v in d.items() if k != "ok"}
        runs = {k: (Run(**{"tail": "", **d[k]}) if d.get(k) is not None else None) for k in ("default", "strict")}
        return cls(**{**d, **runs})


def _doc(cls) -> str:
    return " ".join((cls.__doc__ or "").split())


def catalogue() -> list[Entry]:
    def entry(c, group, expected, expected_strict):
        named = list(getattr(c, "breaks", ()) or getattr(c, "uses", ()))
        return Entry(c.__name__, group, getattr(c, "fault", "") or _doc(c), named, expected, expected_strict,
                     edition=getattr(c, "edition", None))

    out = [entry(c, "mutant", 1, None) for c in MUTANTS]
    out += [entry(c, "strict", 0, 1) for c in STRICT]
    out += [entry(c, "honest", 0, 0) for c in HONEST]
    out += [entry(c, "legit", 0, 0 if getattr(c, "check_strict", True) else None) for c in LEGIT]
    return out + realistic_catalogue()


def realistic_catalogue() -> list[Entry]:
    """The realistic entries (names `realistic.NAME`): every mutant, the timing-only mutants and
    the PassThrough wrapper around the realistic mock. A mutant whose fault needs an event the
    realistic mock cannot perform (its `needs`) is group "unkillable": honestly not killable under
    these capabilities, its run must pass with the statements it breaks reported not-supported."""
    performable = realistic_events()
    out = []
    for c in REALISTIC_BASES:
        needs = [e for e in getattr(c, "needs", ()) if e not in performable]
        honest = c is PassThrough
        group = "honest" if honest else "unkillable" if needs else "mutant"
        out.append(Entry(f"realistic.{c.__name__}", group, getattr(c, "fault", "") or _doc(c), list(c.breaks),
                         0 if honest or needs else 1, None, mode="realistic",
                         wait=bool(getattr(c, "late", False)) and not needs, needs=needs))
    return out


# a test ended by an adapter error (tier contract) is an ERROR on the terminal, as in junit.xml
_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+?::\S+?(?:\[[^\]]*\])?)(?: - .*)?$", re.M)
_ID = re.compile(r"\b(CONTRACT|[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)\b")
_INVARIANT = re.compile(r"\[invariant ([a-z0-9-]+):|invariants violated: ([a-z0-9, -]+)")
_EXCEPTION = re.compile(r"^E\s+((?:[A-Za-z_]\w*\.)*[A-Z]\w*)(?::|$)", re.M)
_WAITED = re.compile(r"after waiting [0-9.]+ s, the declared (?:settle_s|[a-z_]+ window) [0-9.]+ s")  # steps/driver.py


def is_crash(exception: str | None) -> bool:
    """A built-in exception other than AssertionError (KeyError, TypeError, ...), or the guard's
    adapter errors, is the adapter or the suite crashing, not a check failing; the suite's own failures (AssertionError and its
    subclasses such as SequenceFailed, SetupFailed, MalformedInventory) are kills."""
    import builtins

    if exception is None:
        return True
    if exception in ("AdapterError", "AdapterCrash", "CallTimeout", "AdapterBusy"):
        return True  # mdm/guarded.py: the adapter raised, hung or was stuck (verdict error)
    cls = getattr(builtins, exception, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        return False
    return not issubclass(cls, (AssertionError, BaseExceptionGroup))


def _known_ids() -> set[str]:
    from certconform.model.behaviour import default

    b = default()
    ids = {s.id for s in b.statements} | {i.id for i in b.interpretations} | {c.id for c in b.conflicts}
    return ids | {"CONTRACT"}


# mdm/guarded.py's one-liners for an adapter that raised or hung (also inside a stateful sequence)
_ADAPTER_ERROR = re.compile(r"\[contract: CONTRACT\] \w+\(.*\) (raised |did not return within|timed out \(|was not attempted)")


def explain_failure(output: str) -> dict:
    """What a `pytest -x -q` run's first failure says: the failing test, the exception type,
    the statement / interpretation ids and invariant names cited, and the first message line."""
    m = _FAILED.search(output)
    caught = m.group(1).split("::", 1)[-1] if m else None
    error_lines = [line[1:].strip() for line in output.splitlines() if line.startswith("E ")]
    text = "\n".join(error_lines).split("Counterexample as Gherkin")[0]  # ids of the failure, not of the replay
    exc = _EXCEPTION.search(output)
    known = _known_ids()
    cited = [i for i in dict.fromkeys(_ID.findall(text)) if i in known]
    invariants: list[str] = []
    for single, listed in _INVARIANT.findall(text):
        invariants += [single] if single else [n.strip() for n in listed.split(",") if n.strip()]
    message = next((line for line in error_lines if line), "")
    waited = _WAITED.search(" ".join(text.split()))
    return {"caught_by": caught, "exception": exc.group(1).rsplit(".", 1)[-1] if exc else None,
            "cited": cited, "invariants": list(dict.fromkeys(invariants)), "message": message[:300],
            "waited": waited.group(0) if waited else None}


def _verdicts(report_dir: str, statements) -> dict:
    """results.json's verdict of each of `statements` that the run's report names."""
    try:
        data = json.loads((Path(report_dir) / "results.json").read_text())
    except (OSError, ValueError):
        return {}
    by_id = data.get("statements", {})
    if isinstance(by_id, list):
        by_id = {s.get("id"): s for s in by_id}
    return {sid: by_id[sid].get("verdict") for sid in statements if sid in by_id}


def run_suite(name: str, expected: int, strict: bool = False, timeout: float = 900,
              pass_examples: int = PASS_EXAMPLES, wait: bool = False, breaks=(), needs=(),
              edition: str | None = None, marker: str | None = None, keyword: str | None = None) -> Run:
    """Run the conformance suite once against catalogue entry `name` in a process of its own. `wait`: a
    kill counts only when the failure names the settle wait. `needs` (an unkillable entry): the
    run must pass with every statement of `breaks` reported not-supported. `marker`, `keyword`: a
    pytest -m and -k selection (default: the whole suite)."""
    with tempfile.TemporaryDirectory(prefix="certconform-mutant-") as tmp:
        # --tb=short: the full "E   Type: message" lines explain_failure reads (by default the
        # suite prints a failing check's message alone)
        cmd = [sys.executable, "-m", "pytest", "--mdm", f"tests.mutants:{name}", "-q", "--tb=short",
               "-p", "no:cacheprovider", "-p", "tests.mutants", f"--report-dir={tmp}"]
        # (one token: pytest takes a separate existing path argument as a test path when it
        # determines the rootdir, and would then miss the project's conftest and pyproject.toml)
        if expected == 1:
            cmd.insert(6, "-x")
        if strict:
            cmd.append("--strict-readings")
        if edition:
            cmd.append(f"--edition={edition}")
        if marker:
            cmd += ["-m", marker]
        if keyword:
            cmd += ["-k", keyword]
        env = dict(os.environ)
        for var in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "CERTCONFORM_STRICT", "CERTCONFORM_MDM"):
            env.pop(var, None)
        env[BUDGET_ENV] = "kill" if expected == 1 else f"pass:{pass_examples}"
        start = time.monotonic()
        code, output = _launch(cmd, env, timeout)
        seconds = time.monotonic() - start
        verdicts = _verdicts(tmp, breaks) if needs else {}
    info = explain_failure(output) if code == 1 else {"caught_by": None, "exception": None, "cited": [],
                                                      "invariants": [], "message": "", "waited": None}
    ok = code == expected
    if ok and code == 1 and (is_crash(info["exception"]) or _ADAPTER_ERROR.search(info["message"])):
        ok = False  # the adapter crashed or hung (verdict error): that is not the suite catching a fault
    if ok and code == 1 and wait and not info["waited"]:
        ok = False  # a timing fault must be caught by the settle wait running out, not by chance
    if ok and needs and (not verdicts or any(v != "not-supported" for v in verdicts.values())):
        ok = False  # not killable only if what it breaks was ruled out by the capabilities
    tail = "" if ok else "\n".join(output.strip().splitlines()[-40:])
    return Run(strict, expected, code, ok, info["caught_by"], info["cited"], info["invariants"], info["exception"],
               info["message"], round(seconds, 2), tail, info["waited"], verdicts)


def _launch(cmd: list[str], env: dict, timeout: float) -> tuple[int, str]:
    """(exit code, output) of `cmd` (`python -m pytest ...`), forked from a warm process that has
    the libraries imported already (tests/warm_pytest.py; CERTCONFORM_CATALOGUE_COLD=1, or a
    platform without multiprocessing's forkserver: a fresh interpreter each run, as before)."""
    if os.environ.get("CERTCONFORM_CATALOGUE_COLD") != "1":
        try:
            from tests import warm_pytest
        except ImportError:  # tests/ itself on sys.path (rootdir-relative import mode)
            import warm_pytest
        if warm_pytest.available():
            return warm_pytest.run(cmd[3:], env, PROJECT_ROOT, timeout)
    try:
        proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout, env=env)
        return proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        return -1, f"timeout after {timeout}s\n{exc.stdout or ''}"


def default_run(entry: Entry, timeout: float = 900, pass_examples: int = PASS_EXAMPLES) -> Run:
    """The run without --strict-readings. A realistic mutant's kill run goes in the suite's own
    order, in parts: the feature scenarios with -x, then, only when they all passed, the stateful
    test one shard at a time (-k shard-I-of-N), up to the first that fails. That is the whole
    suite's -x run, split where its cells are made: a whole-suite run acts the stateful sequences'
    cells beside the scenarios' (and generates them first), all of it wasted when a scenario kills
    the mutant, as it does most of them; and it acts every shard's sequences at once, most of them
    wasted when the first shard kills it (a shard explores the same sequences alone as beside the
    others: conformance/shards.py)."""
    def run(marker=None, keyword=None):
        return run_suite(entry.name, entry.expected, False, timeout, _examples(entry, pass_examples), entry.wait,
                         entry.breaks, entry.needs, entry.edition, marker=marker, keyword=keyword)

    if entry.mode != "realistic" or entry.expected != 1:
        return run()
    part = run("not stateful")
    seconds = part.seconds
    for shard in _stateful_shards():
        if part.exit_code != 0:
            break
        part = run("stateful", shard)
        seconds += part.seconds
    return replace(part, seconds=round(seconds, 2))


def _stateful_shards() -> list[str]:
    """The stateful test's shard ids of a derandomized run (the catalogue's budgets are)."""
    from certconform.conformance.shards import SHARDS, Shard

    return [str(Shard(i, SHARDS)) for i in range(1, SHARDS + 1)]


def strict_run(entry: Entry, timeout: float = 900, pass_examples: int = PASS_EXAMPLES) -> Run:
    """The run with --strict-readings (an honest or legitimate entry's on a smaller budget)."""
    examples = min(pass_examples, STRICT_PASS_EXAMPLES) if entry.group in ("honest", "legit") else pass_examples
    return run_suite(entry.name, entry.expected_strict, True, timeout, examples, edition=entry.edition)


def run_one(entry: Entry, timeout: float = 900, pass_examples: int = PASS_EXAMPLES) -> Outcome:
    """Run the conformance suite against one catalogue entry: by default, and (for STRICT, HONEST
    and LEGIT entries) again with --strict-readings."""
    default = default_run(entry, timeout, pass_examples)
    strict = strict_run(entry, timeout, pass_examples) if entry.expected_strict is not None else None
    return Outcome(entry.name, entry.group, entry.fault, entry.breaks, default, strict)


def _examples(entry: Entry, pass_examples: int) -> int:
    """Stateful examples of a passing run: fewer around the realistic mock, where every event
    waits for its effects (or a quiet period) to settle."""
    return min(pass_examples, REALISTIC_PASS_EXAMPLES) if entry.mode == "realistic" else pass_examples


def _runs(entries: list[Entry]) -> list[tuple[Entry, bool]]:
    return [(e, False) for e in entries] + [(e, True) for e in entries if e.expected_strict is not None]


# Runs around the realistic mock wait for settle windows between bursts of work (as cells they
# are mostly CPU-bound: a feature-killed one, about 5 s of CPU for 6 s of wall time alone), so
# they run this many at a time beside the synchronous runs, filling each other's waits.
REALISTIC_WORKERS = 6


def run_catalogue(entries: list[Entry] | None = None, workers: int = 2, pass_examples: int = PASS_EXAMPLES,
                  on_run=None, realistic_workers: int = REALISTIC_WORKERS) -> list[Outcome]:
    """Every entry's runs (default, and strict where expected): the synchronous ones `workers`
    subprocesses at a time and, at the same time, the ones around the realistic mock (which mostly
    wait) `realistic_workers` at a time. `on_run(done, total, entry, run)` is called as each run
    finishes (progress lines)."""
    entries = entries if entries is not None else catalogue()
    jobs = _runs(entries)
    # longest first: the passing runs (full budget), then the kills
    jobs.sort(key=lambda job: (job[0].expected_strict if job[1] else job[0].expected))
    lock, finished = threading.Lock(), [0]

    def one(job):
        e, strict = job
        if strict:
            run = strict_run(e, pass_examples=pass_examples)
        else:
            run = default_run(e, pass_examples=pass_examples)
        if on_run is not None:
            with lock:
                finished[0] += 1
                on_run(finished[0], len(jobs), e, run)
        return run

    waiting = [job for job in jobs if job[0].mode == "realistic"]
    busy = [job for job in jobs if job[0].mode != "realistic"]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as cpu_pool, \
            ThreadPoolExecutor(max_workers=max(1, realistic_workers)) as wait_pool:
        futures = {(e.name, s): wait_pool.submit(one, (e, s)) for e, s in waiting}
        futures.update({(e.name, s): cpu_pool.submit(one, (e, s)) for e, s in busy})
        runs = {key: future.result() for key, future in futures.items()}
    return [Outcome(e.name, e.group, e.fault, e.breaks, runs[(e.name, False)], runs.get((e.name, True)))
            for e in entries]


def summary(outcomes: list[Outcome]) -> dict:
    mutants = [o for o in outcomes if o.group == "mutant"]
    strict = [o for o in outcomes if o.group == "strict"]
    passing = [o for o in outcomes if o.group in ("honest", "legit")]
    killed = [o for o in mutants if o.ok]
    realistic_names = {e.name for e in realistic_catalogue()}
    unkillable = [o for o in outcomes if o.group == "unkillable"]
    return {
        "mutants": len(mutants),
        "killed": len(killed),
        "kill_rate": round(len(killed) / len(mutants), 4) if mutants else None,
        "survivors": [o.name for o in mutants if not o.ok],
        "realistic_mutants": sum(1 for o in mutants if o.name in realistic_names),
        "realistic_killed": sum(1 for o in killed if o.name in realistic_names),
        "realistic_not_killable": [o.name for o in unkillable if o.ok],
        "realistic_unkillable_wrong": [o.name for o in unkillable if not o.ok],
        "strict": len(strict),
        "strict_caught": sum(1 for o in strict if o.strict is not None and o.strict.ok),
        "strict_passed_by_default": sum(1 for o in strict if o.default.ok),
        "strict_wrong": [o.name for o in strict if not o.ok],
        "honest_and_legit_passed": sum(1 for o in passing if o.ok),
        "honest_and_legit": len(passing),
        "wrongly_failed": [o.name for o in passing if not o.ok],
        "seconds": round(sum(o.seconds for o in outcomes), 1),
    }


def write_report(outcomes: list[Outcome], path: Path | None = None, wall_seconds: float | None = None) -> Path:
    path = path or PROJECT_ROOT / "reports" / "mutants.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"summary": dict(summary(outcomes), **({"wall_seconds": round(wall_seconds)} if wall_seconds else {})),
            "results": [o.to_dict() for o in outcomes]}
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def _verdict(run: Run | None, group: str = "") -> str:
    if run is None:
        return "-"
    if group == "unkillable":
        if run.ok:
            return "not killable: " + ", ".join(f"{k} {v}" for k, v in run.verdicts.items())
        return f"UNEXPECTED (exit {run.exit_code}; {', '.join(f'{k} {v}' for k, v in run.verdicts.items()) or 'no verdicts'})"
    if run.ok:
        return "killed" if run.expected == 1 else "passed"
    if run.expected == 1:
        if run.exit_code == 1 and run.caught_by and not run.waited and not is_crash(run.exception):
            return "KILLED WITHOUT NAMING THE WAIT"
        if run.exit_code == 1:
            return f"CRASHED ({run.exception})"
        return "SURVIVED" if run.exit_code == 0 else f"ERROR (exit {run.exit_code})"
    return f"FAILED (exit {run.exit_code})"


def progress_line(done: int, total: int, entry: Entry, run: Run) -> str:
    """One line per finished run: '[ 3/76] WindowsWipeNeverRevokes (mutant): killed in 4.2s'."""
    flag = " --strict-readings" if run.strict else ""
    width = len(str(total))
    return f"[{done:>{width}}/{total}] {entry.name} ({entry.group}){flag}: {_verdict(run, entry.group)} in {run.seconds:.1f}s"


def format_table(outcomes: list[Outcome]) -> str:
    def cites(run: Run) -> str:
        parts = run.cited[:3] + [f"inv {n}" for n in run.invariants[:2]]
        return ", ".join(parts) or "-"

    rows = [("entry", "kind", "fault", "default", "--strict", "caught by", "cites", "s")]
    for o in outcomes:
        run = o.decisive
        caught = run.caught_by or "-"
        if len(caught) > 60:
            caught = caught[:57] + "..."
        rows.append((o.name, o.group, o.fault[:60], _verdict(o.default, o.group), _verdict(o.strict), caught,
                     cites(run), f"{o.seconds:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    s = summary(outcomes)
    lines.append("")
    lines.append(f"kill rate: {s['killed']}/{s['mutants']} MUTANTS killed by default ({100 * (s['kill_rate'] or 0):.0f}%)"
                 + (f"; survivors: {', '.join(s['survivors'])}" if s["survivors"] else ""))
    lines.append(f"deviations caught under --strict: {s['strict_caught']}/{s['strict']} STRICT entries "
                 f"(passing by default: {s['strict_passed_by_default']}/{s['strict']})"
                 + (f"; wrong: {', '.join(s['strict_wrong'])}" if s["strict_wrong"] else ""))
    if s["realistic_mutants"] or s["realistic_not_killable"] or s["realistic_unkillable_wrong"]:
        lines.append(f"around the realistic mock: {s['realistic_killed']}/{s['realistic_mutants']} killed; not killable "
                     f"under its capabilities (checks not-supported): {len(s['realistic_not_killable'])}"
                     + (f"; wrong: {', '.join(s['realistic_unkillable_wrong'])}" if s["realistic_unkillable_wrong"] else ""))
    lines.append(f"honest wrappers and legitimate variants passing (default and --strict): "
                 f"{s['honest_and_legit_passed']}/{s['honest_and_legit']}"
                 + (f"; wrongly failed: {', '.join(s['wrongly_failed'])}" if s["wrongly_failed"] else ""))
    return "\n".join(lines)


def format_kill_table(outcomes: list[Outcome]) -> str:
    """Synchronous vs realistic, one row per mutant: how each run ended and what caught it (the
    statement ids cited; "+ wait" when the failure named the settle wait)."""
    by_name = {o.name: o for o in outcomes}

    def cell(o: Outcome | None) -> tuple[str, str]:
        if o is None:
            return "-", ""
        run = o.default
        cites = ", ".join(run.cited[:2]) or ("-" if not run.verdicts else "")
        if o.group == "unkillable" and run.ok:
            return "NOT KILLABLE", ", ".join(f"{k} {v}" for k, v in run.verdicts.items())
        return _verdict(run, o.group), cites + (" + wait" if run.waited else "")

    rows = [("mutant", "synchronous", "caught (cites)", "realistic", "caught (cites)")]
    for cls in MUTANTS + REALISTIC_ONLY:
        sync, real = by_name.get(cls.__name__), by_name.get(f"realistic.{cls.__name__}")
        if sync is None and real is None:
            continue
        rows.append((cls.__name__, *cell(sync), *cell(real)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
