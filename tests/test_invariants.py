"""The named invariants: at least 12, documented, each able to fail on a hand-made violating step
and quiet on its conforming twin (the same event, done right); every violation cites real ids,
names its tier, and cites only statements of the platform it concerns (one fault, one red)."""
from __future__ import annotations

import pytest

from certconform.model.behaviour import default
from certconform.model.invariants import INVARIANTS, Step
from certconform.model.oracle import DOCUMENT, INTERFACE, READING
from certconform.model.rules import REQUIRED, default_rules
from certconform.model.world import World

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


# name -> (violating step, the same event done right, tier of the violation)
CASES = {
    "device-actions-remove-roots": (
        step({"type": "wipe", "device": "d1"}, [rec("R", "trusted_root")], [rec("R", "trusted_root")], world("ios")),
        step({"type": "wipe", "device": "d1"}, [rec("R", "trusted_root")], [rec("R", "trusted_root", installed=False)],
             world("ios")),
        DOCUMENT),
    "device-actions-revoke-and-remove-intune-certificates": (
        step({"type": "retire", "device": "d1"}, [rec("S")], [rec("S", installed=False)]),
        step({"type": "retire", "device": "d1"}, [rec("S")], [rec("S", installed=False, revoked=True)]),
        DOCUMENT),
    "stay-lists-are-honoured": (
        step({"type": "update_profile", "profile": "pkcs"}, [rec("P", "pkcs")], [rec("P", "pkcs", installed=False)]),
        step({"type": "update_profile", "profile": "pkcs"}, [rec("P", "pkcs")], [rec("P", "pkcs")]),
        DOCUMENT),
    "imported-certificates-leave-with-company-data": (
        step({"type": "unenroll", "device": "d1"}, [rec("I", "pkcs_imported")], [rec("I", "pkcs_imported")]),
        step({"type": "unenroll", "device": "d1"}, [rec("I", "pkcs_imported")],
             [rec("I", "pkcs_imported", installed=False)]),
        DOCUMENT),
    "outsiders-are-never-revoked": (
        step({"type": "unenroll", "device": "d1"}, [rec("S")], [rec("S", revoked=True, installed=False)],
             world(ca="third_party")),
        step({"type": "unenroll", "device": "d1"}, [rec("S")], [rec("S", installed=False)], world(ca="third_party")),
        DOCUMENT),
    "android-legacy-certificates-are-never-removed-by-the-mdm": (
        step({"type": "unenroll", "device": "d1"}, [rec("S")], [rec("S", installed=False)], world("android_legacy")),
        step({"type": "unenroll", "device": "d1"}, [rec("S")], [rec("S", revoked=True)], world("android_legacy")),
        DOCUMENT),
    "events-on-one-device-leave-other-devices-alone": (
        step({"type": "unenroll", "device": "d1"}, [rec("X", device="d2")], [rec("X", device="d2", installed=False)]),
        step({"type": "unenroll", "device": "d1"}, [rec("X", device="d2")], [rec("X", device="d2")]),
        READING),
    "check-in-restores-targeted-certificates": (
        step({"type": "check_in", "device": "d1"}, [], [rec("S")]),
        step({"type": "check_in", "device": "d1"}, [], [rec("S"), rec("P", "pkcs")]),
        INTERFACE),
    "certificates-arrive-only-at-check-in": (
        step({"type": "update_profile", "profile": "scep"}, [], [rec("S")]),
        step({"type": "check_in", "device": "d1"}, [], [rec("S"), rec("P", "pkcs")]),
        READING),
    "macos-wipe-is-refused": (
        step({"type": "wipe", "device": "d1"}, [rec("S")], [rec("S", installed=False)], world("macos")),
        step({"type": "wipe", "device": "d1"}, [rec("S")], [rec("S")], world("macos"), outcome="rejected"),
        READING),
    "revocation-is-permanent": (
        step({"type": "check_in", "device": "d1"}, [rec("S", revoked=True, installed=False), rec("P", "pkcs")],
             [rec("S", installed=False), rec("P", "pkcs"), rec("S2")]),
        step({"type": "check_in", "device": "d1"}, [rec("S", revoked=True, installed=False), rec("P", "pkcs")],
             [rec("S", revoked=True, installed=False), rec("P", "pkcs"), rec("S2")]),
        READING),
    "removed-certificates-are-never-reinstalled": (
        step({"type": "check_in", "device": "d1"}, [rec("S", installed=False), rec("P", "pkcs")],
             [rec("S"), rec("P", "pkcs")]),
        step({"type": "check_in", "device": "d1"}, [rec("S", installed=False), rec("P", "pkcs")],
             [rec("S", installed=False), rec("P", "pkcs"), rec("S2")]),
        READING),
    "serials-are-unique": (
        step({"type": "check_in", "device": "d1"}, [rec("S", installed=False), rec("P", "pkcs")],
             [rec("S", installed=False), rec("P", "pkcs"), rec("S")]),
        step({"type": "check_in", "device": "d1"}, [rec("S", installed=False), rec("P", "pkcs")],
             [rec("S", installed=False), rec("P", "pkcs"), rec("S2")], seen={"S", "P"}),
        INTERFACE),
    "records-are-never-dropped": (
        step({"type": "wipe", "device": "d1"}, [rec("S")], []),
        step({"type": "wipe", "device": "d1"}, [rec("S")], [rec("S", installed=False, revoked=True)]),
        INTERFACE),
}


def test_at_least_twelve_named_and_documented():
    assert len(INVARIANTS) >= 12
    assert len(BY_NAME) == len(INVARIANTS)
    for inv in INVARIANTS:
        assert inv.doc, f"invariant {inv.name} has no docstring"


def test_every_invariant_has_a_case():
    assert set(CASES) == set(BY_NAME)


@pytest.mark.parametrize("name", sorted(CASES))
def test_invariant_can_fail_with_its_tier_and_real_ids(name):
    bad, _, tier = CASES[name]
    found = BY_NAME[name].check(bad)
    assert found, f"{name} did not notice its violation"
    b = default()
    known = set(b.by_id) | {i.id for i in b.interpretations} | {"CONTRACT"}
    for v in found:
        assert v.tier == tier, (name, v)
        assert v.statements and set(v.statements) <= known, (name, v.statements)
        readings = {i.id for i in b.interpretations if i.tier == "reading"}
        if v.tier == READING:  # a deviation names the reading it departs from
            assert set(v.statements) & readings, (name, v.statements)


@pytest.mark.parametrize("name", sorted(CASES))
def test_invariant_is_quiet_on_the_same_event_done_right(name):
    _, good, _ = CASES[name]
    assert BY_NAME[name].check(good) == []


def test_the_serial_invariant_does_not_blame_a_reordering():
    """Moving an existing record is not serial reuse (records-are-never-dropped says what it is)."""
    s = step({"type": "check_in", "device": "d1"}, [rec("S"), rec("P", "pkcs")], [rec("P", "pkcs"), rec("S")],
             seen={"S", "P"})
    assert BY_NAME["serials-are-unique"].check(s) == []
    assert BY_NAME["records-are-never-dropped"].check(s)


def test_a_violation_cites_only_its_platform():
    """A Windows wipe that forgets to revoke names Windows statements, never another platform's."""
    s = step({"type": "wipe", "device": "d1"}, [rec("S"), rec("P", "pkcs")],
             [rec("S", installed=False), rec("P", "pkcs", installed=False)])
    found = BY_NAME["device-actions-revoke-and-remove-intune-certificates"].check(s)
    cited = {sid for v in found for sid in v.statements}
    assert cited == {"WIN-SCEP-RR-2", "WIN-PKCS-RR-2"}


def test_android_for_work_is_never_judged():
    """ANDROID-WORK-1: a licence loss that removes certificates on Android for Work trips nothing."""
    w = world("android_work")
    s = step({"type": "lose_license", "user": "u1"}, [rec("S"), rec("R", "trusted_root")],
             [rec("S", installed=False, revoked=True), rec("R", "trusted_root", installed=False, revoked=True)], w)
    assert [(inv.name, inv.check(s)) for inv in INVARIANTS if inv.check(s)] == []


def test_root_invariant_agrees_with_the_table():
    rules = default_rules()
    for platform in ("windows", "ios"):
        for action in ("unenroll", "wipe", "retire"):
            req = rules.requirement(platform, "trusted_root", action)
            assert all(r.remove == REQUIRED for r in req.readings), (platform, action)


@pytest.mark.parametrize("platform", ["windows", "ios", "android_knox", "macos", "android_legacy", "android_work"])
def test_licence_events_follow_the_table_on_every_platform(platform):
    """The licence rows of the table, on every platform, as the stay invariant applies them:
    SCEP/PKCS stay by the document on the validated platforms; on Android legacy only removal is
    forbidden; roots and imported certificates stay only by our readings (I-LICENCE-NOTHING,
    I-OUTSIDERS-NEVER-REVOKED); Android for Work is not judged."""
    rules = default_rules()
    for kind in ("trusted_root", "scep", "pkcs", "pkcs_imported"):
        for situation in ("license_lost", "license_withdrawn"):
            req = rules.requirement(platform, kind, situation, "intune" if kind in ("scep", "pkcs") else None)
            pairs = [(r.revoke, r.remove) for r in req.readings]
            strict = [(r.revoke, r.remove) for r in req.strict_readings]
            if platform == "android_work":
                assert pairs == strict == [("open", "open")]
            elif kind in ("scep", "pkcs") and platform == "android_legacy":
                assert pairs == [("open", "forbidden")], (platform, kind)  # ANDROID-LEGACY-1 only
            elif kind in ("scep", "pkcs"):
                assert pairs == [("forbidden", "forbidden")], (platform, kind)
            else:
                assert strict == [("forbidden", "forbidden")], (platform, kind, strict)
                assert req.interpretations, (platform, kind)  # only our readings make it stay
