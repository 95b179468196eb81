"""The named invariants: at least 12, documented, citing real statements, agreeing with the
behaviour table, and each able to fail (a hand-made violating step for every one)."""
from __future__ import annotations

import pytest

from model.behaviour import default
from model.invariants import INVARIANTS, Step
from model.rules import REQUIRED, default_rules
from model.world import World

BY_NAME = {inv.name: inv for inv in INVARIANTS}


def world(platform="windows", ca="intune", enrolled=True, licensed=True):
    w = World()
    for ev in [{"type": "create_user", "user": "u1"}, {"type": "create_group", "group": "g"},
               {"type": "enroll", "device": "d1", "platform": platform, "user": "u1"},
               {"type": "enroll", "device": "d2", "platform": platform, "user": "u1"},
               {"type": "add_member", "group": "g", "member": "d1"},
               {"type": "create_profile", "profile": "root", "kind": "trusted_root"},
               {"type": "create_profile", "profile": "scep", "kind": "scep", "root": "root", "ca": ca},
               {"type": "create_profile", "profile": "pkcs", "kind": "pkcs", "root": "root", "ca": ca},
               {"type": "create_profile", "profile": "imported", "kind": "pkcs_imported"},
               {"type": "assign_profile", "profile": "scep", "group": "g"},
               {"type": "assign_profile", "profile": "pkcs", "group": "g"}]:
        w.apply(w.validate(ev))
    w.devices["d1"].enrolled = enrolled
    w.users["u1"] = licensed
    return w


def rec(serial, kind="scep", device="d1", installed=True, revoked=False, profile=None):
    return {"device": device, "profile": profile or {"trusted_root": "root", "pkcs_imported": "imported"}.get(kind, kind),
            "kind": kind, "serial": serial, "installed": installed, "revoked": revoked}


def step(event, before, after, w=None, outcome="applied", seen=()):
    return Step(w or world(), event, outcome, before, after, set(seen))


VIOLATIONS = {
    "device-actions-remove-roots-on-windows-and-ios":
        step({"type": "wipe", "device": "d1"}, [rec("R", "trusted_root")], [rec("R", "trusted_root")], world("ios")),
    "device-actions-revoke-and-remove-intune-certificates":
        step({"type": "retire", "device": "d1"}, [rec("S")], [rec("S", installed=False)]),
    "licence-events-change-nothing":
        step({"type": "lose_license", "user": "u1"}, [rec("P", "pkcs")], [rec("P", "pkcs", revoked=True)]),
    "revocation-is-permanent":
        step({"type": "check_in", "device": "d1"}, [rec("S", revoked=True)], [rec("S")]),
    "serials-are-unique":
        step({"type": "check_in", "device": "d1"}, [rec("S", installed=False)], [rec("S", installed=False), rec("S")]),
    "removed-certificates-are-never-reinstalled":
        step({"type": "check_in", "device": "d1"}, [rec("S", installed=False)], [rec("S")]),
    "records-are-never-dropped":
        step({"type": "wipe", "device": "d1"}, [rec("S")], []),
    "events-on-one-device-leave-other-devices-alone":
        step({"type": "unenroll", "device": "d1"}, [rec("X", device="d2")], [rec("X", device="d2", installed=False)]),
    "check-in-restores-targeted-certificates":
        step({"type": "check_in", "device": "d1"}, [], [rec("S")]),
    "third-party-and-imported-certificates-are-never-revoked":
        step({"type": "unenroll", "device": "d1"}, [rec("S")], [rec("S", revoked=True, installed=False)],
             world(ca="third_party")),
    "android-legacy-certificates-are-never-removed-by-the-mdm":
        step({"type": "unenroll", "device": "d1"}, [rec("S")], [rec("S", installed=False)], world("android_legacy")),
    "certificates-arrive-only-at-check-in":
        step({"type": "update_profile", "profile": "scep"}, [], [rec("S")]),
    "macos-wipe-is-refused":
        step({"type": "wipe", "device": "d1"}, [rec("S")], [rec("S", installed=False)], world("macos")),
    "imported-certificates-leave-with-company-data":
        step({"type": "unenroll", "device": "d1"}, [rec("I", "pkcs_imported")], [rec("I", "pkcs_imported")]),
    "stay-lists-are-honoured":
        step({"type": "update_profile", "profile": "pkcs"}, [rec("P", "pkcs")], [rec("P", "pkcs", installed=False)]),
}


def test_at_least_twelve_named_and_documented():
    assert len(INVARIANTS) >= 12
    assert len(BY_NAME) == len(INVARIANTS)
    for inv in INVARIANTS:
        assert inv.doc, f"invariant {inv.name} has no docstring"


def test_invariants_cite_real_statements():
    b = default()
    known = set(b.by_id) | {i.id for i in b.interpretations} | {"CONTRACT"}
    for inv in INVARIANTS:
        assert inv.statements, inv.name
        unknown = [s for s in inv.statements if s not in known]
        assert not unknown, f"{inv.name} cites unknown ids {unknown}"


def test_every_invariant_has_a_violating_example():
    assert set(VIOLATIONS) == set(BY_NAME)


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_invariant_can_fail(name):
    assert BY_NAME[name].check(VIOLATIONS[name]), f"{name} did not notice its violation"


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_invariant_is_quiet_when_nothing_changes(name):
    s = VIOLATIONS[name]
    quiet = Step(s.world, {"type": "create_group", "group": "other"}, "applied", s.before, s.before, set())
    assert BY_NAME[name].check(quiet) == []


def test_root_invariant_agrees_with_the_table():
    rules = default_rules()
    for platform in ("windows", "ios"):
        for action in ("unenroll", "wipe", "retire"):
            req = rules.requirement(platform, "trusted_root", action)
            assert all(r.remove == REQUIRED for r in req.readings), (platform, action)
            assert set(req.statements) <= set(BY_NAME["device-actions-remove-roots-on-windows-and-ios"].statements)


def test_licence_invariant_agrees_with_the_table():
    rules = default_rules()
    for platform in ("windows", "ios", "android_knox", "macos"):
        for kind in ("trusted_root", "scep", "pkcs", "pkcs_imported"):
            for situation in ("license_lost", "license_withdrawn"):
                req = rules.requirement(platform, kind, situation, "intune" if kind in ("scep", "pkcs") else None)
                assert [(r.revoke, r.remove) for r in req.readings] == [("forbidden", "forbidden")]
