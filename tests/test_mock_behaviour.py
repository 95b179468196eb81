"""Behaviour of the mock MDM, per platform, certificate kind and trigger.

The expectations below are written from the document (line numbers cited) and from the project's
decisions where it is silent; they are not read from mdm/mock/removal_policy.py, so a slip in the
table or in the wiring around it shows up here.
"""
from __future__ import annotations

import pytest

from certconform.mdm import EventRejected
from certconform.mdm.mock import MockMDM

PLATFORMS = ["windows", "ios", "macos", "android_knox", "android_work", "android_legacy"]
TRIGGERS = ["unenroll", "wipe", "retire", "left_group", "user_left_group", "unassigned",
            "delete_user", "delete_group", "update", "lose_license", "withdraw_license"]

# RR revoked and removed, R revoked (stays installed), X removed (not revoked), - stays.
# Columns follow TRIGGERS. "update" revokes SCEP; the mock then takes the superseded certificate
# off the device so that the next check-in installs a replacement (project decision) -> RR.
EXPECTED = {
    # Windows SCEP 61-83; PKCS 87-108 (no longer targeted -> removed; directory removal stays, 107)
    ("windows", "scep"): "RR RR RR RR RR RR - - RR - -",
    ("windows", "pkcs"): "RR RR RR X X X - - - - -",
    # iOS SCEP 114-136; PKCS 140-161 (unassignment removes, 148; leaving a group too, line 37)
    ("ios", "scep"): "RR RR RR RR RR RR - - RR - -",
    ("ios", "pkcs"): "RR RR RR X X X - - - - -",
    # macOS SCEP 223-238; PKCS 245-261 (leaving a group: silent, line 37 -> removed); wipe refused (241)
    ("macos", "scep"): "RR no RR RR RR RR - - RR - -",
    ("macos", "pkcs"): "RR no RR X X - - - - - -",
    # KNOX SCEP 167-190 (retire/group/unassign/directory/update revoke only; 177 chosen over 190)
    # (the user leaving the group: as the device, and always taken off the device, line 37)
    ("android_knox", "scep"): "RR RR R R RR R R R RR - -",
    # KNOX PKCS 194-212 (unassignment stays, 212; leaving a group: silent, line 37 -> removed)
    ("android_knox", "pkcs"): "RR RR RR X X - - - - - -",
    # Android for Work: not validated (216); like KNOX, but retire deletes the work profile
    ("android_work", "scep"): "RR RR RR R RR R R R RR - -",
    ("android_work", "pkcs"): "RR RR RR X X - - - - - -",
    # Android legacy: never removes (217); revokes where KNOX revokes
    ("android_legacy", "scep"): "R R R R R R R R RR - -",
    ("android_legacy", "pkcs"): "R R R - - - - - - - -",
}
# Roots (73-77, 97-101, ...) and imported PKCS (45): removed by unenroll, wipe, retire only.
ROOT_LIKE = "X X X - - - - - - - -"


def expected(platform: str, kind: str, trigger: str) -> str:
    row = EXPECTED[(platform, kind)] if kind in ("scep", "pkcs") else ROOT_LIKE
    outcome = dict(zip(TRIGGERS, row.split()))[trigger]
    if platform == "macos" and trigger == "wipe":
        return "no"
    if platform == "android_legacy":
        outcome = outcome.replace("X", "-").replace("RR", "R")
    if kind in ("trusted_root", "pkcs_imported"):
        assert "R" not in outcome
    return outcome


def build(platform: str, kind: str, ca: str = "intune") -> MockMDM:
    """u1 enrolls d1; profiles r (root) and p (kind) reach d1 through group gd (device member) or,
    for the user-based triggers, group gu (user member); one check-in delivered both."""
    mdm = MockMDM()
    for e in [
        {"type": "create_user", "user": "u1"},
        {"type": "create_group", "group": "gd"},
        {"type": "create_group", "group": "gu"},
        {"type": "enroll", "device": "d1", "platform": platform, "user": "u1"},
        {"type": "add_member", "group": "gd", "member": "d1"},
        {"type": "add_member", "group": "gu", "member": "u1"},
        {"type": "create_profile", "profile": "r", "kind": "trusted_root"},
    ]:
        mdm.apply(e)
    profile = {"type": "create_profile", "profile": "p", "kind": kind}
    if kind in ("scep", "pkcs"):
        profile.update(root="r", ca=ca)
    if kind != "trusted_root":
        mdm.apply(profile)
    return mdm


def trigger_event(trigger: str, profile: str = "p") -> list[dict]:
    return {
        "unenroll": [{"type": "unenroll", "device": "d1"}],
        "wipe": [{"type": "wipe", "device": "d1"}],
        "retire": [{"type": "retire", "device": "d1"}],
        "left_group": [{"type": "remove_member", "group": "gd", "member": "d1"}],
        "user_left_group": [{"type": "remove_member", "group": "gu", "member": "u1"}],
        "unassigned": [{"type": "unassign_profile", "profile": profile, "group": "gd"}],
        "delete_user": [{"type": "delete_user", "user": "u1"}],
        "delete_group": [{"type": "delete_group", "group": "gd"}],
        "update": [{"type": "update_profile", "profile": profile}],
        "lose_license": [{"type": "lose_license", "user": "u1"}],
        "withdraw_license": [{"type": "withdraw_license", "user": "u1"}],
    }[trigger]


def assign_group(trigger: str) -> str:
    return "gu" if trigger in ("user_left_group", "delete_user") else "gd"


def record(mdm: MockMDM, profile: str) -> dict:
    [rec] = [r for r in mdm.observe() if r["profile"] == profile]
    return rec


CASES = [(p, k, t) for p in PLATFORMS for k in ("scep", "pkcs", "trusted_root", "pkcs_imported") for t in TRIGGERS]


@pytest.mark.parametrize("platform,kind,trigger", CASES)
def test_certificate_outcome(platform, kind, trigger):
    mdm = build(platform, kind)
    profile = "r" if kind == "trusted_root" else "p"
    group = assign_group(trigger)
    mdm.apply({"type": "assign_profile", "profile": profile, "group": group})
    mdm.apply({"type": "check_in", "device": "d1"})
    before = record(mdm, profile)
    assert before["installed"] and not before["revoked"] and before["kind"] == kind

    want = expected(platform, kind, trigger)
    events = trigger_event(trigger, profile)
    if want == "no":
        snapshot = mdm.observe()
        with pytest.raises(EventRejected):
            mdm.apply(events[0])
        assert mdm.observe() == snapshot
        return
    for e in events:
        mdm.apply(e)
    after = record(mdm, profile)
    assert after["serial"] == before["serial"]
    assert (after["revoked"], after["installed"]) == {
        "RR": (True, False), "R": (True, True), "X": (False, False), "-": (False, True)}[want], want


def delivered_then(platform: str, kind: str, trigger: str, ca: str) -> dict | None:
    """Profile p (issued by `ca`) delivered to d1 through group gd, then `trigger`: p's record, or
    None when the trigger is one the platform refuses (checked: EventRejected)."""
    mdm = build(platform, kind, ca=ca)
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "gd"})
    mdm.apply({"type": "check_in", "device": "d1"})
    if expected(platform, kind, trigger) == "no":
        with pytest.raises(EventRejected):
            mdm.apply(trigger_event(trigger)[0])
        return None
    for e in trigger_event(trigger):
        mdm.apply(e)
    return record(mdm, "p")


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("trigger", ["unenroll", "wipe", "retire", "left_group", "unassigned", "update"])
def test_third_party_pkcs_follows_the_pkcs_lists(platform, trigger):
    """The PKCS lists draw no line between CAs (line 55 names SCEP only): a third-party PKCS
    certificate is revoked and removed exactly as an Intune-issued one."""
    results = []
    for ca in ("intune", "third_party"):
        after = delivered_then(platform, "pkcs", trigger, ca)
        if after is not None:
            results.append((after["revoked"], after["installed"]))
    assert len(set(results)) <= 1, results


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("kind", ["scep"])
@pytest.mark.parametrize("trigger", ["unenroll", "wipe", "retire", "left_group", "unassigned", "update"])
def test_third_party_ca_is_never_revoked(platform, kind, trigger):
    """Line 55: a SCEP certificate from a third-party CA is never revoked; it is still removed
    where an Intune-issued one would be."""
    after = delivered_then(platform, kind, trigger, "third_party")
    if after is None:
        return
    want = expected(platform, kind, trigger)
    assert after["revoked"] is False
    if trigger != "update":  # the intune update removal follows the revocation it cannot make here
        assert after["installed"] == (want in ("-", "R"))


@pytest.mark.parametrize("platform", [p for p in PLATFORMS if p != "macos"])
@pytest.mark.parametrize("action", ["unenroll", "wipe", "retire"])
def test_imported_pkcs_removed_when_company_data_goes(platform, action):
    """Line 45: imported PKCS removed on unenroll and when company data is removed; never revoked."""
    mdm = build(platform, "pkcs_imported")
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "gd"})
    mdm.apply({"type": "check_in", "device": "d1"})
    mdm.apply({"type": action, "device": "d1"})
    rec = record(mdm, "p")
    assert rec["revoked"] is False
    assert rec["installed"] is (platform == "android_legacy")


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_android_legacy_never_removes_anything(trigger):
    mdm = build("android_legacy", "scep")
    mdm.apply({"type": "create_profile", "profile": "k", "kind": "pkcs", "root": "r", "ca": "intune"})
    mdm.apply({"type": "create_profile", "profile": "i", "kind": "pkcs_imported"})
    for p in ("r", "p", "k", "i"):
        mdm.apply({"type": "assign_profile", "profile": p, "group": assign_group(trigger)})
    mdm.apply({"type": "check_in", "device": "d1"})
    if trigger == "unassigned":
        for p in ("r", "k", "i"):
            mdm.apply({"type": "unassign_profile", "profile": p, "group": "gd"})
    for e in trigger_event(trigger):
        mdm.apply(e)
    assert len(mdm.observe()) == 4
    assert all(r["installed"] for r in mdm.observe())


def test_macos_wipe_is_rejected_and_changes_nothing():
    mdm = build("macos", "scep")
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "gd"})
    mdm.apply({"type": "check_in", "device": "d1"})
    snapshot = mdm.observe()
    with pytest.raises(EventRejected, match="macOS"):
        mdm.apply({"type": "wipe", "device": "d1"})
    assert mdm.observe() == snapshot
    # still enrolled and managed: a manual deletion is repaired at the next check-in
    mdm.apply({"type": "delete_certificate", "device": "d1", "profile": "p"})
    mdm.apply({"type": "check_in", "device": "d1"})
    assert [r["installed"] for r in mdm.observe()] == [False, True]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("kind", ["scep", "pkcs", "pkcs_imported", "trusted_root"])
def test_manual_deletion_is_reissued_with_a_new_serial(platform, kind):
    """Lines 50-52: the next check-in issues a new certificate; the deleted one is not revoked."""
    mdm = build(platform, kind)
    profile = "r" if kind == "trusted_root" else "p"
    mdm.apply({"type": "assign_profile", "profile": profile, "group": "gd"})
    mdm.apply({"type": "check_in", "device": "d1"})
    mdm.apply({"type": "delete_certificate", "device": "d1", "profile": profile})
    [old] = mdm.observe()
    assert (old["installed"], old["revoked"]) == (False, False)
    mdm.apply({"type": "check_in", "device": "d1"})
    old2, new = mdm.observe()
    assert old2 == old
    assert new["serial"] != old["serial"] and new["installed"] and not new["revoked"]
    assert new["profile"] == profile and new["kind"] == kind


def test_scep_update_is_replaced_at_next_check_in():
    mdm = build("windows", "scep")
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "gd"})
    mdm.apply({"type": "check_in", "device": "d1"})
    mdm.apply({"type": "update_profile", "profile": "p"})
    mdm.apply({"type": "check_in", "device": "d1"})
    old, new = mdm.observe()
    assert (old["revoked"], old["installed"]) == (True, False)
    assert (new["revoked"], new["installed"]) == (False, True)


def test_pkcs_update_keeps_the_certificate_and_check_in_delivers_nothing_new():
    mdm = build("ios", "pkcs")
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "gd"})
    mdm.apply({"type": "check_in", "device": "d1"})
    mdm.apply({"type": "update_profile", "profile": "p"})
    mdm.apply({"type": "check_in", "device": "d1"})
    [rec] = mdm.observe()
    assert rec["installed"] and not rec["revoked"]


@pytest.mark.parametrize("trigger", ["left_group", "unassigned", "user_left_group"])
def test_profile_still_targeting_through_another_group_leaves_the_certificate(trigger):
    mdm = build("windows", "scep")
    mdm.apply({"type": "create_group", "group": "g2"})
    mdm.apply({"type": "add_member", "group": "g2", "member": "d1"})
    mdm.apply({"type": "assign_profile", "profile": "p", "group": assign_group(trigger)})
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "g2"})
    mdm.apply({"type": "check_in", "device": "d1"})
    for e in trigger_event(trigger):
        mdm.apply(e)
    [rec] = mdm.observe()
    assert rec["installed"] and not rec["revoked"]


def test_device_and_user_paths_to_the_same_profile():
    """Removing the device from gd while its user still sits in gu (also assigned) changes nothing."""
    mdm = build("ios", "scep")
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "gd"})
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "gu"})
    mdm.apply({"type": "check_in", "device": "d1"})
    mdm.apply({"type": "remove_member", "group": "gd", "member": "d1"})
    assert record(mdm, "p")["installed"]
    mdm.apply({"type": "remove_member", "group": "gu", "member": "u1"})
    assert (record(mdm, "p")["installed"], record(mdm, "p")["revoked"]) == (False, True)


def test_removal_touches_only_the_device_that_lost_the_profile():
    mdm = build("windows", "scep")
    mdm.apply({"type": "enroll", "device": "d2", "platform": "windows", "user": "u1"})
    mdm.apply({"type": "add_member", "group": "gd", "member": "d2"})
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "gd"})
    mdm.apply({"type": "check_in", "device": "d1"})
    mdm.apply({"type": "check_in", "device": "d2"})
    mdm.apply({"type": "remove_member", "group": "gd", "member": "d1"})
    by_device = {r["device"]: r for r in mdm.observe()}
    assert (by_device["d1"]["installed"], by_device["d1"]["revoked"]) == (False, True)
    assert (by_device["d2"]["installed"], by_device["d2"]["revoked"]) == (True, False)


def test_delivery_only_at_check_in_and_one_per_profile():
    mdm = build("windows", "scep")
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "gd"})
    mdm.apply({"type": "assign_profile", "profile": "r", "group": "gd"})
    assert mdm.observe() == []
    mdm.apply({"type": "check_in", "device": "d1"})
    mdm.apply({"type": "check_in", "device": "d1"})
    assert sorted(r["profile"] for r in mdm.observe()) == ["p", "r"]


def test_scep_profile_does_not_deliver_its_root():
    mdm = build("windows", "scep")
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "gd"})
    mdm.apply({"type": "check_in", "device": "d1"})
    assert [r["kind"] for r in mdm.observe()] == ["scep"]


def test_added_member_is_targeted_at_next_check_in_only():
    mdm = build("windows", "pkcs")
    mdm.apply({"type": "create_group", "group": "late"})
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "late"})
    mdm.apply({"type": "check_in", "device": "d1"})
    assert mdm.observe() == []
    mdm.apply({"type": "add_member", "group": "late", "member": "u1"})
    mdm.apply({"type": "add_member", "group": "late", "member": "u1"})  # no-op
    assert mdm.observe() == []
    mdm.apply({"type": "check_in", "device": "d1"})
    assert len(mdm.observe()) == 1


@pytest.mark.parametrize("action", ["unenroll", "wipe", "retire"])
def test_check_in_after_leaving_management_delivers_nothing(action):
    mdm = build("android_knox", "scep")
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "gd"})
    mdm.apply({"type": "check_in", "device": "d1"})
    mdm.apply({"type": action, "device": "d1"})
    snapshot = mdm.observe()
    mdm.apply({"type": "check_in", "device": "d1"})
    mdm.apply({"type": action, "device": "d1"})  # a second action has nothing left to do
    assert mdm.observe() == snapshot


@pytest.mark.parametrize("event", ["lose_license", "withdraw_license", "delete_user"])
def test_device_of_unlicensed_or_deleted_user_keeps_but_gets_nothing_new(event):
    mdm = build("windows", "scep")
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "gd"})
    mdm.apply({"type": "check_in", "device": "d1"})
    mdm.apply({"type": event, "user": "u1"})
    mdm.apply({"type": "delete_certificate", "device": "d1", "profile": "p"})
    mdm.apply({"type": "check_in", "device": "d1"})
    assert len(mdm.observe()) == 1


def test_deleted_user_name_can_be_reused_without_inheriting_devices():
    mdm = build("windows", "scep")
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "gu"})
    mdm.apply({"type": "delete_user", "user": "u1"})
    mdm.apply({"type": "create_user", "user": "u1"})
    mdm.apply({"type": "add_member", "group": "gu", "member": "u1"})
    mdm.apply({"type": "check_in", "device": "d1"})  # d1's owner was the deleted u1
    assert mdm.observe() == []
    mdm.apply({"type": "enroll", "device": "d2", "platform": "ios", "user": "u1"})
    mdm.apply({"type": "check_in", "device": "d2"})
    assert [r["device"] for r in mdm.observe()] == ["d2"]


def test_deleted_group_takes_its_assignments_along():
    mdm = build("windows", "scep")
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "gd"})
    mdm.apply({"type": "delete_group", "group": "gd"})
    mdm.apply({"type": "create_group", "group": "gd"})
    mdm.apply({"type": "add_member", "group": "gd", "member": "d1"})
    mdm.apply({"type": "check_in", "device": "d1"})
    assert mdm.observe() == []


def test_reset_forgets_everything():
    mdm = build("windows", "scep")
    mdm.apply({"type": "assign_profile", "profile": "p", "group": "gd"})
    mdm.apply({"type": "check_in", "device": "d1"})
    mdm.apply({"type": "retire", "device": "d1"})
    mdm.reset()
    assert mdm.observe() == []
    with pytest.raises(ValueError):
        mdm.apply({"type": "check_in", "device": "d1"})
    mdm.apply({"type": "create_user", "user": "u1"})  # the name is free again
